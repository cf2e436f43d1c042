package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// output writes JSON lines as results arrive and the table at the end.
type output struct {
	w     io.Writer
	file  *os.File
	steps []stepReport
	mem   []memoryReport
}

func newOutput(w io.Writer, path string) (*output, error) {
	o := &output{w: w}
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		o.file = f
	}
	return o, nil
}

// emit writes one JSON line (stdout and -json) and keeps reports for the
// table.
func (o *output) emit(v any) {
	switch r := v.(type) {
	case stepReport:
		o.steps = append(o.steps, r)
	case memoryReport:
		o.mem = append(o.mem, r)
	}
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipload: json:", err)
		return
	}
	b = append(b, '\n')
	o.w.Write(b)
	if o.file != nil {
		o.file.Write(b)
	}
}

// Close closes the -json file.
func (o *output) Close() error {
	if o.file != nil {
		return o.file.Close()
	}
	return nil
}

// table prints the human summary.
func (o *output) table() {
	if len(o.steps) > 0 {
		fmt.Fprintln(o.w)
		tw := tabwriter.NewWriter(o.w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "rate/s\tattempted\tanswered\tcompleted\tfailed\tfail %\tcalls/s\tsetup p50 ms\tsetup p99 ms\tdriver CPU %\ttarget CPU %\ttarget RSS MiB\ttarget UDP drops\tfailures\t")
		for _, r := range o.steps {
			tcpu, trss := "-", "-"
			if r.TargetCPUPct != nil {
				tcpu = fmt.Sprintf("%.0f", *r.TargetCPUPct)
				trss = fmt.Sprintf("%.1f", float64(r.TargetRSSKiB)/1024)
			}
			fmt.Fprintf(tw, "%g\t%d\t%d\t%d\t%d\t%.3f\t%.1f\t%.2f\t%.2f\t%.0f\t%s\t%s\t%d\t%s\t\n",
				r.Rate, r.Attempted, r.Answered, r.Completed, r.Failed, r.FailPct, r.CPS,
				r.SetupP50Ms, r.SetupP99Ms, r.DriverCPUPct, tcpu, trss, r.TargetDrops, failureList(r.Failures))
		}
		tw.Flush()
	}
	for _, m := range o.mem {
		fmt.Fprintln(o.w)
		lines := []string{
			fmt.Sprintf("live calls held      %d of %d (ramp %g/s, plateau %gs, target active %s)", m.Live, m.Concurrent, m.RampRate, m.HoldS, activeString(m.TargetActive)),
			fmt.Sprintf("failures             %d %s", m.Failed, failureList(m.Failures)),
			fmt.Sprintf("target RSS           before %.1f MiB, plateau %.1f MiB, after %.1f MiB", kib2mib(m.RSSBeforeKiB), kib2mib(m.RSSPlateauKiB), kib2mib(m.RSSAfterKiB)),
			fmt.Sprintf("memory per live call %.1f KiB RSS (target ≤ 32 KiB)", m.KiBPerCall),
		}
		if m.HeapKiBPerCall != 0 {
			lines = append(lines, fmt.Sprintf("heap per live call   %.1f KiB in use", m.HeapKiBPerCall))
		}
		if m.GoroutinesPerCall != 0 {
			lines = append(lines, fmt.Sprintf("goroutines per call  %.2f", m.GoroutinesPerCall))
		}
		if m.Note != "" {
			lines = append(lines, "note                 "+m.Note)
		}
		fmt.Fprintln(o.w, strings.Join(lines, "\n"))
	}
}

func activeString(a float64) string {
	if a < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f", a)
}

func kib2mib(k int64) float64 { return float64(k) / 1024 }

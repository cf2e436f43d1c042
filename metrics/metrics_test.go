package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestNamesPassPromlint gathers every ipcs collector (each vector touched
// once so it is exported) and runs promlint over the result.
func TestNamesPassPromlint(t *testing.T) {
	m := New()
	m.Meter.Extensions.WithLabelValues("ok")
	m.Meter.Ends.WithLabelValues("exhausted")
	m.Meter.Checkpoints.WithLabelValues("ok")
	m.Ledger.Ops.WithLabelValues("reserve", "ok")
	m.Ledger.OpSeconds.WithLabelValues("reserve")
	m.Calls.Attempts.WithLabelValues("answered")
	m.Calls.Cutoffs.WithLabelValues("exhausted")
	m.Calls.Malformed.WithLabelValues("garbage")
	m.Scheduler.Bookings.WithLabelValues("remote", "ok")
	m.Scheduler.Cancellations.WithLabelValues("visitor")
	m.Scheduler.DirectDial.WithLabelValues("ok")
	m.Visits.Active.WithLabelValues("remote")
	m.Visits.Joins.WithLabelValues("visitor", "ok")
	m.Visits.Packets.WithLabelValues("video")
	m.Visits.Bytes.WithLabelValues("video")
	m.Visits.Cutoffs.WithLabelValues("window")
	m.Visits.Refused.WithLabelValues("bad_token")
	m.HTTP.Requests.WithLabelValues("/api/v1/deposits", "2xx")
	m.HTTP.Seconds.WithLabelValues("/api/v1/deposits")

	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ours int
	for _, mf := range families {
		if strings.HasPrefix(mf.GetName(), "ipcs_") {
			ours++
		}
	}
	if ours < 25 {
		t.Fatalf("gathered %d ipcs_ families, want every collector (≥25)", ours)
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "ipcs_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestLabelsAreBounded guards DESIGN.md's rule: no label may name a
// resident, number, call or visit.
func TestLabelsAreBounded(t *testing.T) {
	m := New()
	m.Calls.Attempts.WithLabelValues("answered")
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	banned := []string{"resident", "account", "number", "call_id", "visit_id", "pin", "phone", "user"}
	for _, mf := range families {
		for _, met := range mf.GetMetric() {
			for _, lp := range met.GetLabel() {
				for _, b := range banned {
					if strings.Contains(lp.GetName(), b) {
						t.Errorf("%s has unbounded label %q", mf.GetName(), lp.GetName())
					}
				}
			}
		}
	}
}

package rating

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"testing"
	"time"

	"ipcs/internal/money"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestRerateGolden(t *testing.T) {
	b := loadBook(t, "bands.yaml")
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Sessions rated under ny-audio v1 (local $0.07, night $0.05, 60/60);
	// v2 corrects local to $0.06 and night to $0.04.
	rec := func(id, dst, class, start string, secs int64, amount money.Amount) Record {
		return Record{SessionID: id, Facility: "ny", Service: Audio, Destination: dst, Class: class,
			Start: at(start), Seconds: secs, Amount: amount, TariffID: "ny-audio", TariffVersion: 1}
	}
	recs := []Record{
		rec("day-local", "+12126660000", "local", "2026-03-09T15:00:00Z", 61, 140_000),            // 2 min × 0.07
		rec("night-local-gap-day", "+12126660000", "local", "2026-03-08T07:30:00Z", 600, 500_000), // 10 min × 0.05
		rec("intrastate-unchanged", "+15185550100", "intrastate", "2026-03-09T15:00:00Z", 95, 112_000),
		rec("zero-seconds", "+12126660000", "local", "2026-03-09T15:00:00Z", 0, 0),
		{SessionID: "other-tariff", Facility: "az", Service: Audio, TariffID: "az-audio", TariffVersion: 1, Amount: 1},
		rec("already-v2", "+12126660000", "local", "2026-03-09T15:00:00Z", 60, 60_000),
	}
	recs[5].TariffVersion = 2
	rep, err := b.Rerate("ny-audio", 2, recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/rerate.golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestRerateGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("report differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
	if rep.Credit != 120_000 || rep.Skipped != 2 {
		t.Errorf("credit %s skipped %d, want 0.12 and 2", rep.Credit, rep.Skipped)
	}
}

func TestRerateUnknownTariff(t *testing.T) {
	b := loadBook(t, "bands.yaml")
	if _, err := b.Rerate("ny-audio", 9, nil); !errors.Is(err, ErrNoTariff) {
		t.Fatalf("err = %v", err)
	}
}

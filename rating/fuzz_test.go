package rating

import (
	"errors"
	"os"
	"testing"
	"time"

	"ipcs/internal/money"
)

// FuzzTariff feeds arbitrary bytes to the tariff parser: it must refuse
// with a *FileError or build a Book that quotes without panicking and
// never above any cap's largest figure.
func FuzzTariff(f *testing.F) {
	for _, name := range []string{"demo.yaml", "bands.yaml"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(facilityYAML + "tariffs:\n  - {id: t, version: 1, facility: f, service: audio, effective: \"2025-06-01\", connect_fee: \"1\", rates: {local: {rate: \"0.05\"}}}\n"))
	f.Add([]byte(`{"facilities":[{"id":"j","zone":"UTC","type":"jail","adp":10}],"tariffs":[{"id":"x","version":1,"facility":"j","service":"video","effective":"2025-01-01","rates":{"remote":{"rate":"0.25"}}}]}`))
	f.Add([]byte("facilities: [&a {id: x}, *a]"))
	start := time.Date(2026, 5, 4, 15, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBook(data, "fuzz.yaml")
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FileError: %v", err)
			}
			return
		}
		for _, id := range b.Facilities() {
			for _, svc := range []Service{Audio, Video} {
				for _, req := range []QuoteRequest{
					{Facility: id, Service: svc, Destination: "+13125550100", VisitKind: Remote, Start: start, Balance: money.Dollar},
					{Facility: id, Service: svc, Destination: "+442071234567", VisitKind: DirectDial, Start: start, Balance: 1},
				} {
					q, err := b.Quote(&req)
					if err != nil {
						continue
					}
					if q.Price.Charge(q.MaxSeconds) > req.Balance && !q.Free {
						t.Fatalf("quote over balance: %+v", q)
					}
					if q.Price.Rate > 46*money.Cent { // above every cap + additive
						t.Fatalf("rate %s passed the caps", q.Price.Rate)
					}
				}
			}
		}
	})
}

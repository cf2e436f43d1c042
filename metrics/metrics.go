// Package metrics builds the one Prometheus registry of ipcs and every
// collector in it, grouped per component. Components take their group from
// here; nothing registers on the global registry. Names are ipcs_*, follow
// Prometheus conventions (_total, _seconds) and carry only bounded labels:
// never a resident, number, visit or call id.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and each component's collectors.
type Metrics struct {
	Registry  *prometheus.Registry
	Meter     *Meter
	Ledger    *Ledger
	Calls     *Calls
	Scheduler *Scheduler
	Visits    *Visits
	HTTP      *HTTP
}

// New builds a fresh registry with the Go and process collectors and every
// ipcs collector. Tests call it to get their own registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)
	return &Metrics{
		Registry:  reg,
		Meter:     newMeter(f),
		Ledger:    newLedger(f),
		Calls:     newCalls(f),
		Scheduler: newScheduler(f),
		Visits:    newVisits(f),
		HTTP:      newHTTP(f),
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// latencyBuckets spans 100 µs to ~13 s, for operations from a ledger write
// to a call setup.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 18)

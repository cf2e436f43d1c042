package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Scheduler is the visit scheduler's group.
type Scheduler struct {
	// Bookings counts booking attempts by visit kind and result (ok, full,
	// limit, window, not_approved, error).
	Bookings *prometheus.CounterVec
	// Cancellations counts cancelled visits by who cancelled (visitor, facility).
	Cancellations *prometheus.CounterVec
	// DirectDial counts direct-dial admissions by result.
	DirectDial *prometheus.CounterVec
}

func newScheduler(f promauto.Factory) *Scheduler {
	return &Scheduler{
		Bookings: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_scheduler_bookings_total", Help: "Booking attempts by visit kind and result.",
		}, []string{"kind", "result"}),
		Cancellations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_scheduler_cancellations_total", Help: "Cancelled visits by who cancelled.",
		}, []string{"by"}),
		DirectDial: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_scheduler_direct_dial_total", Help: "Direct-dial video admissions by result.",
		}, []string{"result"}),
	}
}

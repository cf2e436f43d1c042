package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Meter is the rating Meter's group.
type Meter struct {
	// Live is the number of sessions the Meter is metering now.
	Live prometheus.Gauge
	// Warnings counts warnings sent before a session's end.
	Warnings prometheus.Counter
	// Extensions counts reservation extensions by result (ok, partial, refused, error).
	Extensions *prometheus.CounterVec
	// Ends counts metered sessions ended by the Meter, by reason (exhausted, limit).
	Ends *prometheus.CounterVec
	// Checkpoints counts usage checkpoints by result (ok, error).
	Checkpoints *prometheus.CounterVec
	// TickSeconds observes how long one wheel tick takes.
	TickSeconds prometheus.Histogram
}

func newMeter(f promauto.Factory) *Meter {
	return &Meter{
		Live: f.NewGauge(prometheus.GaugeOpts{
			Name: "ipcs_meter_live_sessions", Help: "Sessions being metered now.",
		}),
		Warnings: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_meter_warnings_total", Help: "Warnings issued before a metered session ends.",
		}),
		Extensions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_meter_extensions_total", Help: "Reservation extensions by result.",
		}, []string{"result"}),
		Ends: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_meter_ends_total", Help: "Sessions ended by the Meter, by reason (exhausted, limit).",
		}, []string{"reason"}),
		Checkpoints: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_meter_checkpoints_total", Help: "Usage checkpoints written, by result.",
		}, []string{"result"}),
		TickSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "ipcs_meter_tick_seconds", Help: "Time spent in one timing-wheel tick.",
			Buckets: latencyBuckets,
		}),
	}
}

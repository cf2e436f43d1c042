package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Calls is the SIP call switch's group.
type Calls struct {
	// Attempts counts INVITEs by outcome (answered, rejected_auth,
	// rejected_pin, rejected_policy, payment_required,
	// invalid_destination, busy, no_answer, cancelled, trunk_failure,
	// overload, bad_request, error). A 401 challenge is not an attempt.
	Attempts *prometheus.CounterVec
	// Active is the number of calls in progress (ringing or answered).
	Active prometheus.Gauge
	// SetupSeconds observes INVITE to final answer.
	SetupSeconds prometheus.Histogram
	// BilledSeconds counts billed call seconds.
	BilledSeconds prometheus.Counter
	// Warnings counts in-call warnings sent to phones.
	Warnings prometheus.Counter
	// Cutoffs counts calls the switch ended, by reason (exhausted, limit, officer, shutdown).
	Cutoffs *prometheus.CounterVec
	// Malformed counts SIP input refused or dropped, by kind (garbage,
	// oversized, unparsable, bad_request).
	Malformed *prometheus.CounterVec
	// Lockouts counts phones locked out for PIN guessing.
	Lockouts prometheus.Counter
	// Panics counts panics recovered at a call boundary.
	Panics prometheus.Counter
	// ByeFailures counts BYEs the switch sent that were not answered 200,
	// by leg (phone, trunk): a far leg that may still be up.
	ByeFailures *prometheus.CounterVec
}

func newCalls(f promauto.Factory) *Calls {
	return &Calls{
		Attempts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_calls_attempts_total", Help: "Call attempts by outcome.",
		}, []string{"outcome"}),
		Active: f.NewGauge(prometheus.GaugeOpts{
			Name: "ipcs_calls_active", Help: "Calls in progress.",
		}),
		SetupSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "ipcs_calls_setup_seconds", Help: "Time from INVITE to the final answer.",
			Buckets: latencyBuckets,
		}),
		BilledSeconds: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_calls_billed_seconds_total", Help: "Billed call seconds.",
		}),
		Warnings: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_calls_warnings_total", Help: "In-call warnings sent before a forced end.",
		}),
		Cutoffs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_calls_cutoffs_total", Help: "Calls ended by the switch, by reason.",
		}, []string{"reason"}),
		Malformed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_sip_malformed_total", Help: "SIP input refused or dropped, by kind.",
		}, []string{"kind"}),
		Lockouts: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_calls_pin_lockouts_total", Help: "Phones locked out after repeated bad PINs.",
		}),
		Panics: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_calls_panics_total", Help: "Panics recovered while handling SIP.",
		}),
		ByeFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_calls_bye_failures_total", Help: "BYEs sent by the switch that were not confirmed, by leg.",
		}, []string{"leg"}),
	}
}

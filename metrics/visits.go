package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Visits is the video visit (signaling and media relay) group.
type Visits struct {
	// Active is the number of visits in progress, by kind (remote, in_facility, direct_dial).
	Active *prometheus.GaugeVec
	// Joins counts join attempts by role and result.
	Joins *prometheus.CounterVec
	// JoinSeconds observes join to first media.
	JoinSeconds prometheus.Histogram
	// ICEFailures counts peer connections that failed ICE.
	ICEFailures prometheus.Counter
	// Packets counts RTP packets forwarded, by media kind (audio, video).
	Packets *prometheus.CounterVec
	// Bytes counts RTP payload bytes forwarded, by media kind.
	Bytes *prometheus.CounterVec
	// Warnings counts warnings sent to visit participants.
	Warnings prometheus.Counter
	// Cutoffs counts visits ended by ipcs, by reason (window, exhausted, officer, shutdown).
	Cutoffs *prometheus.CounterVec
	// Keyframes counts keyframe requests (PLI) sent to publishers.
	Keyframes prometheus.Counter
	// Refused counts refused sockets and messages by reason (bad_token,
	// expired, origin, malformed, flood, slow, overload).
	Refused *prometheus.CounterVec
}

func newVisits(f promauto.Factory) *Visits {
	return &Visits{
		Active: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ipcs_visits_active", Help: "Visits in progress by kind.",
		}, []string{"kind"}),
		Joins: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_visits_joins_total", Help: "Visit join attempts by role and result.",
		}, []string{"role", "result"}),
		JoinSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "ipcs_visits_join_seconds", Help: "Time from join to first forwarded media.",
			Buckets: latencyBuckets,
		}),
		ICEFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_visits_ice_failures_total", Help: "Peer connections whose ICE failed.",
		}),
		Packets: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_visits_forwarded_packets_total", Help: "RTP packets forwarded by media kind.",
		}, []string{"kind"}),
		Bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_visits_forwarded_bytes_total", Help: "RTP bytes forwarded by media kind.",
		}, []string{"kind"}),
		Warnings: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_visits_warnings_total", Help: "Warnings sent to visit participants.",
		}),
		Cutoffs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_visits_cutoffs_total", Help: "Visits ended by ipcs, by reason.",
		}, []string{"reason"}),
		Keyframes: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_visits_keyframe_requests_total", Help: "Keyframe requests (PLI) sent to publishers.",
		}),
		Refused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_signaling_refused_total", Help: "Refused signaling sockets and messages by reason.",
		}, []string{"reason"}),
	}
}

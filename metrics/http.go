package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// HTTP is the HTTP API's group.
type HTTP struct {
	// Requests counts API requests by route pattern and status class (2xx, 4xx, 5xx).
	Requests *prometheus.CounterVec
	// Seconds observes API latency by route pattern.
	Seconds *prometheus.HistogramVec
	// Panics counts panics recovered in handlers.
	Panics prometheus.Counter
}

func newHTTP(f promauto.Factory) *HTTP {
	return &HTTP{
		Requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_http_requests_total", Help: "HTTP API requests by route and status class.",
		}, []string{"route", "class"}),
		Seconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ipcs_http_request_seconds", Help: "HTTP API latency by route.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		Panics: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_http_panics_total", Help: "Panics recovered in HTTP handlers.",
		}),
	}
}

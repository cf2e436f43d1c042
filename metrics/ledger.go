package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Ledger is the debit ledger's group.
type Ledger struct {
	// Ops counts ledger operations by kind (deposit, reserve, extend,
	// commit, release, credit, refund, charge, transfer, settle) and result
	// (ok, replay, or an error code such as insufficient_funds).
	Ops *prometheus.CounterVec
	// OpSeconds observes each operation's latency by kind.
	OpSeconds *prometheus.HistogramVec
	// BatchSize observes how many operations one group commit carried.
	BatchSize prometheus.Histogram
	// CheckDifferences is the number of balances that differed from the
	// journal at the last Check.
	CheckDifferences prometheus.Gauge
	// Settled counts stale reservations settled at start-up or by expiry.
	Settled prometheus.Counter
	// StoreErrors counts failed background tasks of the SQLite store by
	// task: "checkpoint" (copying the WAL into the database) and "index"
	// (filling the per-account indexes). The operations beside them are
	// unaffected; the task is tried again.
	StoreErrors *prometheus.CounterVec
}

func newLedger(f promauto.Factory) *Ledger {
	return &Ledger{
		Ops: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_ledger_operations_total", Help: "Ledger operations by kind and result.",
		}, []string{"kind", "result"}),
		OpSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ipcs_ledger_operation_seconds", Help: "Ledger operation latency by kind.",
			Buckets: latencyBuckets,
		}, []string{"kind"}),
		BatchSize: f.NewHistogram(prometheus.HistogramOpts{
			Name: "ipcs_ledger_batch_size", Help: "Operations carried by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		CheckDifferences: f.NewGauge(prometheus.GaugeOpts{
			Name: "ipcs_ledger_check_differences", Help: "Balances that differed from the journal at the last check.",
		}),
		Settled: f.NewCounter(prometheus.CounterOpts{
			Name: "ipcs_ledger_settled_reservations_total", Help: "Stale or orphaned reservations settled.",
		}),
		StoreErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ipcs_ledger_store_errors_total", Help: "Failed background tasks of the SQLite ledger store, by task (checkpoint, index).",
		}, []string{"task"}),
	}
}

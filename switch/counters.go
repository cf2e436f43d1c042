package callswitch

import (
	"github.com/prometheus/client_golang/prometheus"

	"ipcs/metrics"
)

// counters holds the labelled children of metrics.Calls the switch
// increments per call, looked up once at construction: WithLabelValues
// hashes the labels and takes the vector's lock on every call. Every
// label value the switch uses is listed here, so each series is exported
// from the start (at zero) rather than from its first event.
type counters struct {
	m         *metrics.Calls
	attempts  map[string]prometheus.Counter // by outcome
	cutoffs   map[string]prometheus.Counter // by cause.cutoff
	byeFail   [legTrunk + 1]prometheus.Counter
	malformed map[string]prometheus.Counter // by kind
}

func newCounters(m *metrics.Calls) *counters {
	c := &counters{
		m:         m,
		attempts:  make(map[string]prometheus.Counter),
		cutoffs:   make(map[string]prometheus.Counter),
		malformed: make(map[string]prometheus.Counter),
	}
	for _, o := range []string{outcomeAnswered, outcomeRejectedAuth, outcomeRejectedPIN, outcomeRejectedPolicy,
		outcomePayment, outcomeInvalidDest, outcomeBusy, outcomeNoAnswer, outcomeCancelled,
		outcomeTrunkFailure, outcomeOverload, outcomeBadRequest, outcomeError} {
		c.attempts[o] = m.Attempts.WithLabelValues(o)
	}
	for _, cs := range []cause{causeExhausted, causeLimit, causeOfficer, causeShutdown} {
		c.cutoffs[cs.cutoff] = m.Cutoffs.WithLabelValues(cs.cutoff)
	}
	for _, l := range []leg{legPhone, legTrunk} {
		c.byeFail[l] = m.ByeFailures.WithLabelValues(l.String())
	}
	for _, k := range []string{malformedGarbage, malformedOversized, malformedUnparsable, malformedBadRequest} {
		c.malformed[k] = m.Malformed.WithLabelValues(k)
	}
	return c
}

func (c *counters) attempt(outcome string) prometheus.Counter {
	if x, ok := c.attempts[outcome]; ok {
		return x
	}
	return c.m.Attempts.WithLabelValues(outcome)
}

func (c *counters) cutoff(reason string) prometheus.Counter {
	if x, ok := c.cutoffs[reason]; ok {
		return x
	}
	return c.m.Cutoffs.WithLabelValues(reason)
}

func (c *counters) malformedKind(kind string) prometheus.Counter {
	if x, ok := c.malformed[kind]; ok {
		return x
	}
	return c.m.Malformed.WithLabelValues(kind)
}

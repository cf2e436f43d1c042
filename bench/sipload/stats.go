package main

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stats gathers one step's call outcomes. Calls report into it from their
// own goroutines; the mutex is never held across I/O.
type stats struct {
	// mu guards every field below.
	mu        sync.Mutex
	attempted int
	answered  int
	completed int
	peerByes  int
	inflight  int
	failures  map[string]int
	setup     []time.Duration
}

func newStats(expected int) *stats {
	return &stats{failures: make(map[string]int), setup: make([]time.Duration, 0, expected)}
}

// start counts an attempt; it reports false when -max-inflight is reached
// and the call must not be placed (counted as a driver-limit failure).
func (s *stats) start(limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempted++
	if s.inflight >= limit {
		s.failures["driver-limit"]++
		return false
	}
	s.inflight++
	return true
}

// answer records a 200 and its setup latency.
func (s *stats) answer(setup time.Duration) {
	s.mu.Lock()
	s.answered++
	s.setup = append(s.setup, setup)
	s.mu.Unlock()
}

// end closes a call: kind "" is a clean end, "peer-bye" an end the peer
// chose (a clean end too), anything else a failure of that kind.
func (s *stats) end(kind string) {
	s.mu.Lock()
	s.inflight--
	switch kind {
	case "":
		s.completed++
	case "peer-bye":
		s.completed++
		s.peerByes++
	default:
		s.failures[kind]++
	}
	s.mu.Unlock()
}

// snapshot is a consistent copy of the counters.
type snapshot struct {
	Attempted int
	Answered  int
	Completed int
	PeerByes  int
	Inflight  int
	Failed    int
	Failures  map[string]int
	Setup     []time.Duration // sorted
}

func (s *stats) snapshot() snapshot {
	s.mu.Lock()
	snap := snapshot{
		Attempted: s.attempted, Answered: s.answered, Completed: s.completed,
		PeerByes: s.peerByes, Inflight: s.inflight, Failures: maps.Clone(s.failures),
		Setup: slices.Clone(s.setup),
	}
	s.mu.Unlock()
	for _, n := range snap.Failures {
		snap.Failed += n
	}
	slices.Sort(snap.Setup)
	return snap
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// failureList renders failures as "503:12 timeout:3", largest first.
func failureList(f map[string]int) string {
	if len(f) == 0 {
		return "-"
	}
	keys := slices.Collect(maps.Keys(f))
	sort.Slice(keys, func(i, j int) bool {
		if f[keys[i]] != f[keys[j]] {
			return f[keys[i]] > f[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(f[k]))
	}
	return b.String()
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

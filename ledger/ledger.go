package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // facility zones must resolve on any host
	"unicode/utf8"

	"ipcs/internal/clock"
	"ipcs/metrics"
)

// Ledger is the resident debit ledger on one Store. It is safe for
// concurrent use; several Ledgers (nodes) may share one PostgreSQL store.
type Ledger struct {
	store  Store
	cfg    Config
	clk    clock.Clock
	m      *metrics.Ledger
	log    *slog.Logger
	prefix string        // random per process: ids never collide across nodes or restarts
	seq    atomic.Uint64 // id counter

	// holds knows the account of this Ledger's open reservations: the
	// lock order of their single-statement commits (lockorder.go).
	holds holdIndex
	// avail knows accounts' available balances as this Ledger last
	// changed them: a hint for Reserve's conditional UPDATE (hint.go).
	avail availHints
	// q finds one account's rows: through SQL indexes, or through the
	// store's indexes behind (byaccount.go).
	q accountQueries

	// zonesMu guards zones, a cache of loaded locations by name.
	zonesMu sync.Mutex
	zones   map[string]*time.Location
}

// Option configures optional seams of a Ledger.
type Option func(*Ledger)

// WithLogger sets the logger (default: discard).
func WithLogger(log *slog.Logger) Option {
	return func(l *Ledger) {
		if log != nil {
			l.log = log.With("component", "ledger")
		}
	}
}

// New returns a Ledger on store. m may be nil in tools; the daemon passes
// metrics.New().Ledger.
func New(store Store, cfg Config, clk clock.Clock, m *metrics.Ledger, opts ...Option) (*Ledger, error) {
	if store == nil || clk == nil {
		return nil, fmt.Errorf("ledger: store and clock are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("ledger: id prefix: %w", err)
	}
	l := &Ledger{
		store:  store,
		cfg:    cfg.withDefaults(),
		clk:    clk,
		m:      m,
		log:    slog.New(slog.DiscardHandler),
		prefix: hex.EncodeToString(b[:]),
		zones:  map[string]*time.Location{},
		q:      indexedQueries,
	}
	if _, ok := store.(IndexesBehind); ok {
		l.q = behindQueries
	}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// Config returns the effective configuration (defaults filled in).
func (l *Ledger) Config() Config { return l.cfg }

// now is the clock's time at the microsecond, what the stores keep: a
// first answer and its replay (read back from the store) name the same
// instant.
func (l *Ledger) now() time.Time { return fromMicros(micros(l.clk.Now())) }

// receiptID names a money movement: kind, '-', 32 random hex digits. A
// receipt goes to the person who asked (a family member's deposit), so it
// must tell nothing of other operations, as a counter would.
func receiptID(kind byte) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return string(kind) + "-" + hex.EncodeToString(b[:])
}

// newID names a reservation: kind, the process's prefix and a counter,
// so that one node's ids sort in the order they were made.
func (l *Ledger) newID(kind byte) string {
	n := l.seq.Add(1)
	b := make([]byte, 0, 32)
	b = append(b, kind, '-')
	b = append(b, l.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, n, 36)
	return string(b)
}

// maxAttempts bounds re-runs of an operation that lost a race (ErrRetry):
// the second run normally sees the winner's result and replays it.
const maxAttempts = 5

// update runs fn as one write operation of kind, with metrics, and
// re-runs it when it lost a race. replayed reports whether fn found an
// earlier result for its key.
func (l *Ledger) update(ctx context.Context, kind string, replayed *bool, fn func(ctx context.Context, tx Tx) error) error {
	start := l.clk.Now()
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if replayed != nil {
			*replayed = false
		}
		err = l.store.Update(ctx, fn)
		if !errors.Is(err, ErrRetry) {
			break
		}
	}
	if errors.Is(err, ErrRetry) {
		err = fmt.Errorf("ledger: %s: %w", kind, err)
	}
	l.observe(kind, start, replayed != nil && *replayed, err)
	return err
}

func (l *Ledger) view(ctx context.Context, kind string, fn func(ctx context.Context, tx Tx) error) error {
	start := l.clk.Now()
	err := l.store.View(ctx, fn)
	l.observe(kind, start, false, err)
	return err
}

func (l *Ledger) observe(kind string, start time.Time, replayed bool, err error) {
	if l.m == nil {
		return
	}
	result := "ok"
	switch {
	case err != nil:
		result = ResultCode(err)
	case replayed:
		result = "replay"
	}
	l.m.Ops.WithLabelValues(kind, result).Inc()
	l.m.OpSeconds.WithLabelValues(kind).Observe(clock.Since(l.clk, start).Seconds())
}

// ResultCode names err's sentinel as a stable snake_case code: the
// metrics' result label and the API's error code. Unknown errors are
// "error".
func ResultCode(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInsufficientFunds):
		return "insufficient_funds"
	case errors.Is(err, ErrPerTransactionLimit):
		return "per_transaction_limit"
	case errors.Is(err, ErrWeeklyLimit):
		return "weekly_limit"
	case errors.Is(err, ErrIdempotencyConflict):
		return "idempotency_conflict"
	case errors.Is(err, ErrAccountReleased):
		return "account_released"
	case errors.Is(err, ErrAccountActive):
		return "account_active"
	case errors.Is(err, ErrRefundWindow):
		return "refund_window"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrOverHold):
		return "over_hold"
	case errors.Is(err, ErrReservationClosed):
		return "reservation_closed"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrOverload):
		return "overload"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

func (l *Ledger) location(name string) (*time.Location, error) {
	if name == "" {
		name = l.cfg.DefaultZone
	}
	l.zonesMu.Lock()
	loc, ok := l.zones[name]
	l.zonesMu.Unlock()
	if ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: zone %q: %w", ErrInvalid, name, err)
	}
	l.zonesMu.Lock()
	l.zones[name] = loc
	l.zonesMu.Unlock()
	return loc, nil
}

// WeekStart returns the start (Sunday 00:00) of the calendar week that
// contains t in loc (DESIGN.md: weekly deposit limits run Sunday–Saturday
// in the facility's zone). Where a DST change skips Sunday's midnight
// (America/Santiago, America/Havana), time.Date answers an instant of
// Saturday; the week then starts at the change, Sunday's first instant.
func WeekStart(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	y, m, d := lt.Date()
	ws := time.Date(y, m, d-int(lt.Weekday()), 0, 0, 0, 0, loc)
	if ws.Weekday() != time.Sunday {
		if _, end := ws.ZoneBounds(); !end.IsZero() {
			ws = end.In(loc)
		}
	}
	return ws
}

// micros and fromMicros convert instants to the BIGINT columns (Unix
// microseconds, UTC), which both dialects store and compare the same way.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// dateString and parseDate store a release date as "YYYY-MM-DD".
func dateString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

func parseDate(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// reqHash is FNV-1a 64 over a request's fields, stored with its key so a
// retry with a different body is detected (ErrIdempotencyConflict).
type reqHash uint64

func newHash(kind string) reqHash {
	h := reqHash(14695981039346656037)
	return h.str(kind)
}

func (h reqHash) str(s string) reqHash {
	for i := 0; i < len(s); i++ {
		h ^= reqHash(s[i])
		h *= 1099511628211
	}
	h ^= 0xff // separator: ("ab","c") ≠ ("a","bc")
	h *= 1099511628211
	return h
}

func (h reqHash) i64(v int64) reqHash {
	for i := 0; i < 8; i++ {
		h ^= reqHash(byte(v >> (8 * i)))
		h *= 1099511628211
	}
	return h
}

func validKey(k string) bool { return k != "" && validText(k, 256) }

func validID(s string) bool { return s != "" && validText(s, 128) }

// validText reports whether s (from outside: ids, keys, memos, reasons)
// has at most max bytes of UTF-8 without control characters. A NUL is
// refused by PostgreSQL's text type (which SQLite would store), and
// neither belongs in an audit trail; valid UTF-8 also keeps reqHash's
// 0xff separator out of the strings it separates.
func validText(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

package ledger_test

import (
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/ledger"
	"ipcs/ledger/sqlite"
)

const benchAccounts = 256

func benchLedger(b *testing.B, mk func(testing.TB) backend) *ledger.Ledger {
	b.Helper()
	be := mk(b)
	l, err := ledger.New(be.open(b), ledger.Config{}, clock.Real{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < benchAccounts; i++ {
		id := "r" + strconv.Itoa(i)
		if err := l.OpenAccount(ctx, ledger.Account{ID: id, Facility: "f"}); err != nil {
			b.Fatal(err)
		}
		if _, err := l.TransferFromTrust(ctx, ledger.TransferRequest{Key: "seed-" + id, AccountID: id, Amount: 50_000 * money.Dollar}); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

var benchSeq atomic.Int64

// sessionID names session n as the switch names a call: the time in
// milliseconds, fixed width, then random characters (n keeps it unique).
// Ids that sort by time are what keeps the ledger's key and CDR session
// b-trees appending; fully random ones cost about a third of SQLite's
// throughput (docs/PERFORMANCE.md, "Ledger").
func sessionID(n int64) string {
	b := make([]byte, 0, 40)
	b = append(b, "call-"...)
	ms := strconv.FormatInt(time.Now().UnixMilli(), 36)
	for i := len(ms); i < 9; i++ {
		b = append(b, '0')
	}
	b = append(b, ms...)
	b = strconv.AppendUint(b, rand.Uint64()|1<<63, 36)
	b = append(b, '-')
	b = strconv.AppendInt(b, n, 36)
	return string(b)
}

// pair is one session's durable reserve and commit (with a CDR), keyed
// as the switch keys a call's.
func pair(l *ledger.Ledger, n int64) (time.Duration, error) {
	sid := sessionID(n)
	key := "reserve:" + sid
	start := time.Now()
	r, err := l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: "r" + strconv.Itoa(int(n%benchAccounts)), SessionID: sid, Want: money.Dollar, Min: money.Cent})
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	_, err = l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 6 * money.Cent, UsedSeconds: 60,
		CDR: &ledger.CDR{SessionID: sid, Service: "audio", Facility: "f", Cause: "bye", BilledSeconds: 60}})
	return took, err
}

// BenchmarkReserveCommit measures durable reserve+commit pairs per second
// from many goroutines (32 per CPU, or IPCS_LEDGER_PAR per CPU), which is
// what fills SQLite's group commits and PostgreSQL's pool.
//
//	go test -run '^$' -bench ReserveCommit -benchtime 20000x ./ledger/
func BenchmarkReserveCommit(b *testing.B) {
	for _, k := range backendKinds {
		b.Run(k.name, func(b *testing.B) {
			l := benchLedger(b, k.bench)
			b.ReportAllocs()
			par := 32
			if v, err := strconv.Atoi(os.Getenv("IPCS_LEDGER_PAR")); err == nil && v > 0 {
				par = v
			}
			b.SetParallelism(par)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := pair(l, benchSeq.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pairs/s")
		})
	}
}

// BenchmarkReserveLatency offers reserve+commit pairs at half the rate
// this backend sustains on this machine (measured first, closed loop,
// with b.N/4 pairs), open loop: each pair has a scheduled start and its
// latency counts from it, so queueing is not hidden. It reports the
// reserve's p50 and p99. IPCS_LEDGER_RATE (pairs/s) overrides the rate.
//
//	go test -run '^$' -bench ReserveLatency -benchtime 8000x ./ledger/
func BenchmarkReserveLatency(b *testing.B) {
	for _, k := range backendKinds {
		b.Run(k.name, func(b *testing.B) {
			l := benchLedger(b, k.bench)
			workers := 32 * runtime.GOMAXPROCS(0)
			probe := max(b.N/4, 200)
			var done atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for done.Add(1) <= int64(probe) {
						if _, err := pair(l, benchSeq.Add(1)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			maxRate := float64(probe) / time.Since(start).Seconds()
			rate := maxRate / 2
			if v, err := strconv.Atoi(os.Getenv("IPCS_LEDGER_RATE")); err == nil && v > 0 {
				rate = float64(v)
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			interval := time.Duration(float64(time.Second) / rate)
			b.ReportAllocs()
			b.ResetTimer()
			t0 := time.Now()
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						due := t0.Add(time.Duration(i) * interval)
						if d := time.Until(due); d > 0 {
							tm := clock.Real{}.NewTimer(d)
							<-tm.C()
						}
						n := benchSeq.Add(1)
						sid := sessionID(n)
						r, err := l.Reserve(ctx, ledger.ReserveRequest{Key: "reserve:" + sid, AccountID: "r" + strconv.Itoa(int(n%benchAccounts)), SessionID: sid, Want: money.Dollar, Min: money.Cent})
						lat[i] = time.Since(due)
						if err != nil {
							b.Error(err)
							return
						}
						if _, err := l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 6 * money.Cent, UsedSeconds: 60}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(t0)
			b.StopTimer()
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(maxRate, "max-pairs/s")
			b.ReportMetric(rate, "offered/s")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pairs/s")
		})
	}
}

// BenchmarkAccountReads measures one resident's reads that find the
// account's rows — a statement page and a CDR page of 100 — after a
// history of 20,000 sessions over benchAccounts accounts. On SQLite,
// "tail" is the worst case of the default: the per-account postings
// (ledger/sqlite, behind.go) hold nothing yet, and every read scans a
// tail of about 4,100 journal rows, what IndexRows (4,096) lets wait.
//
//	go test -run '^$' -bench AccountReads ./ledger/
func BenchmarkAccountReads(b *testing.B) {
	cases := []struct {
		name    string
		mk      func(testing.TB) backend
		history int
	}{
		{"sqlite", sqliteWith(sqlite.Config{}), 20_000},
		{"sqlite-tail", sqliteWith(sqlite.Config{IndexRows: 1 << 30}), 1_370},
		{"postgres", postgresBackend, 20_000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l := benchLedger(b, c.mk)
			var wg sync.WaitGroup
			var next atomic.Int64
			for w := 0; w < 64; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(c.history) {
						if _, err := pair(l, benchSeq.Add(1)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.Run("statement", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					es, err := l.Statement(ctx, "r"+strconv.Itoa(i%benchAccounts), ledger.StatementQuery{Limit: 100})
					if err != nil || len(es) == 0 {
						b.Fatalf("statement: %d entries, %v", len(es), err)
					}
				}
			})
			b.Run("cdrs", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					cs, _, err := l.CDRs(ctx, ledger.CDRQuery{AccountID: "r" + strconv.Itoa(i%benchAccounts), Limit: 100}, 0)
					if err != nil || len(cs) == 0 {
						b.Fatalf("CDRs: %d, %v", len(cs), err)
					}
				}
			})
		})
	}
}

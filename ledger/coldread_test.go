package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"ipcs/internal/money"
	"ipcs/ledger"
)

// TestConcurrentColdReads starts many balance reads at once on a fresh
// store, whose statement cache is empty: each read transaction holds a
// pooled connection while it prepares its statement, which must never
// wait on a connection that only another waiting reader could free.
func TestConcurrentColdReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.account(t, "r1", "f", 10*money.Dollar)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := f.l.Balance(ctx, "r1")
				if err == nil && b.Available != 10*money.Dollar {
					t.Errorf("balance %s, want 10.00", b.Available)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent cold read: %v", err)
			}
		}
	})
}

package api

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestIdempotencyConcurrentSameKey fires 32 concurrent retries of one deposit,
// one credit and one trust transfer (same idempotency key, same body)
// and proves each lands exactly once: one receipt id each, and the
// balance moved once by each.
func TestIdempotencyConcurrentSameKey(t *testing.T) {
	e := newLedgerEnv(t)
	fam := e.token(t, RoleFamily, "fam1", "")
	admin := e.token(t, RoleAdmin, "adm", "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]map[int]int{}
	ids := map[string]map[string]bool{}
	fire := func(name, path, tok, body string) {
		defer wg.Done()
		code, out := e.do(t, "POST", path, tok, body, "Idempotency-Key", "k-"+name)
		mu.Lock()
		defer mu.Unlock()
		if codes[name] == nil {
			codes[name], ids[name] = map[int]int{}, map[string]bool{}
		}
		codes[name][code]++
		ids[name][fmt.Sprint(out["id"])] = true
	}
	for i := 0; i < 32; i++ {
		wg.Add(3)
		go fire("dep", "/api/v1/deposits", fam, `{"account_id":"r1","amount":"20.00"}`)
		go fire("cred", "/api/v1/accounts/r1/credits", admin, `{"amount":"1.00","reason":"x"}`)
		go fire("tr", "/api/v1/accounts/r1/trust-transfers", admin, `{"amount":"2.00"}`)
	}
	wg.Wait()
	b, err := e.l.Balance(context.Background(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("codes %v ids %v balance %s", codes, ids, b.Available)
	if b.Available != 23_000_000 {
		t.Errorf("balance %s, want 23.00", b.Available)
	}
	for k, m := range ids {
		if len(m) != 1 {
			t.Errorf("%s: receipts %v, want one id", k, m)
		}
	}
}

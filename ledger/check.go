package ledger

import (
	"context"
	"fmt"
	"sort"

	"ipcs/internal/money"
)

const (
	qJournalByAccount = `SELECT account_id,
	COALESCE(CAST(SUM(CASE WHEN dst = 'debit' THEN amount WHEN src = 'debit' THEN -amount ELSE 0 END) AS BIGINT), 0),
	COALESCE(CAST(SUM(CASE WHEN dst = 'hold' THEN amount WHEN src = 'hold' THEN -amount ELSE 0 END) AS BIGINT), 0),
	COUNT(*)
FROM ledger_journal GROUP BY account_id`
	qJournalByReservation = `SELECT reservation_id,
	COALESCE(CAST(SUM(CASE WHEN dst = 'hold' THEN amount WHEN src = 'hold' THEN -amount ELSE 0 END) AS BIGINT), 0)
FROM ledger_journal WHERE reservation_id <> '' GROUP BY reservation_id`
	qSystemTotals = `SELECT src, dst, COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM ledger_journal GROUP BY src, dst`
	qAllAccounts  = `SELECT id, available, held FROM ledger_accounts`
	qAllHolds     = `SELECT id, status, held FROM ledger_reservations`
)

// Check recomputes every cached balance from the journal in one snapshot
// and reports each difference: an account's available and held balances,
// each reservation's hold (its held amount while open, zero once closed),
// and any negative balance. It sets metrics CheckDifferences. It reads
// the whole journal; run it off the hot path.
func (l *Ledger) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	err := l.view(ctx, kindCheck, func(ctx context.Context, tx Tx) error {
		rep = CheckReport{Totals: map[string]money.Amount{}}
		type sums struct{ avail, held int64 }
		journal := map[string]sums{}
		err := each(ctx, tx, qJournalByAccount, func(r Rows) error {
			var (
				id string
				s  sums
				n  int64
			)
			if err := r.Scan(&id, &s.avail, &s.held, &n); err != nil {
				return err
			}
			journal[id] = s
			rep.Entries += n
			return nil
		})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		err = each(ctx, tx, qAllAccounts, func(r Rows) error {
			var (
				id          string
				avail, held int64
			)
			if err := r.Scan(&id, &avail, &held); err != nil {
				return err
			}
			rep.Accounts++
			seen[id] = true
			j := journal[id]
			if avail != j.avail {
				rep.Differences = append(rep.Differences, Difference{id, "available", money.Amount(avail), money.Amount(j.avail)})
			}
			if held != j.held {
				rep.Differences = append(rep.Differences, Difference{id, "held", money.Amount(held), money.Amount(j.held)})
			}
			if avail < 0 || held < 0 {
				rep.Differences = append(rep.Differences, Difference{id, "negative", money.Amount(avail), money.Amount(held)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for id, j := range journal {
			if !seen[id] {
				rep.Differences = append(rep.Differences, Difference{id, "no_account", 0, money.Amount(j.avail + j.held)})
			}
		}
		holds := map[string]int64{}
		err = each(ctx, tx, qJournalByReservation, func(r Rows) error {
			var (
				id string
				s  int64
			)
			if err := r.Scan(&id, &s); err != nil {
				return err
			}
			holds[id] = s
			return nil
		})
		if err != nil {
			return err
		}
		err = each(ctx, tx, qAllHolds, func(r Rows) error {
			var (
				id, status string
				held       int64
			)
			if err := r.Scan(&id, &status, &held); err != nil {
				return err
			}
			rep.Reservations++
			want := held
			if status != "open" {
				want = 0
			}
			if got := holds[id]; got != want {
				rep.Differences = append(rep.Differences, Difference{id, "reservation", money.Amount(want), money.Amount(got)})
			}
			delete(holds, id)
			return nil
		})
		if err != nil {
			return err
		}
		for id, s := range holds {
			rep.Differences = append(rep.Differences, Difference{id, "no_reservation", 0, money.Amount(s)})
		}
		return each(ctx, tx, qSystemTotals, func(r Rows) error {
			var (
				src, dst string
				s        int64
			)
			if err := r.Scan(&src, &dst, &s); err != nil {
				return err
			}
			rep.Totals[dst] += money.Amount(s)
			rep.Totals[src] -= money.Amount(s)
			return nil
		})
	})
	if err != nil {
		return CheckReport{}, fmt.Errorf("ledger: check: %w", err)
	}
	sort.Slice(rep.Differences, func(i, j int) bool {
		a, b := rep.Differences[i], rep.Differences[j]
		return a.Account < b.Account || (a.Account == b.Account && a.Field < b.Field)
	})
	if l.m != nil {
		l.m.CheckDifferences.Set(float64(len(rep.Differences)))
	}
	if !rep.Clean() {
		l.log.Error("ledger: check found differences", "differences", len(rep.Differences))
	}
	return rep, nil
}

func each(ctx context.Context, tx Tx, q string, fn func(Rows) error) error {
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

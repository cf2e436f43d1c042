package postgres

import "testing"

// TestBind rewrites the Ledger's '?' and '?NNN' placeholders to $n,
// leaving question marks inside string literals alone.
func TestBind(t *testing.T) {
	s := &Store{}
	for _, tc := range []struct{ name, in, want string }{
		{"sequential", `SELECT ?, ?, ?`, `SELECT $1, $2, $3`},
		{"numbered", `UPDATE t SET a = a - ?1, b = b + ?1 WHERE id = ?2 AND c = ?12`, `UPDATE t SET a = a - $1, b = b + $1 WHERE id = $2 AND c = $12`},
		{"literal", `SELECT '?', ?, 'a?1'`, `SELECT '?', $1, 'a?1'`},
		{"none", `SELECT 1`, `SELECT 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.bind(tc.in); got != tc.want {
				t.Fatalf("bind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

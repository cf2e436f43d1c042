package money

import "math/big"

// mulDiv returns the truncated quotient and remainder of a*b/c. The fast
// path stays in int64; only products that would overflow go through big.
func mulDiv(a, b, c int64) (q, r int64) {
	if p, ok := mul64(a, b); ok {
		return p / c, p % c
	}
	var x, y, z big.Int
	x.Mul(big.NewInt(a), big.NewInt(b))
	y.QuoRem(&x, big.NewInt(c), &z)
	return y.Int64(), z.Int64()
}

func mul64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || (a == -1 && b == -1<<63) || (b == -1 && a == -1<<63) {
		return 0, false
	}
	return p, true
}

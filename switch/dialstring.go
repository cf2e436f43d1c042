package callswitch

// Dial-string limits. A PIN is 4 to 8 digits; a destination is at most
// 16 characters ('+' and 15 digits, ITU-T E.164 §6).
const (
	minPINLen      = 4
	maxPINLen      = 8
	maxDestLen     = 16
	maxDialUserLen = maxPINLen + 1 + maxDestLen
)

// ParseDialString splits a Request-URI user part "PIN*DESTINATION" into
// its PIN and its destination as dialed (not yet normalized). The user
// part is outside input and sipgo does not validate it, so this is strict:
// only digits, one '*' and a '+' right after it are accepted; anything
// else — letters, ';', '%' escapes, CR/LF, spaces, oversized input — is
// ErrDialString (400). A well-formed string that is not PIN*NUMBER (no '*',
// a PIN of the wrong length, nothing after the '*') is ErrNoRoute (404).
// It allocates nothing: the results are substrings of user.
func ParseDialString(user string) (pin, dest string, err error) {
	if len(user) == 0 || len(user) > maxDialUserLen {
		return "", "", ErrDialString
	}
	star := -1
	for i := 0; i < len(user); i++ {
		c := user[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '*' && star < 0:
			star = i
		case c == '+' && star >= 0 && i == star+1:
		default:
			return "", "", ErrDialString
		}
	}
	if star < 0 {
		return "", "", ErrNoRoute
	}
	pin, dest = user[:star], user[star+1:]
	if len(pin) < minPINLen || len(pin) > maxPINLen || len(dest) == 0 || dest == "+" || len(dest) > maxDestLen {
		return "", "", ErrNoRoute
	}
	return pin, dest, nil
}

// MaskNumber hides the last four digits of a number for logs:
// "+13125550123" becomes "+1312555****". Numbers are personal data and
// never logged whole.
func MaskNumber(n string) string {
	if len(n) <= 4 {
		return "****"
	}
	return n[:len(n)-4] + "****"
}

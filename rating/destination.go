package rating

// NormalizeDestination turns a dialed destination into E.164 with a
// leading '+': "+<country><number>" or "<country><number>" of 8 to 15
// digits (ITU-T E.164 §6: at most 15 digits, country code not 0), or a
// 10-digit North American number NXX-NXX-XXXX, which becomes "+1NXXNXXXXXX".
// A NANP number given with its country code must also have valid N digits.
// Anything else — letters, separators, SIP parameters (';'), escapes ('%'),
// header injection, overlong input — is refused with ErrInvalidDestination.
// The SIP user part is outside input, so nothing is trimmed or guessed.
func NormalizeDestination(s string) (string, error) {
	if len(s) == 0 || len(s) > 16 {
		return "", ErrInvalidDestination
	}
	plus := s[0] == '+'
	d := s
	if plus {
		d = s[1:]
	}
	if len(d) == 0 {
		return "", ErrInvalidDestination
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", ErrInvalidDestination
		}
	}
	if !plus && len(d) == 10 {
		// NANP national format: NPA and central office codes start 2–9.
		if !nanpOK(d) {
			return "", ErrInvalidDestination
		}
		return "+1" + d, nil
	}
	if d[0] == '0' || len(d) < 8 || len(d) > 15 {
		return "", ErrInvalidDestination
	}
	if d[0] == '1' {
		if len(d) != 11 || !nanpOK(d[1:]) {
			return "", ErrInvalidDestination
		}
	}
	if plus {
		return s, nil
	}
	return "+" + d, nil
}

// nanpOK checks a 10-digit NANP number NXX-NXX-XXXX (N is 2–9).
func nanpOK(d string) bool {
	return len(d) == 10 && d[0] >= '2' && d[3] >= '2'
}

package api

// isIDString reports whether s is 1 to max characters of [A-Za-z0-9._-],
// the alphabet of every id the API takes in a path or body. Checking it
// first keeps hostile ids out of queries and logs.
func isIDString(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

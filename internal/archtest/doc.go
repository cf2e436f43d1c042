// Package archtest holds the repository-wide tests of ipcs: the
// dependency arrows of DESIGN.md, package documentation, and the rules of
// STYLE.md that a machine can check (only internal/clock reads the clock,
// no global Prometheus registration).
package archtest

package callswitch

import (
	"context"
	"log/slog"
)

// callLog logs for one call with its call_id, account_id and facility.
// It adds them only to records the handler takes: slog.Logger.With would
// format them for every call even when the level is off (a measurable
// cost at 1,000 calls/s), so the attributes are built on demand.
type callLog struct{ c *call }

func (l callLog) log(lvl slog.Level, msg string, args ...any) {
	c := l.c
	ctx := context.Background()
	if !c.s.log.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]any, 0, 6+len(args))
	attrs = append(attrs, "call_id", c.id)
	if c.auth.resident != nil {
		attrs = append(attrs, "account_id", c.auth.resident.id)
	}
	if c.auth.facility != nil {
		attrs = append(attrs, "facility", c.auth.facility.id)
	}
	c.s.log.Log(ctx, lvl, msg, append(attrs, args...)...)
}

func (l callLog) Debug(msg string, args ...any) { l.log(slog.LevelDebug, msg, args...) }
func (l callLog) Info(msg string, args ...any)  { l.log(slog.LevelInfo, msg, args...) }
func (l callLog) Warn(msg string, args ...any)  { l.log(slog.LevelWarn, msg, args...) }
func (l callLog) Error(msg string, args ...any) { l.log(slog.LevelError, msg, args...) }

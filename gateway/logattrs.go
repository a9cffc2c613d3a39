package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ReadableDurations is a slog ReplaceAttr function that writes durations
// as Go writes them ("1.5s", "250ms") instead of the JSON handler's
// integer nanoseconds, so an operator reads retry_in=2s, not 2000000000.
// The configuration's loggers use it; a program that builds its own JSON
// logger for the gateway should too.
func ReadableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// RedisLogger adapts l to the Redis client library's logger
// (redis.SetLogger), whose own lines (a pool that cannot dial, a Sentinel
// that switched masters) otherwise go to standard error in their own
// format. Its lines are warnings of component "redis".
func RedisLogger(l *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{l.With("component", "redis")}
}

type redisLogger struct{ l *slog.Logger }

// Printf logs one line of the Redis client.
func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	r.l.LogAttrs(ctx, slog.LevelWarn, msg)
}

// startupGrace is how long the gateway gives its binds to come up before
// it warns about each operator that has none (a variable for tests).
var startupGrace = 10 * time.Second

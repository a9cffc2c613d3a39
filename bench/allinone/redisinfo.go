package allinone

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// memSample is Redis's used_memory with the sessions stored so far.
type memSample struct {
	sessions int64
	bytes    int64
}

// minSlopeSessions is the fewest sessions between two samples for their
// slope to be trusted over the growth from the baseline.
const minSlopeSessions = 1000

// memoryPerSession gives the Redis bytes per stored session and how they
// were found: the slope between the first and last samples of the load
// when enough sessions separate them, else the growth from the baseline
// (which then also carries the load's one-off costs).
func memoryPerSession(base, first, last memSample) (float64, string) {
	if n := last.sessions - first.sessions; n >= minSlopeSessions {
		return float64(last.bytes-first.bytes) / float64(n), fmt.Sprintf(
			"INFO used_memory slope over %d sessions stored, running or completed and kept until their TTL", n)
	}
	if last.sessions > 0 {
		return float64(last.bytes-base.bytes) / float64(last.sessions), fmt.Sprintf(
			"INFO used_memory growth from before the load over %d sessions stored, one-off costs included", last.sessions)
	}
	return 0, "no sample taken during a measured window"
}

// usedMemory reads INFO memory used_memory.
func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	return redisInfoInt(ctx, rdb, "memory", "used_memory")
}

// redisInfoInt reads one integer field of an INFO section.
func redisInfoInt(ctx context.Context, rdb *redis.Client, section, field string) (int64, error) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO %s: %w", section, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("redis INFO %s: no %s", section, field)
}

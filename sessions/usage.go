package sessions

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Usage records for billing: the completion script (scripts.go) counts
// every completed session in a hash of its own slot and day,
//
//	{bbbb}u:<YYYYMMDD>   hash  "<portal>|<operator>|<operation>|<result>" → count
//
// so the count costs no round trip and is exact: it is written in the same
// atomic step as the result, once per session, whichever instance
// completes it. The day is the completion's UTC day by the gateway's
// clock. A day's usage is the sum over the 16384 bucket tags; Usage reads
// them with pipelined HGETALLs. Each hash expires UsageRetention after its
// last increment.

// blockedFlagTTL is how long the card-blocked flag of a phone (the last
// session ended PIN_BLOCKED or CARD_BLOCKED) is kept without a newer
// result: long enough for support to see it, short enough not to haunt a
// number.
const blockedFlagTTL = 90 * 24 * time.Hour

// numBuckets is the number of phone buckets (hash tags): 14 bits.
const numBuckets = 1 << 14

// MaxUsageDays bounds the days of one Usage call.
const MaxUsageDays = 366

func usageKey(tag string, t time.Time) string { return tag + "u:" + t.UTC().Format("20060102") }

// UsageRow is one line of a usage export: completed sessions of one day,
// portal, operator, operation and result.
type UsageRow struct {
	Day       string // YYYY-MM-DD (UTC)
	Portal    string
	Operator  string // "" for sessions started before operators were recorded
	Operation string // AUTHENTICATE | SIGN
	Result    string
	Count     int64
}

// usageChunk is how many HGETALLs one pipeline carries.
const usageChunk = 2048

// Usage returns the usage counters of the UTC days from..to (inclusive),
// sorted by day, portal, operator, operation and result.
func (s *Store) Usage(ctx context.Context, from, to time.Time) ([]UsageRow, error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	if to.Before(from) {
		return nil, invalidf("usage: to before from")
	}
	if to.Sub(from) >= MaxUsageDays*24*time.Hour {
		return nil, invalidf("usage: at most %d days at once", MaxUsageDays)
	}
	var rows []UsageRow
	for d := from; !d.After(to); d = d.Add(24 * time.Hour) {
		sums, err := s.usageDay(ctx, d)
		if err != nil {
			return nil, err
		}
		for field, n := range sums {
			parts := strings.Split(field, "|")
			if len(parts) != 4 {
				continue // not written by this version
			}
			rows = append(rows, UsageRow{Day: d.Format("2006-01-02"), Portal: parts[0], Operator: parts[1],
				Operation: parts[2], Result: parts[3], Count: n})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		return a.Portal+"|"+a.Operator+"|"+a.Operation+"|"+a.Result < b.Portal+"|"+b.Operator+"|"+b.Operation+"|"+b.Result
	})
	return rows, nil
}

// usageDay sums one day's hashes over every bucket.
func (s *Store) usageDay(ctx context.Context, day time.Time) (map[string]int64, error) {
	sums := map[string]int64{}
	for start := 0; start < numBuckets; start += usageChunk {
		octx, cancel := context.WithTimeout(ctx, importBatchTimeouts*s.opts.OpTimeout)
		cmds := make([]*redis.MapStringStringCmd, 0, usageChunk)
		_, err := s.rdb.Pipelined(octx, func(p redis.Pipeliner) error {
			for b := start; b < start+usageChunk && b < numBuckets; b++ {
				cmds = append(cmds, p.HGetAll(octx, usageKey(bucketTag(uint16(b)), day)))
			}
			return nil
		})
		cancel()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, storeErr("usage", err)
		}
		for _, c := range cmds {
			for field, v := range c.Val() {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("sessions: usage: field %q: %w", field, ErrInvalid)
				}
				sums[field] += n
			}
		}
	}
	return sums, nil
}

package sessions

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults and bounds of a SegmentStore.
const (
	// DefaultSegmentTTL is how long the parts of an incomplete message are
	// kept after the last part arrived.
	DefaultSegmentTTL = 10 * time.Minute
	// DefaultSegmentLease is how long a completed set stays claimed by the
	// instance that completed it before a redelivered part may claim it again.
	DefaultSegmentLease = 30 * time.Second
	// MaxSegmentParts bounds the parts of one message: the UDH reference
	// carries an 8-bit count (3GPP TS 23.040 §9.2.3.24.1).
	MaxSegmentParts = 255
	// MaxSegmentPartLen bounds one stored part: an SMPP short_message holds
	// at most 254 octets (SMPP 3.4 §5.2.21), plus the caller's length octet.
	MaxSegmentPartLen = 255
	// MaxSegmentKeyLen bounds the caller's message key (it is hashed).
	MaxSegmentKeyLen = 1024
)

// ErrSegmentsBusy: the message is complete and another Add claimed it less
// than a lease ago; its handling may still be running. It matches
// ErrUnavailable, so the SMPP layer answers a temporary error and the SMSC
// redelivers the part later, when the claim has either been released by
// Done or may be taken over.
var ErrSegmentsBusy error = busyError{}

type busyError struct{}

func (busyError) Error() string { return "sessions: segments: message claimed by another handler" }

// Is makes errors.Is(ErrSegmentsBusy, ErrUnavailable) true.
func (busyError) Is(target error) bool { return target == ErrUnavailable }

// SegmentOptions configure a SegmentStore; zero fields mean the defaults.
type SegmentOptions struct {
	// TTL: an incomplete message is forgotten when no part arrived for
	// this long (default DefaultSegmentTTL, at least 1s).
	TTL time.Duration
	// Lease: how long a completed set stays claimed (default
	// DefaultSegmentLease, at least 1ms, below TTL).
	Lease time.Duration
}

// SegmentStore keeps the parts of concatenated MOs in Redis until every
// part has arrived, so any gateway instance can complete a message whose
// parts an SMSC delivered to several instances, and acknowledged parts
// survive the crash of the instance that received them. It has the method
// set of smpp.SegmentStore. Safe for concurrent use.
type SegmentStore struct {
	s     *Store
	ttl   time.Duration
	lease time.Duration
	key   []byte
}

// MOSegments returns a SegmentStore on the Store's Redis client, pepper,
// clock and deadline.
func (s *Store) MOSegments(opts SegmentOptions) (*SegmentStore, error) {
	if opts.TTL == 0 {
		opts.TTL = DefaultSegmentTTL
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultSegmentLease
	}
	switch {
	case opts.TTL < time.Second:
		return nil, invalidf("SegmentOptions.TTL must be at least 1s")
	case opts.Lease < time.Millisecond || opts.Lease >= opts.TTL:
		return nil, invalidf("SegmentOptions.Lease must be at least 1ms and below TTL")
	}
	return &SegmentStore{s: s, ttl: opts.TTL, lease: opts.Lease, key: derive(s.opts.Pepper, "mo-segments")}, nil
}

// redisKey names one message's hash. The caller's key holds the
// originator's MSISDN, so only a keyed hash of it appears; the whole name
// is the hash tag, so the key lives on one Cluster slot of its own.
func (g *SegmentStore) redisKey(key string) string {
	return "{m:" + b32.EncodeToString(mac(g.key, key)[:16]) + "}"
}

// srcSegmentAdd stores one part and hands out the complete set once.
// KEYS: the message's hash. ARGV: now ms, total, seq, part, ttl ms, claim
// deadline ms (now + lease). Fields: n = total, u = time of the last part
// (ms), c = claimed until (ms, 0 = unclaimed), "1".."n" = parts.
// Replies: {'held'}, {'busy'}, {'total', stored total} or {'set', parts…}.
const srcSegmentAdd = `
local now, total, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
local meta = redis.call('HMGET', KEYS[1], 'n', 'u', 'c')
if meta[1] and now - tonumber(meta[2]) > ttl then
  redis.call('DEL', KEYS[1])
  meta[1] = false
end
if not meta[1] then
  redis.call('HSET', KEYS[1], 'n', ARGV[2], 'c', '0')
elseif tonumber(meta[1]) ~= total then
  return {'total', meta[1]}
end
redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[1], 'u', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if redis.call('HLEN', KEYS[1]) - 3 < total then return {'held'} end
if tonumber(redis.call('HGET', KEYS[1], 'c')) > now then return {'busy'} end
redis.call('HSET', KEYS[1], 'c', ARGV[6])
local f = {}
for i = 1, total do f[i] = tostring(i) end
local parts = redis.call('HMGET', KEYS[1], unpack(f))
table.insert(parts, 1, 'set')
return parts
`

var scriptSegmentAdd = redis.NewScript(srcSegmentAdd)

// Add stores part seq (1..total) of the message identified by key and
// returns every part in order when this call completed the set or took
// over a claim whose lease had passed; otherwise nil. A part stored twice
// keeps its first copy. Redis failures wrap ErrUnavailable, a set claimed
// by a running handler gives ErrSegmentsBusy (also ErrUnavailable), and
// bad arguments or a total that differs from the first part's give
// ErrInvalid.
func (g *SegmentStore) Add(ctx context.Context, key string, total, seq int, part []byte) ([][]byte, error) {
	switch {
	case total < 1 || total > MaxSegmentParts:
		return nil, invalidf("segments: total %d outside 1..%d", total, MaxSegmentParts)
	case seq < 1 || seq > total:
		return nil, invalidf("segments: part %d of %d", seq, total)
	case len(part) > MaxSegmentPartLen:
		return nil, invalidf("segments: part of %d octets, at most %d", len(part), MaxSegmentPartLen)
	case key == "" || len(key) > MaxSegmentKeyLen:
		return nil, invalidf("segments: key of %d octets, 1..%d", len(key), MaxSegmentKeyLen)
	}
	ctx, cancel := g.s.opCtx(ctx)
	defer cancel()
	now := g.s.opts.Now()
	reply, err := scriptSegmentAdd.Run(ctx, g.s.rdb, []string{g.redisKey(key)},
		ms(now), total, seq, part, durMS(g.ttl), ms(now.Add(g.lease))).Slice()
	if err != nil {
		return nil, storeErr("segments add", err)
	}
	return decodeSegmentReply(reply, total)
}

// decodeSegmentReply turns srcSegmentAdd's reply into Add's result.
func decodeSegmentReply(reply []any, total int) ([][]byte, error) {
	if len(reply) == 0 {
		return nil, storeErr("segments add", errScriptReply)
	}
	tag, _ := reply[0].(string)
	switch {
	case tag == "held" && len(reply) == 1:
		return nil, nil
	case tag == "busy" && len(reply) == 1:
		return nil, ErrSegmentsBusy
	case tag == "total" && len(reply) == 2:
		return nil, invalidf("segments: total %d, first part said %v", total, reply[1])
	case tag == "set" && len(reply) == 1+total:
		parts := make([][]byte, total)
		for i, v := range reply[1:] {
			p, ok := v.(string)
			if !ok {
				return nil, storeErr("segments add", errScriptReply)
			}
			parts[i] = []byte(p)
		}
		return parts, nil
	}
	return nil, storeErr("segments add", errScriptReply)
}

// Done forgets the message: call it only once the complete message has
// been handled for good, so a failed handling leaves the set to be claimed
// again by a redelivered part.
func (g *SegmentStore) Done(ctx context.Context, key string) error {
	if key == "" || len(key) > MaxSegmentKeyLen {
		return invalidf("segments: key of %d octets, 1..%d", len(key), MaxSegmentKeyLen)
	}
	ctx, cancel := g.s.opCtx(ctx)
	defer cancel()
	return storeErr("segments done", g.s.rdb.Del(ctx, g.redisKey(key)).Err())
}

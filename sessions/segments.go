package sessions

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
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

// Defaults of the caps on pending parts.
const (
	// DefaultSegmentsPerSender caps the parts one sender may have pending:
	// two of the largest replies (sms.MaxSegments, 32 parts each).
	DefaultSegmentsPerSender = 64
	// DefaultSegmentsTotal caps the parts pending for all senders
	// together: at most 255 octets each, about 40 MB of Redis memory with
	// the hash overhead.
	DefaultSegmentsTotal = 100_000
)

// SegmentOptions configure a SegmentStore; zero fields mean the defaults.
type SegmentOptions struct {
	// TTL: an incomplete message is forgotten when no part arrived for
	// this long (default DefaultSegmentTTL, at least 1s).
	TTL time.Duration
	// Lease: how long a completed set stays claimed (default
	// DefaultSegmentLease, at least 1ms, below TTL).
	Lease time.Duration
	// MaxPerSender caps the parts one sender may have pending; to make
	// room for a new part the sender's least recently active message goes
	// first (default DefaultSegmentsPerSender, at least 32 so the largest
	// reply fits).
	MaxPerSender int
	// MaxTotal caps the parts pending for all senders; over it the least
	// recently active senders' parts go first (default
	// DefaultSegmentsTotal, at least MaxPerSender).
	MaxTotal int
	// Registerer receives imzagate_mo_segments_discarded_total and
	// imzagate_mo_segments_pending; nil registers nowhere.
	Registerer prometheus.Registerer
}

// minPerSender is the largest packet in parts (sms.MaxSegments).
const minPerSender = 32

// SegmentStore keeps the parts of concatenated MOs in Redis until every
// part has arrived, so any gateway instance can complete a message whose
// parts an SMSC delivered to several instances, and acknowledged parts
// survive the crash of the instance that received them. Only subscribers'
// phones may leave parts, and the parts pending per sender and in all are
// capped (the least recently active go first): memory stays bounded
// whatever arrives. It has the method set of smpp.SegmentStore. Safe for
// concurrent use.
type SegmentStore struct {
	s       *Store
	ttl     time.Duration
	lease   time.Duration
	max     int
	total   int
	key     []byte
	metrics segmentMetrics
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
	if opts.MaxPerSender == 0 {
		opts.MaxPerSender = DefaultSegmentsPerSender
	}
	if opts.MaxTotal == 0 {
		opts.MaxTotal = max(DefaultSegmentsTotal, opts.MaxPerSender)
	}
	switch {
	case opts.TTL < time.Second:
		return nil, invalidf("SegmentOptions.TTL must be at least 1s")
	case opts.Lease < time.Millisecond || opts.Lease >= opts.TTL:
		return nil, invalidf("SegmentOptions.Lease must be at least 1ms and below TTL")
	case opts.MaxPerSender < minPerSender || opts.MaxPerSender > MaxSegmentParts:
		return nil, invalidf("SegmentOptions.MaxPerSender must be within %d..%d", minPerSender, MaxSegmentParts)
	case opts.MaxTotal < opts.MaxPerSender:
		return nil, invalidf("SegmentOptions.MaxTotal must be at least MaxPerSender")
	}
	return &SegmentStore{s: s, ttl: opts.TTL, lease: opts.Lease, max: opts.MaxPerSender, total: opts.MaxTotal,
		key: derive(s.opts.Pepper, "mo-segments"), metrics: newSegmentMetrics(opts.Registerer)}, nil
}

// senderKey names the hash that holds every pending part of one sender:
// the phone's bucket tag (so the script that stores a part also sees
// whether the phone is a subscriber) and its keyed hash.
func (p phoneRef) senderKey() string { return p.tag + "g:" + p.hash }

// messageID names one message among its sender's: a keyed hash of the
// SMPP layer's message key (operator, originator, reference, count).
func (g *SegmentStore) messageID(key string) string {
	return b32.EncodeToString(mac(g.key, key)[:10])
}

// totalKeys names the accounting of all senders' pending parts, under
// one hash tag (so one script keeps them consistent) of the pepper's own:
// a sorted set sender key → time of its last part (ms), a hash sender key
// → its pending parts, and the sum of those.
func (g *SegmentStore) totalKeys() []string {
	tag := "{s:" + b32.EncodeToString(mac(g.key, "total")[:phoneHashLen]) + "}"
	return []string{tag + "z", tag + "n", tag + "t"}
}

// srcSegmentAdd stores one part and hands out the complete set once.
// KEYS: the subscriber record, the sender's hash. ARGV: now ms, message
// id M, total, seq, part, ttl ms, claim deadline ms (now + lease), the
// sender's cap. The hash holds, per message M, "M" = "total|last|claim"
// (ms; claim 0 = unclaimed) and "M.<seq>" = the parts. A phone without a
// subscriber record leaves nothing. Messages idle longer than the ttl are
// dropped; a new part that would take the sender over its cap drops the
// sender's least recently active other messages first.
// Replies: {'nosub'}, {'total', stored total} or
// {tag, sender's parts, parts evicted, parts expired[, parts…]} with tag
// 'held', 'busy' or 'set'.
const srcSegmentAdd = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nosub'} end
local now, M, total, seq, ttl, cap = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[6]), tonumber(ARGV[8])
local msgs, sum, evicted, expired = {}, 0, 0, 0
for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
  local dot = string.find(f, '.', 1, true)
  local id = f
  if dot then id = string.sub(f, 1, dot - 1) end
  local m = msgs[id]
  if not m then m = {n = 0, last = 0, claim = 0, have = 0, meta = false}; msgs[id] = m end
  if dot then m.have = m.have + 1 end
end
for id, m in pairs(msgs) do
  local v = redis.call('HGET', KEYS[2], id)
  if v then
    local a, b, c = string.match(v, '^(%d+)|(%d+)|(%d+)$')
    m.n, m.last, m.claim, m.meta = tonumber(a), tonumber(b), tonumber(c), true
  end
end
local function drop(id, m)
  local f, n = {id}, m.n
  if n == 0 then n = 255 end
  for i = 1, n do f[#f + 1] = id .. '.' .. i end
  redis.call('HDEL', KEYS[2], unpack(f))
  msgs[id] = nil
  sum = sum - m.have
end
for id, m in pairs(msgs) do sum = sum + m.have end
for id, m in pairs(msgs) do
  if not m.meta or now - m.last > ttl then expired = expired + m.have; drop(id, m) end
end
local m = msgs[M]
if m and m.n ~= total then return {'total', tostring(m.n)} end
local fld = M .. '.' .. seq
if redis.call('HEXISTS', KEYS[2], fld) == 0 then
  while sum + 1 > cap do
    local oid, om = nil, nil
    for id, o in pairs(msgs) do
      if id ~= M and (not om or o.last < om.last) then oid, om = id, o end
    end
    if not oid then break end
    evicted = evicted + om.have
    drop(oid, om)
  end
  redis.call('HSET', KEYS[2], fld, ARGV[5])
  if not m then m = {n = total, last = now, claim = 0, have = 0}; msgs[M] = m end
  m.have = m.have + 1
  sum = sum + 1
end
m.last = now
redis.call('HSET', KEYS[2], M, m.n .. '|' .. now .. '|' .. m.claim)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if m.have < total then return {'held', sum, evicted, expired} end
if m.claim > now then return {'busy', sum, evicted, expired} end
redis.call('HSET', KEYS[2], M, m.n .. '|' .. now .. '|' .. ARGV[7])
local f = {}
for i = 1, total do f[i] = M .. '.' .. i end
local parts = redis.call('HMGET', KEYS[2], unpack(f))
local out = {'set', sum, evicted, expired}
for i = 1, total do out[#out + 1] = parts[i] end
return out
`

var scriptSegmentAdd = redis.NewScript(srcSegmentAdd)

// srcSegmentDone forgets one message of a sender. KEYS: the sender's
// hash. ARGV: message id. Replies the parts the sender has left.
const srcSegmentDone = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local n = tonumber(string.match(v, '^(%d+)|')) or 255
  local f = {ARGV[1]}
  for i = 1, n do f[#f + 1] = ARGV[1] .. '.' .. i end
  redis.call('HDEL', KEYS[1], unpack(f))
end
local left = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.find(f, '.', 1, true) then left = left + 1 end
end
return left
`

var scriptSegmentDone = redis.NewScript(srcSegmentDone)

// srcSegmentTotal keeps the count of all pending parts: it records a
// sender's count (ARGV[2] parts of ARGV[1] at ARGV[3] ms), forgets senders
// idle longer than the ttl ARGV[4] (their hashes have expired), and while
// the total is above the cap ARGV[5] picks the least recently active other
// senders to evict. KEYS: segTotalZ, segTotalN, segTotalT. Replies
// {total, evicted sender, its parts, …}; the caller deletes the evicted
// senders' hashes.
const srcSegmentTotal = `
local sender, parts, now, ttl, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
local function forget(s)
  total = total - tonumber(redis.call('HGET', KEYS[2], s) or '0')
  redis.call('HDEL', KEYS[2], s)
  redis.call('ZREM', KEYS[1], s)
end
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl), 'LIMIT', 0, 100)) do forget(s) end
forget(sender)
if parts > 0 then
  redis.call('HSET', KEYS[2], sender, parts)
  redis.call('ZADD', KEYS[1], now, sender)
  total = total + parts
end
local out = {0}
while total > cap do
  local s = redis.call('ZRANGE', KEYS[1], 0, 1)
  local victim = s[1]
  if victim == sender then victim = s[2] end
  if not victim then break end
  out[#out + 1] = victim
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[2], victim) or '0')
  forget(victim)
end
if total < 0 then total = 0 end
redis.call('SET', KEYS[3], total)
out[1] = total
return out
`

var scriptSegmentTotal = redis.NewScript(srcSegmentTotal)

// Add stores part seq (1..total) of the message identified by key, sent
// by phone (E.164 with '+'), and returns every part in order when this
// call completed the set or took over a claim whose lease had passed;
// otherwise nil. A part stored twice keeps its first copy. A phone that is
// not a subscriber (or not a phone at all) gets ErrNotSubscriber and
// leaves nothing behind. Redis failures wrap ErrUnavailable, a set claimed
// by a running handler gives ErrSegmentsBusy (also ErrUnavailable), and
// bad arguments, a total above the sender's cap or one that differs from
// the first part's give ErrInvalid.
func (g *SegmentStore) Add(ctx context.Context, phone, key string, total, seq int, part []byte) ([][]byte, error) {
	switch {
	case total < 1 || total > MaxSegmentParts:
		return nil, invalidf("segments: total %d outside 1..%d", total, MaxSegmentParts)
	case seq < 1 || seq > total:
		return nil, invalidf("segments: part %d of %d", seq, total)
	case len(part) > MaxSegmentPartLen:
		return nil, invalidf("segments: part of %d octets, at most %d", len(part), MaxSegmentPartLen)
	case key == "" || len(key) > MaxSegmentKeyLen:
		return nil, invalidf("segments: key of %d octets, 1..%d", len(key), MaxSegmentKeyLen)
	case total > g.max:
		return nil, invalidf("segments: %d parts, more than one sender may keep (%d)", total, g.max)
	}
	if validPhone(phone) != nil {
		g.metrics.discarded(discardNotSubscriber, 1)
		return nil, ErrNotSubscriber
	}
	ref := g.s.phone(phone)
	ctx, cancel := g.s.opCtx(ctx)
	defer cancel()
	now := g.s.opts.Now()
	reply, err := scriptSegmentAdd.Run(ctx, g.s.rdb, []string{ref.subscriberKey(), ref.senderKey()},
		ms(now), g.messageID(key), total, seq, part, durMS(g.ttl), ms(now.Add(g.lease)), g.max).Slice()
	if err != nil {
		return nil, storeErr("segments add", err)
	}
	parts, st, err := decodeSegmentReply(reply, total)
	switch {
	case errors.Is(err, ErrNotSubscriber):
		g.metrics.discarded(discardNotSubscriber, 1)
		return nil, err
	case err != nil && !errors.Is(err, ErrSegmentsBusy):
		return nil, err // the sender's hash did not change
	}
	if st.evicted > 0 {
		g.metrics.discarded(discardSenderCap, st.evicted)
	}
	if st.expired > 0 {
		g.metrics.discarded(discardExpired, st.expired)
	}
	if terr := g.account(ctx, ref, st.senderParts, now); terr != nil {
		// The part is stored; only the accounting failed. Asking for the
		// part again would store nothing new, and this sender's next part
		// (or its expiry) corrects the count, so the answer stands.
		g.s.log.Warn("segments: total not updated", "err", terr.Error())
	}
	return parts, err
}

// account records the sender's count of pending parts in the total and
// evicts the least recently active senders while the total is over the
// cap.
func (g *SegmentStore) account(ctx context.Context, ref phoneRef, senderParts int, now time.Time) error {
	reply, err := scriptSegmentTotal.Run(ctx, g.s.rdb, g.totalKeys(),
		ref.senderKey(), senderParts, ms(now), durMS(g.ttl), g.total).Slice()
	if err != nil {
		return storeErr("segments total", err)
	}
	if len(reply) == 0 || len(reply)%2 != 1 {
		return storeErr("segments total", errScriptReply)
	}
	total, _ := reply[0].(int64)
	g.metrics.pending.Set(float64(total))
	for i := 1; i+1 < len(reply); i += 2 {
		victim, _ := reply[i].(string)
		n, _ := reply[i+1].(int64)
		if !isSenderKey(victim) {
			continue
		}
		if err := g.s.rdb.Del(ctx, victim).Err(); err != nil {
			return storeErr("segments evict", err)
		}
		g.metrics.discarded(discardTotalCap, int(n))
	}
	return nil
}

// isSenderKey accepts only names senderKey makes, so a corrupted total
// never deletes another kind of key.
func isSenderKey(k string) bool {
	return len(k) == 6+2+16 && k[0] == '{' && k[5] == '}' && k[6:8] == "g:"
}

// segmentState is what srcSegmentAdd reports besides the parts.
type segmentState struct {
	senderParts, evicted, expired int
}

// decodeSegmentReply turns srcSegmentAdd's reply into Add's result.
func decodeSegmentReply(reply []any, total int) ([][]byte, segmentState, error) {
	var st segmentState
	if len(reply) == 0 {
		return nil, st, storeErr("segments add", errScriptReply)
	}
	tag, _ := reply[0].(string)
	switch {
	case tag == "nosub" && len(reply) == 1:
		return nil, st, ErrNotSubscriber
	case tag == "total" && len(reply) == 2:
		return nil, st, invalidf("segments: total %d, first part said %v", total, reply[1])
	case len(reply) < 4:
		return nil, st, storeErr("segments add", errScriptReply)
	}
	for i, dst := range []*int{&st.senderParts, &st.evicted, &st.expired} {
		n, ok := reply[1+i].(int64)
		if !ok || n < 0 || n > 1<<20 {
			return nil, st, storeErr("segments add", errScriptReply)
		}
		*dst = int(n)
	}
	switch {
	case tag == "held" && len(reply) == 4:
		return nil, st, nil
	case tag == "busy" && len(reply) == 4:
		return nil, st, ErrSegmentsBusy
	case tag == "set" && len(reply) == 4+total:
		parts := make([][]byte, total)
		for i, v := range reply[4:] {
			p, ok := v.(string)
			if !ok {
				return nil, st, storeErr("segments add", errScriptReply)
			}
			parts[i] = []byte(p)
		}
		return parts, st, nil
	}
	return nil, st, storeErr("segments add", errScriptReply)
}

// Done forgets the message of phone identified by key: call it only once
// the complete message has been handled for good, so a failed handling
// leaves the set to be claimed again by a redelivered part.
func (g *SegmentStore) Done(ctx context.Context, phone, key string) error {
	if key == "" || len(key) > MaxSegmentKeyLen {
		return invalidf("segments: key of %d octets, 1..%d", len(key), MaxSegmentKeyLen)
	}
	if validPhone(phone) != nil {
		return nil // Add kept nothing for it
	}
	ref := g.s.phone(phone)
	ctx, cancel := g.s.opCtx(ctx)
	defer cancel()
	left, err := scriptSegmentDone.Run(ctx, g.s.rdb, []string{ref.senderKey()}, g.messageID(key)).Int()
	if err != nil {
		return storeErr("segments done", err)
	}
	return g.account(ctx, ref, left, g.s.opts.Now())
}

// Reasons a part is discarded (imzagate_mo_segments_discarded_total).
const (
	discardNotSubscriber = "not_subscriber" // refused: the sender is not a subscriber
	discardSenderCap     = "sender_cap"     // evicted: the sender's cap
	discardTotalCap      = "total_cap"      // evicted: the cap on all senders
	discardExpired       = "expired"        // no part of its message for the TTL
)

// segmentMetrics count what the caps and the subscriber check discard.
type segmentMetrics struct {
	byReason map[string]prometheus.Counter
	pending  prometheus.Gauge
}

func newSegmentMetrics(reg prometheus.Registerer) segmentMetrics {
	f := promauto.With(reg)
	v := f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_mo_segments_discarded_total",
		Help: "Concatenated MO parts not kept or dropped before completion, by reason (not_subscriber, sender_cap, total_cap, expired).",
	}, []string{"reason"})
	m := segmentMetrics{byReason: map[string]prometheus.Counter{}, pending: f.NewGauge(prometheus.GaugeOpts{
		Name: "imzagate_mo_segments_pending",
		Help: "Concatenated MO parts waiting for the rest of their message, all senders (as of this instance's last update).",
	})}
	for _, r := range []string{discardNotSubscriber, discardSenderCap, discardTotalCap, discardExpired} {
		m.byReason[r] = v.WithLabelValues(r)
	}
	return m
}

func (m segmentMetrics) discarded(reason string, n int) { m.byReason[reason].Add(float64(n)) }

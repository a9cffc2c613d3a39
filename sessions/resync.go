package sessions

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ResyncStep is how far ResyncMTCounter moves a card's MT counter past
// the value its "counter low" PoR echoed: 2^20, about 17 minutes of the
// counter's millisecond clock. The PoR echoes the gateway's counter, not
// the card's, so the card's true value is unknown; a card further ahead
// answers "counter low" again and the next resync jumps once more (one
// step per session, docs/applet-protocol.md §1.4).
const ResyncStep = 1 << 20

// srcResyncMT moves a card's MT counter ahead after the card reported
// "counter low": the new value is step above the largest of the stored
// value, the echoed one and the card's floor (clock + d), and the offset d
// rises with it, so NextMTCounter keeps handing out values above it instead
// of waiting for the clock to catch up. Neither t nor d ever goes down.
// KEYS: the card's counter hash. ARGV: epoch-ms, max, echoed, step.
// Replies {1, value} or {-1, stored} when the range would be exhausted.
const srcResyncMT = `
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local m = redis.call('HMGET', KEYS[1], 't', 'd')
local cur, d = tonumber(m[1] or '0'), tonumber(m[2] or '0')
local base = math.max(cur, tonumber(ARGV[3]), clock + d)
local v = base + tonumber(ARGV[4])
if v > tonumber(ARGV[2]) then return {-1, cur} end
redis.call('HSET', KEYS[1], 't', v, 'd', v - clock)
return {1, v}
`

var scriptResyncMT = redis.NewScript(srcResyncMT)

// ResyncMTCounter moves the card's MT counter ResyncStep past echoed (the
// counter of the MT the card refused as too low) and past everything
// handed out so far, and returns the new value, which the caller uses for
// the command it seals again. Later NextMTCounter values continue above
// it. See doc.go, "OTA counters".
func (s *Store) ResyncMTCounter(ctx context.Context, iccid string, echoed uint64) (uint64, error) {
	if err := validICCID(iccid); err != nil {
		return 0, err
	}
	if echoed > MaxCounter {
		return 0, invalidf("echoed counter %d above 2^40-1", echoed)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := scriptResyncMT.Run(ctx, s.rdb, []string{s.counterKey(iccid)}, counterEpoch, MaxCounter, echoed, ResyncStep).Int64Slice()
	if err != nil {
		return 0, storeErr("resync mt counter", err)
	}
	if len(res) != 2 {
		return 0, storeErr("resync mt counter", errScriptReply)
	}
	if res[0] != 1 {
		return 0, fmt.Errorf("sessions: resync mt counter: %w: counter range exhausted", ErrUnavailable)
	}
	s.log.Info("mt counter resynchronised")
	return uint64(res[1]), nil
}

// srcClaimResend lets one caller, once per session, replace a running
// session's MT counter: only while the stored counter is still the one the
// caller saw refused. KEYS: session. ARGV: now-ms, old counter, new
// counter. Replies: 'ok', 'nf', 'done', 'exp', 'dup' (resent before) or
// 'stale' (the stored counter is not the old one).
const srcClaimResend = `
local h = redis.call('HMGET', KEYS[1], 'st', 'ex', 'mc', 'rn')
if not h[1] then return 'nf' end
if h[1] == 'C' then return 'done' end
if tonumber(h[2]) <= tonumber(ARGV[1]) then return 'exp' end
if h[4] then return 'dup' end
if h[3] ~= ARGV[2] then return 'stale' end
redis.call('HSET', KEYS[1], 'mc', ARGV[3], 'rn', '1')
return 'ok'
`

var scriptClaimResend = redis.NewScript(srcClaimResend)

// ClaimResend records that running session id's command is sealed again
// with counter next because the card refused counter old as too low. It
// succeeds once per session, and only while old is still the session's MT
// counter, so of two instances that receive the same PoR one resends; the
// other gets ErrDuplicate (also when the session is complete or was
// resent before, and for a stale old counter). After expiry ErrExpired.
func (s *Store) ClaimResend(ctx context.Context, id string, old, next uint64) error {
	ref, err := refFromID(id)
	if err != nil {
		return err
	}
	if old == 0 || old > MaxCounter || next <= old || next > MaxCounter {
		return invalidf("resend counters %d → %d", old, next)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	r, err := scriptClaimResend.Run(ctx, s.rdb, []string{ref.sessionKey(id)}, ms(s.opts.Now()), old, next).Text()
	if err != nil {
		return storeErr("claim resend", err)
	}
	if r == "stale" {
		return fmt.Errorf("sessions: claim resend: counter %d is no longer the session's: %w", old, ErrDuplicate)
	}
	return markReply("claim resend", r)
}

// srcSetRunning sets fields of a running session. KEYS: session. ARGV:
// now-ms, field/value pairs. Replies: 'ok', 'nf', 'done', 'exp'.
const srcSetRunning = `
local h = redis.call('HMGET', KEYS[1], 'st', 'ex')
if not h[1] then return 'nf' end
if h[1] == 'C' then return 'done' end
if tonumber(h[2]) <= tonumber(ARGV[1]) then return 'exp' end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 'ok'
`

var scriptSetRunning = redis.NewScript(srcSetRunning)

// MarkResubmitted replaces the message ids of a running session whose
// command was sealed again (ClaimResend) and accepted by the SMSC, so the
// receipts of the new segments match. The submitted stamp of the first
// submit stays. ErrDuplicate once the session is complete, ErrExpired
// after expiry.
func (s *Store) MarkResubmitted(ctx context.Context, id string, messageIDs []string) error {
	ref, err := refFromID(id)
	if err != nil {
		return err
	}
	if err := validMessageIDs(messageIDs); err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	r, err := scriptSetRunning.Run(ctx, s.rdb, []string{ref.sessionKey(id)}, ms(s.opts.Now()),
		sMsgIDs, strings.Join(messageIDs, "\n")).Text()
	if err != nil {
		return storeErr("mark resubmitted", err)
	}
	return markReply("mark resubmitted", r)
}

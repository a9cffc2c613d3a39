package sessions

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// errScriptReply: a script answered in a shape this version does not know
// (for example a half-upgraded fleet); treated as unavailable.
var errScriptReply = errors.New("unexpected script reply")

// The scripts below are the only multi-key state changes. Each touches
// keys of one hash tag only (passed in KEYS, never built inside the
// script), and each runs unchanged on redis-server 7 and on the embedded
// miniredis. Numbers are computed in Go and passed as strings, so no Lua
// number formatting reaches a key or a value, except the MT counter, which
// is an integer below 2^40 (exact in a Lua double).

// scriptPutKeepUID replaces a subscriber's record but keeps its User ID
// HMAC (octets 2..33); 0 when there is no subscriber to update. ARGV:
// version octet, the record after the HMAC.
const srcPutKeepUID = `
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. string.sub(old, 2, 33) .. ARGV[2])
return 1
`

var scriptPutKeepUID = redis.NewScript(srcPutKeepUID)

// scriptDelete deletes KEYS and returns 1 when KEYS[1] existed.
const srcDelete = `
local n = redis.call('EXISTS', KEYS[1])
redis.call('DEL', unpack(KEYS))
return n
`

var scriptDelete = redis.NewScript(srcDelete)

// lockoutLua decides whether the failure list KEYS[2] locks the phone:
// the list holds the newest failure times (ms, newest first), at most
// ARGV[3] of them; a full list whose newest and oldest are less than the
// window ARGV[2] apart locks until newest + ARGV[4].
const lockoutLua = `
local now, window, limit, dur = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function lockedUntil()
  local ts = redis.call('LRANGE', KEYS[2], 0, -1)
  if #ts < limit then return 0 end
  local newest, oldest = tonumber(ts[1]), tonumber(ts[limit])
  if newest - oldest >= window then return 0 end
  return newest + dur
end
`

// scriptAttempt counts one User ID attempt for the phone unless it is
// locked, and returns {'ok', stored-User-ID-HMAC or nil} (only the 32
// octets, so a known and an unknown phone answer alike) or
// {'locked', until-ms}. KEYS: subscriber, failure list. ARGV: now-ms,
// window-ms, attempts, lock-ms, list-ttl-ms.
const srcAttempt = lockoutLua + `
local untl = lockedUntil()
if untl > now then return {'locked', untl} end
if untl > 0 then redis.call('DEL', KEYS[2]) end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, limit - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local rec = redis.call('GET', KEYS[1])
if rec then return {'ok', string.sub(rec, 2, 33)} end
return {'ok', false}
`

var scriptAttempt = redis.NewScript(srcAttempt)

// scriptAttemptOK undoes the count of a matching attempt (the entry
// scriptAttempt pushed for ARGV[1]) and clears earlier failures unless they
// already lock the phone; it returns the subscriber.
const srcAttemptOK = lockoutLua + `
redis.call('LREM', KEYS[2], 1, ARGV[1])
if lockedUntil() <= now then redis.call('DEL', KEYS[2]) end
return redis.call('GET', KEYS[1])
`

var scriptAttemptOK = redis.NewScript(srcAttemptOK)

// scriptStart creates a session atomically.
// KEYS: session, phone's running marker, txn index, [idempotency key].
// ARGV: now-ms, id, marker value ("<id>|<expires-ms>"), running-ttl-ms,
// record-ttl-ms, idempotency-ttl-ms, then the record's field/value pairs.
// Replies: {'ok'}, {'idem', id}, {'busy'}, {'collision'}. The same call
// run again (a client library resending it after a lost reply) finds its
// own id in the running marker and replies {'ok'} again, not {'busy'}.
const srcStart = `
local now = tonumber(ARGV[1])
if KEYS[4] then
  local prev = redis.call('GET', KEYS[4])
  if prev and prev ~= ARGV[2] then return {'idem', prev} end
end
local run = redis.call('GET', KEYS[2])
if run then
  if string.sub(run, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then return {'ok'} end
  local sep = string.find(run, '|', 1, true)
  if sep and tonumber(string.sub(run, sep + 1)) > now then return {'busy'} end
end
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return {'collision'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[5])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[6]) end
return {'ok'}
`

var scriptStart = redis.NewScript(srcStart)

// scriptMark records a stage (submitted, delivered) of a running session
// once. KEYS: session. ARGV: now-ms, the stage's field, '1' to record the
// stage on a complete session that lacks it (still replying 'done'), then
// field/value pairs. Replies: 'ok', 'nf', 'done' (complete), 'exp'
// (expired), 'dup' (stage set).
const srcMark = `
local h = redis.call('HMGET', KEYS[1], 'st', 'ex', ARGV[2])
if not h[1] then return 'nf' end
if h[1] == 'C' then
  if ARGV[3] == '1' and not h[3] then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
  return 'done'
end
if tonumber(h[2]) <= tonumber(ARGV[1]) then return 'exp' end
if h[3] then return 'dup' end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
return 'ok'
`

var scriptMark = redis.NewScript(srcMark)

// scriptComplete completes a running session once, releases the phone's
// running marker if it still names this session, shortens the record's
// life to the retention period, counts the completion in the day's usage
// hash, keeps or clears the phone's card-blocked flag and publishes the id
// on the completion channel, all atomically. KEYS: session, running
// marker, usage hash, blocked flag. ARGV: now-ms, id, retention-ms,
// channel, usage-ttl-ms, result code, blocked-flag-ttl-ms, field/value
// pairs. Replies: {'ok', record}, {'dup', record}, {'exp', record}, {'nf'}.
const srcComplete = `
local h = redis.call('HMGET', KEYS[1], 'st', 'ex', 'pt', 'or', 'op')
if not h[1] then return {'nf'} end
if h[1] == 'C' then return {'dup', redis.call('HGETALL', KEYS[1])} end
if tonumber(h[2]) <= tonumber(ARGV[1]) then return {'exp', redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local run = redis.call('GET', KEYS[2])
if run and string.sub(run, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then redis.call('DEL', KEYS[2]) end
redis.call('HINCRBY', KEYS[3], (h[3] or '') .. '|' .. (h[4] or '') .. '|' .. (h[5] or '') .. '|' .. ARGV[6], 1)
redis.call('PEXPIRE', KEYS[3], ARGV[5])
if ARGV[6] == 'PIN_BLOCKED' or ARGV[6] == 'CARD_BLOCKED' then
  redis.call('SET', KEYS[4], ARGV[6] .. '|' .. ARGV[1], 'PX', ARGV[7])
elseif ARGV[6] == 'OK' then
  redis.call('DEL', KEYS[4])
end
redis.call('PUBLISH', ARGV[4], ARGV[2])
return {'ok', redis.call('HGETALL', KEYS[1])}
`

var scriptComplete = redis.NewScript(srcComplete)

// scriptNextMT hands out the next MT counter of a card: the larger of the
// stored value + 1 and the Redis clock in milliseconds since counterEpoch,
// and only if that does not run ahead of the clock (see doc.go for why).
// KEYS: the card's counter hash. ARGV: epoch-ms, max. Replies: {1, value}
// or {0, ms-to-wait} or {-1, stored} when the 5-octet range is exhausted.
const srcNextMT = `
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
local v = cur + 1
if v < clock then v = clock end
if v > tonumber(ARGV[2]) then return {-1, cur} end
if v > clock then return {0, v - clock} end
redis.call('HSET', KEYS[1], 't', v)
return {1, v}
`

var scriptNextMT = redis.NewScript(srcNextMT)

// scriptAcceptMO accepts an MO counter only above the last accepted one.
// KEYS: the card's counter hash. ARGV: counter. Replies 1 or 0 (replay).
const srcAcceptMO = `
local last = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('HSET', KEYS[1], 'o', ARGV[1])
return 1
`

var scriptAcceptMO = redis.NewScript(srcAcceptMO)

// scriptSources lists every script's source, for Ready. (Script.Load would
// not do: inside a pipeline it records an empty hash in the shared Script.)
func scriptSources() []string {
	return []string{srcPutKeepUID, srcDelete, srcAttempt, srcAttemptOK, srcStart, srcMark, srcComplete, srcNextMT, srcAcceptMO, srcSegmentAdd, srcCAS, srcMoveOut, srcResetLockout}
}

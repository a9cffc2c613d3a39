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

// lockoutLua reads the attempt list KEYS[2]: the times (ms) of recent
// wrong User IDs, and "?<ms>" for attempts still being judged. An attempt
// is pushed as "?<ms>" before it is judged; a match removes it, a mismatch
// turns it into a failure (scriptAttemptFail). One left "?" longer than
// ARGV[6] ms (its process died while judging) counts as a failure. A list
// whose newest ARGV[3] failures lie less than the window ARGV[2] apart
// locks the phone until the newest + ARGV[4].
const lockoutLua = `
local now, window, limit, dur, stale = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6])
local function attempts()
  local fails, pending = {}, 0
  for _, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    if string.sub(v, 1, 1) == '?' then
      local t = tonumber(string.sub(v, 2)) or 0
      if now - t > stale then fails[#fails + 1] = t else pending = pending + 1 end
    else
      fails[#fails + 1] = tonumber(v) or 0
    end
  end
  table.sort(fails, function(a, b) return a > b end)
  return fails, pending
end
local function lockedUntil(fails)
  if #fails < limit then return 0 end
  if fails[1] - fails[limit] >= window then return 0 end
  return fails[1] + dur
end
`

// scriptAttempt registers one User ID attempt for the phone unless it is
// locked, and returns {'ok', stored-User-ID-HMAC or nil} (only the 32
// octets, so a known and an unknown phone answer alike), {'locked',
// until-ms}, or {'busy'} when the attempts being judged would take the
// phone to the limit: more concurrent guesses than the limit allows are
// not judged, and concurrent right answers are told to wait, not locked.
// A served lock is forgiven (the list is cleared); failures older than the
// window cannot join a new lock and are dropped. KEYS: subscriber, failure
// list. ARGV: now-ms, window-ms, attempts, lock-ms, list-ttl-ms, stale-ms.
const srcAttempt = lockoutLua + `
local fails, pending = attempts()
local untl = lockedUntil(fails)
if untl > now then return {'locked', untl} end
if untl > 0 then
  redis.call('DEL', KEYS[2])
  fails, pending = {}, 0
end
local recent = 0
for _, t in ipairs(fails) do if now - t < window then recent = recent + 1 end end
if recent < #fails then
  local keep = {}
  for _, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local t = tonumber((string.gsub(v, '^%?', ''))) or 0
    if string.sub(v, 1, 1) == '?' and now - t <= stale or now - t < window then keep[#keep + 1] = v end
  end
  redis.call('DEL', KEYS[2])
  if #keep > 0 then redis.call('RPUSH', KEYS[2], unpack(keep)) end
end
if recent + pending >= limit then return {'busy'} end
redis.call('LPUSH', KEYS[2], '?' .. ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local rec = redis.call('GET', KEYS[1])
if rec then return {'ok', string.sub(rec, 2, 33)} end
return {'ok', false}
`

var scriptAttempt = redis.NewScript(srcAttempt)

// scriptAttemptOK removes a matching attempt (the entry scriptAttempt
// pushed for ARGV[1]) and clears earlier failures unless they already lock
// the phone; it returns the subscriber.
const srcAttemptOK = lockoutLua + `
redis.call('LREM', KEYS[2], 1, '?' .. ARGV[1])
if lockedUntil((attempts())) <= now then redis.call('DEL', KEYS[2]) end
return redis.call('GET', KEYS[1])
`

var scriptAttemptOK = redis.NewScript(srcAttemptOK)

// scriptAttemptFail turns the attempt scriptAttempt pushed for ARGV[1]
// into a failure (pushed anew when a concurrent match cleared the list in
// between: a wrong User ID always counts).
const srcAttemptFail = `
redis.call('LREM', KEYS[2], 1, '?' .. ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
`

var scriptAttemptFail = redis.NewScript(srcAttemptFail)

// scriptStart creates a session atomically.
// KEYS: session, phone's running marker, txn index, [idempotency key].
// ARGV: now-ms, id, marker value ("<id>|<expires-ms>"), running-ttl-ms,
// record-ttl-ms, idempotency-ttl-ms, the request's fingerprint ("" for
// none), then the record's field/value pairs. The idempotency record is
// "<id>|<fingerprint>". Replies: {'ok'}, {'idem', id}, {'idemfp'} (the key
// was used for another request), {'busy'}, {'collision'}. The same call
// run again (a client library resending it after a lost reply) finds its
// own id in the running marker and replies {'ok'} again, not {'busy'}.
const srcStart = `
local now = tonumber(ARGV[1])
if KEYS[4] then
  local prev = redis.call('GET', KEYS[4])
  if prev then
    local pid, pfp = prev, ''
    local sep = string.find(prev, '|', 1, true)
    if sep then pid, pfp = string.sub(prev, 1, sep - 1), string.sub(prev, sep + 1) end
    if pid ~= ARGV[2] then
      if pfp ~= '' and ARGV[7] ~= '' and pfp ~= ARGV[7] then return {'idemfp'} end
      return {'idem', pid}
    end
  end
end
local run = redis.call('GET', KEYS[2])
if run then
  if string.sub(run, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then return {'ok'} end
  local sep = string.find(run, '|', 1, true)
  if sep and tonumber(string.sub(run, sep + 1)) > now then return {'busy'} end
end
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return {'collision'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[5])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[2] .. '|' .. ARGV[7], 'PX', ARGV[6]) end
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
// hash, keeps or clears the phone's card-blocked flag and publishes the
// completed record on the record channel (decodeNotice), then the id on the
// completion channel, all atomically. A listener of both gets the record
// first, so the id alone marks a completion by an earlier version. With an expected subscriber digest
// (ARGV[8]) it changes nothing and replies {'stale'} unless the
// subscriber's record still has that SHA-1: the caller decided the result
// with the record it read at the start. KEYS: session, running marker,
// usage hash, blocked flag, subscriber. ARGV: now-ms, id, retention-ms,
// channel, usage-ttl-ms, result code, blocked-flag-ttl-ms, expected
// subscriber digest (empty for none), record channel, field/value pairs.
// Replies: {'ok', record}, {'dup', record}, {'exp', record}, {'nf'},
// {'stale'}.
const srcComplete = `
local h = redis.call('HMGET', KEYS[1], 'st', 'ex', 'pt', 'or', 'op')
if not h[1] then return {'nf'} end
if h[1] == 'C' then return {'dup', redis.call('HGETALL', KEYS[1])} end
if tonumber(h[2]) <= tonumber(ARGV[1]) then return {'exp', redis.call('HGETALL', KEYS[1])} end
local sub = redis.call('GET', KEYS[5])
local sd = ''
if sub then sd = redis.sha1hex(sub) end
if ARGV[8] ~= '' and ARGV[8] ~= sd then return {'stale'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
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
local rec = redis.call('HGETALL', KEYS[1])
local parts = {ARGV[2], sd}
for i = 1, #rec, 2 do parts[#parts + 1] = rec[i] .. ' ' .. string.len(rec[i + 1]) .. ' ' .. rec[i + 1] end
redis.call('PUBLISH', ARGV[9], table.concat(parts, '\n'))
redis.call('PUBLISH', ARGV[4], ARGV[2])
return {'ok', rec}
`

var scriptComplete = redis.NewScript(srcComplete)

// scriptNextMT hands out the next MT counter of a card: the larger of the
// stored value + 1 and the card's floor, the Redis clock in milliseconds
// since counterEpoch plus the card's resync offset d (0 unless a resync
// moved the card ahead), and only if that does not run ahead of the floor
// (see doc.go for why). KEYS: the card's counter hash. ARGV: epoch-ms, max.
// Replies: {1, value} or {0, ms-to-wait} or {-1, stored} when the 5-octet
// range is exhausted.
const srcNextMT = `
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local m = redis.call('HMGET', KEYS[1], 't', 'd')
local cur = tonumber(m[1] or '0')
local floor = clock + tonumber(m[2] or '0')
local v = cur + 1
if v < floor then v = floor end
if v > tonumber(ARGV[2]) then return {-1, cur} end
if v > floor then return {0, v - floor} end
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
	return []string{srcPutKeepUID, srcDelete, srcAttempt, srcAttemptOK, srcStart, srcMark, srcComplete, srcNextMT, srcAcceptMO, srcSegmentAdd,
		srcResyncMT, srcClaimResend, srcSetRunning, srcAttemptFail, srcBudgetCheck, srcBudgetFail, srcSegmentDone, srcSegmentTotal,
		srcCAS, srcMoveOut, srcResetLockout}
}

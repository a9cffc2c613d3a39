package sessions

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Budget limits the wrong User IDs one portal may send: Failures within
// Window block the portal's starts and lookups for Block. The per-phone
// lockout stops guessing on one phone; this stops a portal (or a leaked
// portal key) from spreading guesses over many phones, each below its
// lockout.
type Budget struct {
	Failures int
	Window   time.Duration
	Block    time.Duration
}

// Defaults of a Budget's zero fields.
const (
	DefaultBudgetFailures = 100
	DefaultBudgetWindow   = 10 * time.Minute
	DefaultBudgetBlock    = 15 * time.Minute
	// MaxBudgetFailures bounds Budget.Failures (the list of failure times
	// in Redis holds that many entries).
	MaxBudgetFailures = 100_000
)

// WithDefaults returns b with its zero fields set to the defaults.
func (b Budget) WithDefaults() Budget {
	if b.Failures == 0 {
		b.Failures = DefaultBudgetFailures
	}
	if b.Window == 0 {
		b.Window = DefaultBudgetWindow
	}
	if b.Block == 0 {
		b.Block = DefaultBudgetBlock
	}
	return b
}

// Validate reports a budget outside its bounds (after WithDefaults).
func (b Budget) Validate() error {
	switch {
	case b.Failures < 1 || b.Failures > MaxBudgetFailures:
		return invalidf("budget: failures %d outside 1..%d", b.Failures, MaxBudgetFailures)
	case b.Window < time.Second || b.Block < time.Second:
		return invalidf("budget: window and block must be at least 1s")
	}
	return nil
}

// budgetKeys names a portal's failure list and block marker: one hash
// tag per portal, named by a keyed hash (portal ids are configuration,
// but key names stay uniform).
func (s *Store) budgetKeys(portal string) []string {
	tag := "{b:" + b32.EncodeToString(mac(s.kIdem, "budget", portal)[:phoneHashLen]) + "}"
	return []string{tag + "f", tag + "x"}
}

// srcBudgetCheck reads a portal's block. KEYS: failure list, block
// marker. Replies the block's end (ms), 0 when none.
const srcBudgetCheck = `
return tonumber(redis.call('GET', KEYS[2]) or '0')
`

var scriptBudgetCheck = redis.NewScript(srcBudgetCheck)

// srcBudgetFail counts one wrong User ID of a portal: the list keeps the
// newest ARGV[2] failure times; when it is full and spans less than the
// window ARGV[3], the portal is blocked until now + ARGV[4] and the list
// starts over. KEYS: failure list, block marker. ARGV: now-ms, failures,
// window-ms, block-ms. Replies the block's end (ms), 0 when none.
const srcBudgetFail = `
local now, limit, window, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local untl = tonumber(redis.call('GET', KEYS[2]) or '0')
if untl > now then return untl end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, limit - 1)
redis.call('PEXPIRE', KEYS[1], window)
if redis.call('LLEN', KEYS[1]) < limit then return 0 end
if now - tonumber(redis.call('LINDEX', KEYS[1], -1)) >= window then return 0 end
redis.call('SET', KEYS[2], now + block, 'PX', block)
redis.call('DEL', KEYS[1])
return now + block
`

var scriptBudgetFail = redis.NewScript(srcBudgetFail)

// PortalBlockedUntil returns the end of the portal's block for spending
// its budget of wrong User IDs, or the zero time when it is not blocked.
func (s *Store) PortalBlockedUntil(ctx context.Context, portal string) (time.Time, error) {
	if portal == "" || len(portal) > MaxPortalLen {
		return time.Time{}, invalidf("portal: 1..%d characters", MaxPortalLen)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	until, err := scriptBudgetCheck.Run(ctx, s.rdb, s.budgetKeys(portal)).Int64()
	if err != nil {
		return time.Time{}, storeErr("portal budget", err)
	}
	return s.blockEnd(until), nil
}

// SpendPortalBudget counts one wrong User ID sent by portal against b and
// returns the end of the portal's block when this failure (or an earlier
// one) used the budget up, else the zero time.
func (s *Store) SpendPortalBudget(ctx context.Context, portal string, b Budget) (time.Time, error) {
	if portal == "" || len(portal) > MaxPortalLen {
		return time.Time{}, invalidf("portal: 1..%d characters", MaxPortalLen)
	}
	b = b.WithDefaults()
	if err := b.Validate(); err != nil {
		return time.Time{}, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	until, err := scriptBudgetFail.Run(ctx, s.rdb, s.budgetKeys(portal), ms(s.opts.Now()), b.Failures,
		durMS(b.Window), durMS(b.Block)).Int64()
	if err != nil {
		return time.Time{}, storeErr("portal budget", err)
	}
	if t := s.blockEnd(until); !t.IsZero() {
		s.log.Warn("portal blocked: budget of wrong User IDs spent", "portal", portal, "until", t)
		return t, nil
	}
	return time.Time{}, nil
}

// blockEnd turns a stored block end into a time, zero once it has passed.
func (s *Store) blockEnd(until int64) time.Time {
	if until <= ms(s.opts.Now()) {
		return time.Time{}
	}
	return fromMS(until)
}

package sessions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultLockoutAttempts = 5
	DefaultLockoutWindow   = 15 * time.Minute
	DefaultLockoutDuration = 15 * time.Minute
	DefaultRetention       = 5 * time.Minute
	DefaultOpTimeout       = 2 * time.Second
	DefaultIdempotencyTTL  = 15 * time.Second
	DefaultMaxWaiters      = 100_000
	DefaultUsageRetention  = 62 * 24 * time.Hour

	// MinPepperLen is the shortest accepted Options.Pepper.
	MinPepperLen = 16
)

// Options configure a Store. The zero value of every field but Pepper is
// safe and means the documented default.
type Options struct {
	// Pepper is the server secret that keys every hash the store computes:
	// User ID HMACs and the keyed hashes of phones and ICCIDs used in key
	// names. Required, at least MinPepperLen bytes. Changing it orphans
	// every stored subscriber (their User ID HMACs no longer match).
	Pepper []byte
	// LockoutAttempts wrong User IDs within LockoutWindow lock the phone
	// for LockoutDuration (defaults 5, 15m, 15m).
	LockoutAttempts int
	LockoutWindow   time.Duration
	LockoutDuration time.Duration
	// Retention is how long a completed or expired session stays readable
	// (default 5m).
	Retention time.Duration
	// OpTimeout bounds every Store call that talks to Redis (default 2s).
	// It is enforced through the context, so the client must be built with
	// ContextTimeoutEnabled (see ClientOptions).
	OpTimeout time.Duration
	// IdempotencyTTL is how long a portal's Idempotency-Key maps to the
	// session it started (default 15s).
	IdempotencyTTL time.Duration
	// MaxWaiters bounds concurrent Wait calls in this process (default 100000).
	MaxWaiters int
	// UsageRetention is how long the per-day usage counters stay in Redis
	// after their last increment (default 62 days: export them for billing
	// before). At least one day.
	UsageRetention time.Duration
	// Logger receives operational logs; nil discards. Phones appear only as
	// the keyed hash (attribute msisdn_hash).
	Logger *slog.Logger
	// Registerer receives the imzagate_redis_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for session expiry and User ID lockout (default
	// time.Now). Tests move it to test timing; in production all gateway
	// instances should run NTP, since expiry is decided by the caller's clock.
	Now func() time.Time
}

func (o *Options) validate() error {
	if len(o.Pepper) < MinPepperLen {
		return invalidf("Options.Pepper must be at least %d bytes", MinPepperLen)
	}
	if o.LockoutAttempts == 0 {
		o.LockoutAttempts = DefaultLockoutAttempts
	}
	if o.LockoutWindow == 0 {
		o.LockoutWindow = DefaultLockoutWindow
	}
	if o.LockoutDuration == 0 {
		o.LockoutDuration = DefaultLockoutDuration
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.IdempotencyTTL == 0 {
		o.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if o.MaxWaiters == 0 {
		o.MaxWaiters = DefaultMaxWaiters
	}
	if o.UsageRetention == 0 {
		o.UsageRetention = DefaultUsageRetention
	}
	switch {
	case o.LockoutAttempts < 1 || o.LockoutAttempts > 100:
		return invalidf("Options.LockoutAttempts %d outside 1..100", o.LockoutAttempts)
	case o.LockoutWindow < time.Second || o.LockoutDuration < time.Second:
		return invalidf("Options.LockoutWindow and LockoutDuration must be at least 1s")
	case o.Retention < time.Second:
		return invalidf("Options.Retention must be at least 1s")
	case o.OpTimeout < time.Millisecond:
		return invalidf("Options.OpTimeout must be at least 1ms")
	case o.IdempotencyTTL < time.Second:
		return invalidf("Options.IdempotencyTTL must be at least 1s")
	case o.MaxWaiters < 1:
		return invalidf("Options.MaxWaiters must be positive")
	case o.UsageRetention < 24*time.Hour:
		return invalidf("Options.UsageRetention must be at least one day")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Store keeps subscribers, sessions, lockouts and OTA counters in Redis. It
// is safe for concurrent use; several Stores in several processes may share
// one Redis.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
	log  *slog.Logger

	kPhone, kUID, kICCID, kIdem []byte // subkeys derived from the pepper

	notify *notifier
	local  *localSessions // the sessions this process started (local.go)

	closeOnce sync.Once
}

// New returns a Store on rdb. It does not contact Redis, so a gateway can
// start while Redis is still coming up; every call then reports
// ErrUnavailable until it answers. New adds a metrics hook to rdb when
// opts.Registerer is set.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, invalidf("nil redis client")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Store{
		rdb:    rdb,
		opts:   opts,
		log:    opts.Logger,
		kPhone: derive(opts.Pepper, "phone"),
		kUID:   derive(opts.Pepper, "user-id"),
		kICCID: derive(opts.Pepper, "iccid"),
		kIdem:  derive(opts.Pepper, "idempotency"),
	}
	if !contextTimeouts(rdb) {
		s.log.Warn("redis client ignores context deadlines; set ContextTimeoutEnabled so calls fail within OpTimeout")
	}
	if opts.Registerer != nil {
		if err := registerMetrics(rdb, opts.Registerer); err != nil {
			return nil, err
		}
	}
	s.notify = newNotifier(s)
	s.local = newLocalSessions(opts.Now)
	return s, nil
}

// Close stops the completion listener and wakes every Wait. It does not
// close the Redis client, which belongs to the caller.
func (s *Store) Close() error {
	s.closeOnce.Do(s.notify.close)
	return nil
}

// ClientOptions returns UniversalOptions suited to the Store: context
// deadlines honoured (so OpTimeout bounds every call even when Redis hangs),
// short dial/read/write timeouts and one retry. One address gives a single
// server, several a Cluster, and a non-empty masterName Sentinel.
func ClientOptions(addrs []string, masterName string) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                 addrs,
		MasterName:            masterName,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		PoolTimeout:           time.Second,
		MaxRetries:            1,
	}
}

// contextTimeouts reports whether rdb turns context deadlines into socket
// deadlines (true when unknown).
func contextTimeouts(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// derive makes an independent subkey per purpose, so a hash computed for
// one purpose (a key name) never equals one computed for another (a User ID
// check).
func derive(pepper []byte, purpose string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("imzagate/sessions/v1/" + purpose))
	return m.Sum(nil)
}

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// b32 is lowercase base32hex without padding: key names and IDs stay short,
// URL-safe and free of Redis glob characters.
var b32 = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// phoneHashLen is the size in bytes of the keyed phone hash used in key names
// and session IDs (80 bits: a collision among 10^7 subscribers has
// probability about 4e-11).
const phoneHashLen = 10

// phoneRef identifies a phone in key names without revealing it.
type phoneRef struct {
	tag  string // "{xxxx}": 14-bit bucket, the Cluster hash tag
	hash string // 16 base32 characters of the keyed hash
}

func bucketTag(bucket uint16) string {
	const hexdig = "0123456789abcdef"
	b := bucket & 0x3fff
	return string([]byte{'{', hexdig[b>>12], hexdig[b>>8&15], hexdig[b>>4&15], hexdig[b&15], '}'})
}

func (s *Store) phone(phone string) phoneRef {
	h := mac(s.kPhone, phone)[:phoneHashLen]
	return refFromHash(h)
}

func refFromHash(h []byte) phoneRef {
	return phoneRef{tag: bucketTag(binary.BigEndian.Uint16(h) >> 2), hash: b32.EncodeToString(h)}
}

// Key layout. Every key of one phone carries the phone's bucket tag, so a
// subscriber, its lockout list, its running-session marker, its sessions,
// their transaction index and idempotency keys share one Cluster slot and a
// script never touches two slots.
func (p phoneRef) subscriberKey() string { return p.tag + "s:" + p.hash }
func (p phoneRef) failKey() string       { return p.tag + "f:" + p.hash }
func (p phoneRef) runKey() string        { return p.tag + "r:" + p.hash }
func (p phoneRef) sessionKey(id string) string {
	return p.tag + "x:" + id
}
func (p phoneRef) idemKey(h string) string { return p.tag + "i:" + h }
func (p phoneRef) blockedKey() string      { return p.tag + "b:" + p.hash }
func (p phoneRef) moveKey() string         { return p.tag + "v:" + p.hash }

func txnKey(txn [8]byte) string {
	const hexdig = "0123456789abcdef"
	var b [16]byte
	for i, c := range txn {
		b[2*i], b[2*i+1] = hexdig[c>>4], hexdig[c&15]
	}
	return bucketTag(binary.BigEndian.Uint16(txn[:2])>>2) + "t:" + string(b[:])
}

// counterKey holds a card's MT and MO counters.
func (s *Store) counterKey(iccid string) string {
	return "{c:" + b32.EncodeToString(mac(s.kICCID, iccid)[:phoneHashLen]) + "}"
}

// opCtx bounds one Store call by OpTimeout.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.OpTimeout)
}

// storeErr maps a go-redis error to the Store's errors: redis.Nil becomes
// ErrNotFound; every other failure (network, timeout, cluster down, loading,
// read-only replica) becomes ErrUnavailable wrapping the cause.
func storeErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("sessions: %s: %w", op, ErrNotFound)
	default:
		return fmt.Errorf("sessions: %s: %w: %w", op, ErrUnavailable, err)
	}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func durMS(d time.Duration) int64 { return d.Milliseconds() }

// isDigits reports whether s is non-empty ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

// Ping checks, within OpTimeout, that Redis answers: the cheap liveness
// half of a readiness probe, run on every scrape (Ready also loads the
// scripts on every master).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	return storeErr("ping", s.rdb.Ping(ctx).Err())
}

// Ready checks that Redis answers and loads the store's scripts on every
// master, so the first calls after start-up (or after a failover emptied
// the script cache) cost one round trip each. Use it as a readiness probe.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	return storeErr("ready", forEachShard(ctx, s.rdb, func(ctx context.Context, c redis.Cmdable) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, src := range scriptSources() {
				p.ScriptLoad(ctx, src)
			}
			return nil
		})
		return err
	}))
}

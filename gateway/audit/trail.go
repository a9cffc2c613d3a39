package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imzagate/imzagate/sessions"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied to zero Options fields.
const (
	DefaultQueueSize          = 8192
	DefaultMaxBatch           = 512
	DefaultFlushInterval      = 5 * time.Millisecond
	DefaultEnqueueWait        = 10 * time.Millisecond
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultSyncTimeout        = 3 * time.Second
	DefaultReplicaTimeout     = time.Second
	DefaultRetention          = 31 * 24 * time.Hour
	DefaultDrainTimeout       = 5 * time.Second

	// MinPhoneKeyLen is the shortest accepted Options.PhoneKey.
	MinPhoneKeyLen = 16
	// MaxInstanceLen bounds Options.Instance.
	MaxInstanceLen = 40
	// maxBatch bounds Options.MaxBatch (a batch also carries the trail's
	// own records, and the store takes at most sessions.MaxAuditBatch).
	maxBatch = 2048
)

// Options configure a Trail. Every field but Store, SigningKey and
// PhoneKey has a safe zero value meaning the documented default.
type Options struct {
	// Store keeps the chains (required).
	Store *sessions.AuditLog
	// SigningKey signs checkpoints and export seals (required; from the
	// secrets). Verifiers need only its public key.
	SigningKey ed25519.PrivateKey
	// PhoneKey keys the phone HMACs (required, at least MinPhoneKeyLen
	// octets; from the secrets). Changing it makes old records unfindable
	// by phone, not unverifiable.
	PhoneKey []byte
	// Instance names this writer in its chain ids: up to MaxInstanceLen of
	// [a-z0-9-] (default: the host name, so one per pod).
	Instance string
	// QueueSize bounds the records waiting for the writer (default 8192).
	QueueSize int
	// MaxBatch bounds the records of one append (default 512, at most 2048).
	MaxBatch int
	// FlushInterval is how long the writer waits for more records before
	// appending a batch that is not full (default 5ms).
	FlushInterval time.Duration
	// EnqueueWait is how long Append waits for room in a full queue before
	// dropping the record (default 10ms; negative: never wait).
	EnqueueWait time.Duration
	// CheckpointEvery and CheckpointInterval: a signed checkpoint follows
	// every CheckpointEvery records (default 1000) and, when records came
	// since the last one, every CheckpointInterval (default 1m).
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// SyncTimeout bounds AppendSync, queueing and replica wait included
	// (default 3s).
	SyncTimeout time.Duration
	// SyncReplicas: replicas that must acknowledge an AppendSync record
	// before it returns. 0 (default): one when the master has a replica
	// connected; negative: none (AOF only); n: always n.
	SyncReplicas int
	// ReplicaTimeout bounds the replica wait of one durable append
	// (default 1s).
	ReplicaTimeout time.Duration
	// Retention is how long Redis keeps a day's chains after the day ends
	// (default 31 days, at least 1 day; negative: until purged by hand).
	// Archive exports before it runs out.
	Retention time.Duration
	// DrainTimeout bounds the writing of queued records and the final
	// checkpoint once Run's context ends (default 5s).
	DrainTimeout time.Duration
	// Logger receives operational logs (never record contents); nil discards.
	Logger *slog.Logger
	// Registerer receives the imzagate_audit_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock of record times and chain days (default time.Now).
	Now func() time.Time
}

func (o *Options) validate() error {
	switch {
	case o.Store == nil:
		return invalidf("Options.Store is required")
	case len(o.SigningKey) != ed25519.PrivateKeySize:
		return invalidf("Options.SigningKey must be an Ed25519 private key (%d octets)", ed25519.PrivateKeySize)
	case len(o.PhoneKey) < MinPhoneKeyLen:
		return invalidf("Options.PhoneKey must be at least %d octets", MinPhoneKeyLen)
	}
	if o.Instance == "" {
		h, _ := os.Hostname()
		o.Instance = instanceName(h)
	}
	if !token(o.Instance, MaxInstanceLen, true) || strings.ContainsAny(o.Instance, "._") {
		return invalidf("Options.Instance %q: 1..%d of [a-z0-9-]", o.Instance, MaxInstanceLen)
	}
	setDefault(&o.QueueSize, DefaultQueueSize)
	setDefault(&o.MaxBatch, DefaultMaxBatch)
	setDefault(&o.FlushInterval, DefaultFlushInterval)
	setDefault(&o.EnqueueWait, DefaultEnqueueWait)
	setDefault(&o.CheckpointEvery, DefaultCheckpointEvery)
	setDefault(&o.CheckpointInterval, DefaultCheckpointInterval)
	setDefault(&o.SyncTimeout, DefaultSyncTimeout)
	setDefault(&o.ReplicaTimeout, DefaultReplicaTimeout)
	setDefault(&o.Retention, DefaultRetention)
	setDefault(&o.DrainTimeout, DefaultDrainTimeout)
	switch {
	case o.QueueSize < 1 || o.QueueSize > 1<<20:
		return invalidf("Options.QueueSize %d outside 1..%d", o.QueueSize, 1<<20)
	case o.MaxBatch < 1 || o.MaxBatch > maxBatch:
		return invalidf("Options.MaxBatch %d outside 1..%d", o.MaxBatch, maxBatch)
	case o.FlushInterval < 0 || o.FlushInterval > time.Second:
		return invalidf("Options.FlushInterval %s outside 0..1s", o.FlushInterval)
	case o.CheckpointEvery < 1 || o.CheckpointEvery > 1_000_000:
		return invalidf("Options.CheckpointEvery %d outside 1..1000000", o.CheckpointEvery)
	case o.CheckpointInterval < 10*time.Millisecond:
		return invalidf("Options.CheckpointInterval must be at least 10ms")
	case o.SyncTimeout < time.Millisecond || o.ReplicaTimeout < time.Millisecond || o.DrainTimeout < time.Millisecond:
		return invalidf("Options.SyncTimeout, ReplicaTimeout and DrainTimeout must be at least 1ms")
	case o.Retention > 0 && o.Retention < 24*time.Hour:
		return invalidf("Options.Retention %s below one day", o.Retention)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// instanceName turns a host name into an instance name.
func instanceName(host string) string {
	b := []byte(strings.ToLower(host))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			b[i] = '-'
		}
	}
	s := strings.Trim(string(b), "-")
	if len(s) > MaxInstanceLen {
		s = strings.Trim(s[:MaxInstanceLen], "-")
	}
	if s == "" {
		return "gateway"
	}
	return s
}

// Trail is one gateway instance's audit trail: the only writer of its
// chains. Append and AppendSync are safe for concurrent use; Run must be
// running for records to be written.
type Trail struct {
	opts  Options
	store *sessions.AuditLog
	log   *slog.Logger
	m     *metrics
	pub   ed25519.PublicKey
	queue chan item

	mu      sync.RWMutex // held for reading while enqueueing, for writing to close
	closed  bool
	running atomic.Bool

	drops     atomic.Uint64
	dropLogAt atomic.Int64 // unix ns of the last drop log line
}

// item is one queued record; done is nil for Append.
type item struct {
	rec  Record
	done chan error
}

// New returns a Trail. It does not contact Redis.
func New(opts Options) (*Trail, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	t := &Trail{
		opts: opts, store: opts.Store, log: opts.Logger,
		pub:   opts.SigningKey.Public().(ed25519.PublicKey),
		queue: make(chan item, opts.QueueSize),
	}
	m, err := newMetrics(opts.Registerer, func() float64 { return float64(len(t.queue)) })
	if err != nil {
		return nil, err
	}
	t.m = m
	return t, nil
}

// PublicKey is the key that verifies this trail's checkpoints and seals.
func (t *Trail) PublicKey() ed25519.PublicKey { return t.pub }

// Phone returns the auditable form of a phone number: its HMAC under the
// phone key and its masked form. The number itself goes nowhere.
func (t *Trail) Phone(msisdn string) Phone {
	return Phone{HMAC: PhoneHMAC(t.opts.PhoneKey, msisdn), Masked: MaskPhone(msisdn)}
}

// prepare stamps and checks a caller's record.
func (t *Trail) prepare(rec Record) (Record, error) {
	if rec.Time.IsZero() {
		rec.Time = t.opts.Now()
	}
	rec.Time = time.UnixMilli(rec.Time.UnixMilli()).UTC()
	rec.Chain, rec.Seq, rec.Prev = "", 0, [32]byte{}
	if rec.Kind == KindCheckpoint || rec.Kind == KindChainStart || rec.Kind == KindDropped {
		return Record{}, invalidf("kind %s is written by the trail only", rec.Kind)
	}
	if err := rec.validate(false); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// Append queues a record for the batching writer and returns without
// waiting for Redis: the hot path of sessions. When the queue stays full
// for EnqueueWait (Redis down for longer than the queue covers) the record
// is dropped, counted, logged, and the trail itself records how many were
// dropped; Append then returns ErrDropped. ErrInvalid for a record that
// breaks a limit.
func (t *Trail) Append(ctx context.Context, rec Record) error {
	rec, err := t.prepare(rec)
	if err != nil {
		return err
	}
	return t.enqueue(ctx, item{rec: rec}, t.opts.EnqueueWait)
}

// AppendSync writes a record durably before it returns: appended to the
// chain in Redis and, when replicas are required (Options.SyncReplicas),
// acknowledged by them, so neither a restart (AOF) nor a Sentinel failover
// loses it. Call it before acknowledging an admin call; an error wrapping
// ErrNotDurable means the call must not be acknowledged as audited (the
// record may still be written later).
func (t *Trail) AppendSync(ctx context.Context, rec Record) error {
	rec, err := t.prepare(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.opts.SyncTimeout)
	defer cancel()
	done := make(chan error, 1)
	if err := t.enqueue(ctx, item{rec: rec, done: done}, t.opts.SyncTimeout); err != nil {
		return fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w within %s: %w", ErrNotDurable, t.opts.SyncTimeout, ctx.Err())
	}
}

func (t *Trail) enqueue(ctx context.Context, it item, wait time.Duration) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		t.drop(1, "closed")
		return ErrClosed
	}
	select {
	case t.queue <- it:
		return nil
	default:
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case t.queue <- it:
			return nil
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	t.drop(1, "queue full")
	return ErrDropped
}

// drop counts dropped records and logs at most once a second.
func (t *Trail) drop(n uint64, why string) {
	total := t.drops.Add(n)
	t.m.dropped.Add(float64(n))
	now := time.Now().UnixNano()
	last := t.dropLogAt.Load()
	if now-last >= int64(time.Second) && t.dropLogAt.CompareAndSwap(last, now) {
		t.log.Error("audit records dropped", "reason", why, "dropped_total", total, "queue_depth", len(t.queue))
	}
}

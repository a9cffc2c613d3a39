package audit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/imzagate/imzagate/sessions"
)

// cpMode says whether a write must end with a checkpoint.
type cpMode int

const (
	cpNone  cpMode = iota // only when CheckpointEvery records have passed
	cpDue                 // a periodic checkpoint, when records came since the last
	cpFinal               // the chain's final checkpoint: it ends the chain
)

// chainRef is the writer's current chain: it alone appends to it, so it
// knows its end without reading Redis.
type chainRef struct {
	sessions.AuditChain
	day  string
	seq  uint64   // last appended
	head [32]byte // hash of record seq (genesis when seq is 0)

	sinceCP int // records since the last checkpoint
	lastCP  time.Time
}

// writer is the state of Run's goroutine.
type writer struct {
	t     *Trail
	chain *chainRef
	// start is the chain.start record waiting to open the current chain.
	start *Record
	// next describes the chain to start next: why, and what became of the
	// previous one (details of its chain.start record).
	next       map[string]string
	dropsNoted uint64
	anchor     []byte // a checkpoint not yet stored as its chain's anchor
	anchorOf   sessions.AuditChain
	failStreak time.Time // when the current run of store failures began

	// stop is Run's context's Done: it ends retries, not commands in
	// flight, so a command never dies halfway and leaves its outcome
	// unknown. Records of a write stopped so are pending for shutdown.
	stop     <-chan struct{}
	draining bool
	pending  []item
}

// errInterrupted: Run's context ended while a write was retrying.
var errInterrupted = errors.New("audit: writer stopping")

// plan is a sequenced batch: the records with their chain positions, not
// yet applied to the writer's state.
type plan struct {
	entries    []sessions.AuditEntry
	kinds      []Kind
	seq        uint64
	head       [32]byte
	sinceCP    int
	cpAt       time.Time // zero: no checkpoint in the batch
	lastCP     []byte
	final      bool
	dropsNoted uint64
}

// Run is the batching writer: it appends queued records to this
// instance's chain, one round trip per batch, starts a new chain every UTC
// day (and after the store lost records), and signs checkpoints. When ctx
// ends it stops taking records, writes what is queued and closes the chain
// with a final checkpoint within DrainTimeout. It returns nil after a
// clean shutdown, or an error when records could not be written then. Run
// it once, for instance in the gateway's errgroup.
func (t *Trail) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("audit: Run called twice")
	}
	w := &writer{t: t, next: map[string]string{"reason": "start"}, stop: ctx.Done()}
	tick := time.NewTicker(min(t.opts.CheckpointInterval, time.Second))
	defer tick.Stop()
	wctx := context.WithoutCancel(ctx)
	w.write(wctx, nil, cpNone) // open the chain now: its chain.start records the boot
	batch := make([]item, 0, t.opts.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			return w.shutdown(ctx)
		case it := <-t.queue:
			batch = w.collect(ctx, append(batch[:0], it))
			w.write(wctx, batch, cpNone)
			clear(batch)
		case <-tick.C:
			w.tick(wctx)
		}
	}
}

// collect adds queued records to batch: whatever is waiting, then what
// arrives within FlushInterval, up to MaxBatch. A durable record is
// written at once, with whatever came before it.
func (w *writer) collect(ctx context.Context, batch []item) []item {
	q, max := w.t.queue, w.t.opts.MaxBatch
	urgent := batch[0].done != nil
drain:
	for len(batch) < max && !urgent {
		select {
		case it := <-q:
			batch = append(batch, it)
			urgent = it.done != nil
		default:
			break drain
		}
	}
	if len(batch) >= max || urgent || w.t.opts.FlushInterval == 0 {
		return batch
	}
	timer := time.NewTimer(w.t.opts.FlushInterval)
	defer timer.Stop()
	for len(batch) < max && !urgent {
		select {
		case it := <-q:
			batch = append(batch, it)
			urgent = it.done != nil
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// tick rolls the chain over at midnight, writes periodic checkpoints and
// records drops even when no record comes.
func (w *writer) tick(ctx context.Context) {
	now := w.t.opts.Now()
	switch {
	case w.chain == nil || w.chain.day != dayOf(now) || w.start != nil:
		w.write(ctx, nil, cpNone)
	case w.chain.sinceCP > 0 && now.Sub(w.chain.lastCP) >= w.t.opts.CheckpointInterval:
		w.write(ctx, nil, cpDue)
	case w.t.drops.Load() != w.dropsNoted:
		w.write(ctx, nil, cpNone)
	}
	if w.anchor != nil {
		w.storeAnchor(ctx)
	}
}

// shutdown closes the queue, writes what it holds and the final checkpoint.
func (w *writer) shutdown(ctx context.Context) error {
	t := w.t
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	w.draining = true
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.opts.DrainTimeout)
	defer cancel()
	ok := true
	for len(w.pending) > 0 {
		n := min(len(w.pending), t.opts.MaxBatch)
		batch := w.pending[:n]
		w.pending = w.pending[n:]
		ok = w.write(dctx, batch, cpNone) && ok
	}
	batch := make([]item, 0, t.opts.MaxBatch)
	for len(t.queue) > 0 {
		batch = batch[:0]
		for len(batch) < t.opts.MaxBatch && len(t.queue) > 0 {
			batch = append(batch, <-t.queue)
		}
		ok = w.write(dctx, batch, cpNone) && ok
	}
	if w.chain != nil || w.start != nil {
		ok = w.write(dctx, nil, cpFinal) && ok
	}
	if w.anchor != nil {
		w.storeAnchor(dctx)
	}
	if !ok {
		return fmt.Errorf("audit: records not written at shutdown within %s: %w", t.opts.DrainTimeout, sessions.ErrUnavailable)
	}
	return nil
}

// write appends items (and whatever the trail must add: a chain.start, a
// drop count, checkpoints) and reports whether it succeeded. It retries
// while the store is unavailable and ctx lasts; when the store lost the
// chain's tail it starts a new chain and writes the items there.
func (w *writer) write(ctx context.Context, items []item, mode cpMode) bool {
	for range 3 {
		if err := w.ensureChain(ctx, mode); err != nil {
			w.fail(items, err)
			return false
		}
		p := w.sequence(items, mode)
		if len(p.entries) == 0 {
			return true
		}
		err := w.store(ctx, p, hasDurable(items))
		var gap *sessions.AuditGapError
		switch {
		case err == nil || errors.Is(err, sessions.ErrNotReplicated):
			w.commit(ctx, p)
			w.finish(items, err)
			return true
		case errors.As(err, &gap):
			w.t.m.writeErrors.WithLabelValues("gap").Inc()
			w.t.log.Error("audit chain lost records in the store; starting a new chain",
				"chain", gap.Chain, "stored_seq", gap.Stored, "written_seq", gap.Expected)
			w.lost(gap)
		default:
			w.fail(items, err)
			return false
		}
	}
	w.fail(items, errors.New("audit: the store keeps losing new chains"))
	return false
}

// ensureChain opens a chain when there is none, or when the UTC day has
// changed (closing the old one first), unless mode is cpFinal (a final
// checkpoint closes the chain it belongs to).
func (w *writer) ensureChain(ctx context.Context, mode cpMode) error {
	now := w.t.opts.Now()
	if w.chain != nil && (mode == cpFinal || w.chain.day == dayOf(now)) {
		return nil
	}
	if w.chain != nil {
		if !w.write(ctx, nil, cpFinal) {
			return fmt.Errorf("audit: closing chain %s: %w", w.chain.ID, sessions.ErrUnavailable)
		}
		w.next["reason"] = "day"
	}
	c := w.newChain(now)
	if err := w.retry(ctx, func(ctx context.Context) error { return w.t.store.Register(ctx, c.AuditChain) }); err != nil {
		return err
	}
	details := w.next
	details["instance"] = w.t.opts.Instance
	w.start = &Record{Kind: KindChainStart, Time: now, Actor: w.system(), Details: details}
	w.next = map[string]string{}
	w.chain = c
	w.t.m.chains.WithLabelValues(details["reason"]).Inc()
	w.t.log.Info("audit chain started", "chain", c.ID, "reason", details["reason"])
	return nil
}

func (w *writer) newChain(now time.Time) *chainRef {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	day := dayOf(now)
	id := day + "." + w.t.opts.Instance + "." + hex.EncodeToString(nonce[:])
	c := &chainRef{AuditChain: sessions.AuditChain{ID: id, Day: dayStart(now)}, day: day, head: Genesis(id), lastCP: now}
	if w.t.opts.Retention > 0 {
		c.Expire = c.Day.Add(24*time.Hour + w.t.opts.Retention)
	}
	return c
}

func (w *writer) system() Actor { return Actor{ID: w.t.opts.Instance, Role: "system"} }

// sequence places the batch in the chain after its current end.
func (w *writer) sequence(items []item, mode cpMode) plan {
	c, opts := w.chain, &w.t.opts
	p := plan{seq: c.seq, head: c.head, sinceCP: c.sinceCP, dropsNoted: w.dropsNoted}
	now := opts.Now()
	buf := make([]byte, 0, 512)
	add := func(r Record, cp bool) {
		r.Chain, r.Seq, r.Prev = c.ID, p.seq+1, p.head
		if cp {
			r.Time, r.Actor = now, w.system()
			signCheckpoint(&r, opts.SigningKey, mode == cpFinal)
		}
		buf = r.AppendCanonical(buf[:0])
		data := append([]byte(nil), buf...)
		p.entries = append(p.entries, sessions.AuditEntry{Seq: r.Seq, Data: data})
		p.kinds = append(p.kinds, r.Kind)
		p.seq, p.head = r.Seq, sha256.Sum256(data)
		p.sinceCP++
		if cp {
			p.sinceCP, p.cpAt, p.lastCP = 0, now, data
		}
	}
	if w.start != nil {
		add(*w.start, false)
	}
	if d := w.t.drops.Load(); d != w.dropsNoted {
		add(Record{Kind: KindDropped, Time: now, Actor: w.system(),
			Details: map[string]string{"count": strconv.FormatUint(d-w.dropsNoted, 10)}}, false)
		p.dropsNoted = d
	}
	for _, it := range items {
		add(it.rec, false)
		if p.sinceCP >= opts.CheckpointEvery {
			add(Record{}, true)
		}
	}
	if mode == cpFinal || mode == cpDue && p.sinceCP > 0 {
		add(Record{}, true)
		p.final = mode == cpFinal
	}
	return p
}

// store appends a plan, retrying while the store is unavailable.
func (w *writer) store(ctx context.Context, p plan, durable bool) error {
	c := w.chain
	return w.retry(ctx, func(ctx context.Context) error {
		start := time.Now()
		var err error
		if durable {
			err = w.t.store.AppendDurable(ctx, c.AuditChain, c.seq, p.entries, w.t.opts.SyncReplicas, w.t.opts.ReplicaTimeout)
		} else {
			err = w.t.store.Append(ctx, c.AuditChain, c.seq, p.entries)
		}
		w.t.m.batchTime.Observe(time.Since(start).Seconds())
		return err
	})
}

// retry runs op until it succeeds, fails for a reason other than the
// store being unavailable, or ctx ends, backing off from 10ms to 1s.
func (w *writer) retry(ctx context.Context, op func(context.Context) error) error {
	backoff := 10 * time.Millisecond
	for {
		err := op(ctx)
		if err == nil || !errors.Is(err, sessions.ErrUnavailable) || errors.Is(err, sessions.ErrNotReplicated) {
			if err != nil && errors.Is(err, sessions.ErrInvalid) {
				w.t.m.writeErrors.WithLabelValues("invalid").Inc()
				w.t.log.Error("audit store refused a batch", "err", err)
			}
			if !w.failStreak.IsZero() && err == nil {
				w.t.log.Info("audit store available again", "after", time.Since(w.failStreak).Round(time.Millisecond))
				w.failStreak = time.Time{}
			}
			return err
		}
		w.t.m.writeErrors.WithLabelValues("unavailable").Inc()
		if w.failStreak.IsZero() {
			w.failStreak = time.Now()
			w.t.log.Warn("audit store unavailable; retrying", "err", err, "queue_depth", len(w.t.queue))
		}
		stop := w.stop
		if w.draining {
			stop = nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", err, ctx.Err())
		case <-stop:
			return errInterrupted
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// commit makes a stored plan the chain's state.
func (w *writer) commit(ctx context.Context, p plan) {
	c := w.chain
	c.seq, c.head, c.sinceCP = p.seq, p.head, p.sinceCP
	if !p.cpAt.IsZero() {
		c.lastCP = p.cpAt
		w.anchor, w.anchorOf = p.lastCP, c.AuditChain
	}
	w.start = nil
	w.dropsNoted = p.dropsNoted
	w.t.m.batchSize.Observe(float64(len(p.entries)))
	for _, k := range p.kinds {
		w.t.m.records.WithLabelValues(kindLabel(k)).Inc()
	}
	if w.anchor != nil {
		w.storeAnchor(ctx)
	}
	if p.final {
		w.next = map[string]string{"prev_chain": c.ID, "prev_seq": strconv.FormatUint(c.seq, 10),
			"prev_head": hex.EncodeToString(c.head[:])}
		w.chain = nil
	}
}

// storeAnchor keeps the latest checkpoint in the chain's index entry, so
// an online verification notices a stream cut below it. A failure is
// retried with the next checkpoint or tick.
func (w *writer) storeAnchor(ctx context.Context) {
	if err := w.t.store.SetAnchor(ctx, w.anchorOf, w.anchor); err != nil {
		w.t.m.anchorFails.Inc()
		w.t.log.Warn("audit anchor not stored", "chain", w.anchorOf.ID, "err", err)
		return
	}
	w.anchor = nil
}

// lost abandons the current chain after the store lost its tail (or it
// no longer ends where the writer left it): the next chain's chain.start
// says which records are gone, so the loss reads as a loss, not as
// tampering.
func (w *writer) lost(gap *sessions.AuditGapError) {
	w.next = map[string]string{"reason": "gap", "lost_chain": gap.Chain,
		"lost_after": strconv.FormatUint(gap.Stored, 10), "lost_through": strconv.FormatUint(gap.Expected, 10)}
	w.chain, w.start = nil, nil
}

func hasDurable(items []item) bool {
	for _, it := range items {
		if it.done != nil {
			return true
		}
	}
	return false
}

// finish tells durable callers the outcome of a stored batch.
func (w *writer) finish(items []item, err error) {
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrNotDurable, err)
		w.t.m.writeErrors.WithLabelValues("not_replicated").Inc()
	}
	for _, it := range items {
		if it.done != nil {
			it.done <- err
		}
	}
}

// fail gives up on items: durable callers get the error, the others are
// counted as dropped. Items of a write interrupted by Run's end wait for
// shutdown instead.
func (w *writer) fail(items []item, err error) {
	if errors.Is(err, errInterrupted) && !w.draining {
		w.pending = append(w.pending, items...)
		return
	}
	var n uint64
	for _, it := range items {
		if it.done != nil {
			it.done <- fmt.Errorf("%w: %w", ErrNotDurable, err)
		} else {
			n++
		}
	}
	if n > 0 {
		w.t.drop(n, "store unavailable")
	}
}

func dayOf(t time.Time) string { return t.UTC().Format("20060102") }

func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

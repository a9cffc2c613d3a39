package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// notifier holds the process's single subscription to CompletionChannel and
// fans its messages out to the local waiters. It starts with the first
// Wait. Whenever the subscription is (re)established every waiter is woken
// to re-read its session, so a completion published while this process was
// not subscribed is never lost.
type notifier struct {
	s *Store

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	count   int
	started bool
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// subscriptions counts SUBSCRIBE attempts (tests check there is one
	// per process, not one per waiter).
	subscriptions atomic.Int64
	// confirmed counts subscription confirmations, including those after
	// go-redis reconnected the subscription by itself.
	confirmed atomic.Int64
	// live is true while the subscription is confirmed.
	live atomic.Bool
}

// waiting returns the number of registered waiters.
func (n *notifier) waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.count
}

// pubsubPing is how long the listener waits for a message before pinging
// the subscription connection to detect a dead link.
const pubsubPing = 15 * time.Second

func newNotifier(s *Store) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{s: s, waiters: map[string]map[chan struct{}]struct{}{}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

var errClosed = errors.New("store closed")

// start starts the listener unless it runs (or the store is closed), so
// the sessions a process starts find the subscription up by the time
// they are waited for.
func (n *notifier) start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started && !n.closed {
		n.started = true
		go n.run()
	}
}

// gen is the subscription's generation while it is confirmed (the count
// of confirmations), -1 while it is not: two equal generations mean no
// notice was missed in between.
func (n *notifier) gen() int64 {
	if !n.live.Load() {
		return -1
	}
	return n.confirmed.Load()
}

// add registers a waiter for id and starts the listener if needed.
func (n *notifier) add(id string) (chan struct{}, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("sessions: wait: %w: %w", ErrUnavailable, errClosed)
	}
	if n.count >= n.s.opts.MaxWaiters {
		return nil, fmt.Errorf("sessions: wait: %w: %d waiters", ErrUnavailable, n.count)
	}
	if !n.started {
		n.started = true
		go n.run()
	}
	ch := make(chan struct{}, 1)
	set := n.waiters[id]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		n.waiters[id] = set
	}
	set[ch] = struct{}{}
	n.count++
	return ch, nil
}

func (n *notifier) remove(id string, ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if set := n.waiters[id]; set != nil {
		if _, ok := set[ch]; ok {
			delete(set, ch)
			n.count--
		}
		if len(set) == 0 {
			delete(n.waiters, id)
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // already has a pending wakeup
	}
}

func (n *notifier) wake(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.waiters[id] {
		wake(ch)
	}
}

func (n *notifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, set := range n.waiters {
		for ch := range set {
			wake(ch)
		}
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	started := n.started
	n.mu.Unlock()
	n.cancel()
	if started {
		<-n.done
	}
	n.wakeAll()
}

// run is the only reader of the subscription.
func (n *notifier) run() {
	defer close(n.done)
	backoff := 50 * time.Millisecond
	for n.ctx.Err() == nil {
		wasLive, err := n.listen()
		if n.ctx.Err() != nil {
			return
		}
		if wasLive {
			backoff = 50 * time.Millisecond // a new outage starts with a quick retry
		}
		n.s.log.Warn("completion subscription lost; resubscribing", "err", err, "backoff", backoff)
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// listen subscribes and dispatches until the connection fails; wasLive
// reports whether the subscription was confirmed before that.
func (n *notifier) listen() (wasLive bool, err error) {
	n.subscriptions.Add(1)
	ps := n.s.rdb.Subscribe(n.ctx, CompletionRecordChannel, CompletionChannel)
	stop := context.AfterFunc(n.ctx, func() { _ = ps.Close() })
	defer func() {
		n.live.Store(false)
		stop()
		_ = ps.Close()
	}()
	pinged := false
	for {
		var msg any
		msg, err = ps.ReceiveTimeout(n.ctx, pubsubPing)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				pinged = true
				pctx, cancel := context.WithTimeout(n.ctx, n.s.opts.OpTimeout)
				err = ps.Ping(pctx)
				cancel()
				if err == nil {
					continue
				}
			}
			return wasLive, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			// Live once both channels are confirmed (the second
			// confirmation counts two).
			if m.Kind == "subscribe" && m.Count == 2 {
				wasLive = true
				n.confirmed.Add(1)
				n.live.Store(true)
				n.wakeAll() // anything published before this point must be re-read
			}
		case *redis.Message:
			if m.Channel == CompletionChannel {
				n.wake(n.s.local.idNoticed(m.Payload))
			} else {
				n.wake(n.s.noticed(m.Payload))
			}
		}
	}
}

// Wait blocks until the session is complete (on whichever instance the
// reply arrived), it expires (then it reads as TIMEOUT), or ctx ends. It
// returns the completed session; when ctx ends first, the last state read
// and ctx's error. Waiters share one Redis subscription per process; the
// waiter registers before it reads the state, so a completion between the
// read and the wait is not missed.
func (s *Store) Wait(ctx context.Context, id string) (Session, error) {
	return s.WaitOwned(ctx, id, "")
}

// WaitOwned is Wait for a session the given portal started: a session of
// another portal reads as ErrNotFound at once, as Get's caller would have
// answered. It spares a long-poll the Get before the Wait: the first read
// inside the wait serves as both (an empty portal checks nothing). When
// the process already has Options.MaxWaiters waiters, a session that is
// complete is still returned; only a running one gets ErrUnavailable.
func (s *Store) WaitOwned(ctx context.Context, id, portal string) (Session, error) {
	return s.wait(ctx, id, portal, nil)
}

// WaitOwnedSubscriber is WaitOwned that, when a completion notice woke it,
// reads the subscriber in the same round trip as the completed session
// (a portal's answer to a successful login lists the user's certificates,
// so it would read the subscriber next). sub is the zero Subscriber when
// it was not read that way (the session was complete at the first read,
// or the subscriber is gone or unreadable): the caller reads it itself.
func (s *Store) WaitOwnedSubscriber(ctx context.Context, id, portal string) (sess Session, sub Subscriber, err error) {
	sess, err = s.wait(ctx, id, portal, &sub)
	if err != nil || sess.State != StateComplete {
		sub = Subscriber{}
	}
	return sess, sub, err
}

// wait is WaitOwned; with sub set, each read after a wakeup also reads the
// subscriber into *sub.
func (s *Store) wait(ctx context.Context, id, portal string, sub *Subscriber) (Session, error) {
	if _, err := refFromID(id); err != nil {
		return Session{}, fmt.Errorf("sessions: wait: %w", ErrNotFound)
	}
	ch, err := s.notify.add(id)
	if err != nil {
		if sess, gerr := s.Get(ctx, id); gerr == nil && sess.State == StateComplete && (portal == "" || sess.Portal == portal) {
			return sess, nil
		}
		return Session{}, err
	}
	defer s.notify.remove(id, ch)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var last Session
	woken := false
	for {
		sess, local := s.localForWait(id, sub)
		var err error
		switch {
		case local:
		case woken && sub != nil:
			sess, err = s.getWithSubscriber(ctx, id, sub)
		default:
			sess, err = s.Get(ctx, id)
		}
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return Session{}, err
		}
		if portal != "" && sess.Portal != portal {
			return Session{}, fmt.Errorf("sessions: wait: %w", ErrNotFound)
		}
		last = sess
		if sess.State == StateComplete {
			return sess, nil
		}
		// Expiry publishes nothing: wake at the expiry time and re-read.
		d := sess.ExpiresAt.Sub(s.opts.Now()) + time.Millisecond
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		woken = true
		select {
		case <-ctx.Done():
			return sess, ctx.Err()
		case <-ch:
		case <-timer.C:
		case <-s.notify.ctx.Done():
			return sess, fmt.Errorf("sessions: wait: %w: %w", ErrUnavailable, errClosed)
		}
	}
}

// localForWait answers a wait's read of session id from the local entry
// when it can be trusted (local.go) and the session has not expired (an
// expired one is read from the store, which decides between the timeout
// and a completion that won the race). With sub set, a completed entry
// whose subscriber record was unchanged at the completion fills *sub.
func (s *Store) localForWait(id string, sub *Subscriber) (Session, bool) {
	ls, lsub, subOK, ok := s.local.forWait(id, s.notify.gen())
	if !ok {
		return Session{}, false
	}
	v, visible := s.view(ls, s.opts.Now())
	if !visible || v.State != ls.State {
		return Session{}, false
	}
	if sub != nil {
		*sub = Subscriber{}
		if subOK && lsub.Phone == v.Phone {
			*sub = lsub
		}
	}
	return v, true
}

// getWithSubscriber is Get with the session's subscriber read in the same
// round trip (both keys share the phone's slot). *sub is left zero when the
// subscriber is missing or unreadable; that is not an error of the Get.
func (s *Store) getWithSubscriber(ctx context.Context, id string, sub *Subscriber) (Session, error) {
	ref, err := refFromID(id)
	if err != nil {
		return Session{}, fmt.Errorf("sessions: get: %w", ErrNotFound)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	pipe := s.rdb.Pipeline()
	hget := pipe.HGetAll(octx, ref.sessionKey(id))
	sget := pipe.Get(octx, ref.subscriberKey())
	_, _ = pipe.Exec(octx)
	v, err := s.viewFromHash(id, hget.Val(), hget.Err())
	if err != nil {
		return Session{}, err
	}
	*sub = Subscriber{}
	if rec, err := sget.Bytes(); err == nil {
		if got, _, err := decodeSubscriber(rec); err == nil && got.Phone == v.Phone {
			*sub = got
		}
	}
	return v, nil
}

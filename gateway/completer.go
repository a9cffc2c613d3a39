package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/imzagate/imzagate/sessions"
)

// completer finishes sessions: it writes the final result to the store
// and, when this call was the one that completed the session, counts it,
// logs it and schedules the portal's callback. It also owns what decides
// when this instance finishes a session: the timeout timers of the
// sessions it started and the gate a reply waits at while the submit of
// its session is being recorded. It needs no Sender, so it exists before
// the SMPP pool whose replies it completes.
type completer struct {
	store     Store
	metrics   *metrics
	view      *viewer
	portals   *portals
	callbacks *callbacks
	msgs      *msgIndex // this instance's recent MT message ids, for receipts
	timeouts  *timeouts
	submits   *submitGate
	pending   *pendingSubmits // receipts that outrun their submit's record (submitreceipt.go)
	now       func() time.Time
	audit     *auditHooks // nil: no audit trail
}

// complete writes res as the final result of session id. It returns the
// store's error; a session already complete (or gone) is not an error.
// log carries the session's id already (every caller's does), so the lines
// written here do not repeat it.
func (c *completer) complete(ctx context.Context, log *slog.Logger, id string, res sessions.Result) error {
	done, err := c.store.Complete(ctx, id, res)
	return c.recordCompletion(ctx, log, id, res, done, err)
}

// recordCompletion takes the store's answer (done, err) to the completion
// of session id with res (log already carries the session_id, as every
// caller's logger does): when this call completed it, the timer goes,
// its message ids are forgotten, the metrics and the log line are written
// and the callback is queued.
func (c *completer) recordCompletion(ctx context.Context, log *slog.Logger, id string, res sessions.Result, done sessions.Session, err error) error {
	return c.recordCompletionOf(ctx, log, id, res, done, err, "")
}

// recordCompletionOf is recordCompletion for a reply whose certificate
// serial (hex) the audit record names.
func (c *completer) recordCompletionOf(ctx context.Context, log *slog.Logger, id string, res sessions.Result, done sessions.Session, err error, serial string) error {
	if err != nil {
		if errors.Is(err, sessions.ErrDuplicate) || errors.Is(err, sessions.ErrNotFound) {
			return nil
		}
		log.LogAttrs(ctx, slog.LevelWarn, "complete failed", slog.String("err", err.Error())) // log carries session_id
		return err
	}
	c.timeouts.disarm(id)
	c.msgs.finish(done.MessageIDs) // a later receipt is counted unmatched without a store call
	c.metrics.completed(res.Code).Inc()
	at := done.Completed
	if at.IsZero() {
		at = c.now()
	}
	if !done.Accepted.IsZero() {
		d := at.Sub(done.Accepted).Seconds()
		c.metrics.sessionDuration.WithLabelValues(res.Code).Observe(d)
		c.metrics.stage.endToEnd.Observe(d)
	}
	if !done.Submitted.IsZero() && res.Code != sessions.ResultTimeout {
		c.metrics.stage.submittedReply.Observe(at.Sub(done.Submitted).Seconds())
	}
	log.LogAttrs(ctx, slog.LevelInfo, "session completed", slog.String("result", res.Code)) // log carries session_id
	c.audit.sessionCompleted(ctx, done, res, serial)
	if done.CallbackURL != "" {
		if p := c.portals.byID[done.Portal]; p != nil {
			body, _ := json.Marshal(c.view.session(ctx, done, nil))
			c.callbacks.enqueue(callbackJob{url: done.CallbackURL, body: body, secret: p.callbackSecret, sessionID: done.ID})
		}
	}
	return nil
}

// expire completes session id as TIMEOUT (the timers' job).
func (c *completer) expire(ctx context.Context, log *slog.Logger, id string) {
	_ = c.complete(ctx, log, id, sessions.Result{Code: sessions.ResultTimeout})
}

// close stops the timeout timers and lets queued callbacks go out, both
// within ctx. Sessions still running stay in the store: another instance,
// a reply, or the store's own expiry finishes them.
func (c *completer) close(ctx context.Context) error {
	c.timeouts.stop(ctx)
	return c.callbacks.close(ctx)
}

// timeoutCompletion bounds the store call a timeout timer makes.
const timeoutCompletion = 5 * time.Second

// timeouts holds one timer per session this instance started; each
// completes its session as TIMEOUT just before the store would expire it,
// so the portal, the metrics and the callback all see the result.
type timeouts struct {
	expire  func(ctx context.Context, log *slog.Logger, id string) // what a timer does
	mu      sync.Mutex
	timers  map[string]*time.Timer
	stopped bool
	firing  sync.WaitGroup     // expire calls running
	ctx     context.Context    // their context: ends when the timers stop
	cancel  context.CancelFunc // ends ctx
}

func newTimeouts(expire func(ctx context.Context, log *slog.Logger, id string)) *timeouts {
	t := &timeouts{expire: expire, timers: make(map[string]*time.Timer)}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

// arm has session id expired after d (logging to log), unless disarmed or
// stopped first.
func (t *timeouts) arm(id string, d time.Duration, log *slog.Logger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.timers[id] = time.AfterFunc(d, func() {
		t.mu.Lock()
		delete(t.timers, id)
		stopped := t.stopped
		if !stopped {
			t.firing.Add(1)
		}
		t.mu.Unlock()
		if stopped {
			return
		}
		defer t.firing.Done()
		ctx, cancel := context.WithTimeout(t.ctx, timeoutCompletion)
		defer cancel()
		t.expire(ctx, log, id)
	})
}

// disarm stops session id's timer, if this instance holds one.
func (t *timeouts) disarm(id string) {
	t.mu.Lock()
	if tm, ok := t.timers[id]; ok {
		tm.Stop()
		delete(t.timers, id)
	}
	t.mu.Unlock()
}

// stop stops every timer, ends the context of those already firing and
// waits for them within ctx.
func (t *timeouts) stop(ctx context.Context) {
	t.mu.Lock()
	t.stopped = true
	for id, tm := range t.timers {
		tm.Stop()
		delete(t.timers, id)
	}
	t.mu.Unlock()
	t.cancel()
	done := make(chan struct{})
	go func() { t.firing.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// maxSubmitWait bounds how long a reply waits for its session's submit to
// be recorded. The submit itself has already been answered (the card got
// the SMS), so only the MarkSubmitted round trip is left.
const maxSubmitWait = 2 * time.Second

// submitGate holds, per session this instance is submitting, a channel
// closed once the submit is recorded (MarkSubmitted answered). A reply can
// outrun the MarkSubmitted that follows the SMSC's answer; completing
// first would leave the session without its submitted stamp, so the reply
// waits here. Another instance's submit cannot be waited for; the store
// then still keeps the stamp on the completed record.
type submitGate struct {
	mu      sync.Mutex
	pending map[string]chan struct{}
}

func newSubmitGate() *submitGate {
	return &submitGate{pending: make(map[string]chan struct{})}
}

// begin registers the submit of session id. Once the submit is recorded
// (or failed), end(id, ch) with the channel it returns releases every
// reply waiting.
func (g *submitGate) begin(id string) (ch chan struct{}) {
	ch = make(chan struct{})
	g.mu.Lock()
	g.pending[id] = ch
	g.mu.Unlock()
	return ch
}

// end closes the submit of session id that begin registered as ch.
func (g *submitGate) end(id string, ch chan struct{}) {
	g.mu.Lock()
	if g.pending[id] == ch {
		delete(g.pending, id)
	}
	g.mu.Unlock()
	close(ch)
}

// wait returns once session id's submit on this instance is recorded, at
// once when none is in progress, and at the latest after maxSubmitWait or
// when ctx ends.
func (g *submitGate) wait(ctx context.Context, id string) {
	g.mu.Lock()
	ch := g.pending[id]
	g.mu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(maxSubmitWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

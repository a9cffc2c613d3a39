package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// CallbackSignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>"
// where the HMAC, keyed with the portal's callback secret, covers
// "<t>.<body>". A portal recomputes it and rejects stale timestamps.
const CallbackSignatureHeader = "Imzagate-Signature"

// CallbackOptions tune the dispatcher. Zero values take the defaults.
type CallbackOptions struct {
	Workers  int           // concurrent deliveries, default 8
	Queue    int           // waiting callbacks, default 1024; more are dropped and counted
	Attempts int           // tries per callback, default 5
	Backoff  time.Duration // first retry delay, doubled each time, default 1 s
	Timeout  time.Duration // per attempt, default 5 s
	Client   *http.Client  // default: a client with Timeout and no redirects
}

// callbackJob is one result to POST.
type callbackJob struct {
	url       string
	body      []byte
	secret    []byte
	sessionID string
}

// callbacks delivers results to portals on their own goroutines, so a slow
// portal never holds up the correlator: enqueue never blocks.
type callbacks struct {
	opts    CallbackOptions
	queue   chan callbackJob
	metrics *metrics
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
	audit   *auditHooks // nil: no audit trail
}

// Bounds of CallbackOptions.
const (
	maxCallbackWorkers  = 1024
	maxCallbackQueue    = 1 << 20
	maxCallbackAttempts = 100
)

// validate sets the defaults of zero fields and rejects values out of
// bounds.
func (o *CallbackOptions) validate() error {
	switch {
	case o.Workers < 0 || o.Workers > maxCallbackWorkers:
		return fmt.Errorf("gateway: Callbacks.Workers %d outside 0..%d", o.Workers, maxCallbackWorkers)
	case o.Queue < 0 || o.Queue > maxCallbackQueue:
		return fmt.Errorf("gateway: Callbacks.Queue %d outside 0..%d", o.Queue, maxCallbackQueue)
	case o.Attempts < 0 || o.Attempts > maxCallbackAttempts:
		return fmt.Errorf("gateway: Callbacks.Attempts %d outside 0..%d", o.Attempts, maxCallbackAttempts)
	case o.Backoff < 0 || o.Timeout < 0:
		return errors.New("gateway: Callbacks.Backoff and Timeout cannot be negative")
	}
	if o.Workers == 0 {
		o.Workers = 8
	}
	if o.Queue == 0 {
		o.Queue = 1024
	}
	if o.Attempts == 0 {
		o.Attempts = 5
	}
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout:       o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return nil
}

// newCallbacks starts the workers of a dispatcher with validated options.
func newCallbacks(o CallbackOptions, m *metrics, log *slog.Logger) *callbacks {
	c := &callbacks{opts: o, queue: make(chan callbackJob, o.Queue), metrics: m, log: log}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for range o.Workers {
		c.wg.Add(1)
		go c.worker()
	}
	return c
}

// enqueue schedules a callback, or drops it (counted) when the queue is full.
func (c *callbacks) enqueue(j callbackJob) {
	select {
	case <-c.ctx.Done():
		c.metrics.callbacksDropped.Inc()
	case c.queue <- j:
		c.metrics.callbackQueue.Set(float64(len(c.queue)))
	default:
		c.metrics.callbacksDropped.Inc()
		c.log.Warn("callback queue full, dropped", slog.String("session_id", j.sessionID))
	}
}

func (c *callbacks) worker() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case j := <-c.queue:
			c.metrics.callbackQueue.Set(float64(len(c.queue)))
			c.deliver(j)
		}
	}
}

// deliver tries a callback with exponential backoff until a 2xx answer.
func (c *callbacks) deliver(j callbackJob) {
	delay := c.opts.Backoff
	for attempt := 1; ; attempt++ {
		if c.post(j) {
			c.metrics.callbacksSent.Inc()
			c.audit.callbackDone(j, attempt, "delivered")
			return
		}
		if attempt >= c.opts.Attempts {
			c.metrics.callbacksFailed.Inc()
			c.audit.callbackDone(j, attempt, "failed")
			c.log.Warn("callback failed", slog.String("session_id", j.sessionID), slog.Int("attempts", attempt))
			return
		}
		c.metrics.callbacksRetried.Inc()
		t := time.NewTimer(delay)
		select {
		case <-c.ctx.Done():
			t.Stop()
			c.metrics.callbacksFailed.Inc()
			return
		case <-t.C:
		}
		delay *= 2
	}
}

// signCallback returns the signature header value for body at t.
func signCallback(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// post makes one attempt.
func (c *callbacks) post(j callbackJob) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(CallbackSignatureHeader, signCallback(j.secret, j.body, time.Now()))
	start := time.Now()
	resp, err := c.opts.Client.Do(req)
	c.metrics.callbackDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// close lets queued callbacks go out until ctx ends, then stops the workers.
func (c *callbacks) close(ctx context.Context) error {
	c.once.Do(func() {
		for len(c.queue) > 0 && ctx.Err() == nil {
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		c.cancel()
		c.wg.Wait()
	})
	return nil
}

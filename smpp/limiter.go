package smpp

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket counting SMS segments, with AIMD slow-down and a
// priority lane. After ESME_RTHROTTLED/ESME_RMSGQFUL the whole bind pauses
// (the pause doubles on repeated throttling) and, when a TPS is configured,
// the rate is halved; every success adds back a twentieth of the configured
// rate. A message being retried waits with priority: while any priority
// waiter exists, ordinary waiters do not take tokens, so the retried message
// goes first and keeps its place in the order.
type limiter struct {
	mu          sync.Mutex
	max         float64 // configured rate; 0 = unlimited
	rate        float64 // current rate
	tokens      float64
	last        time.Time
	pauseUntil  time.Time
	pause       time.Duration
	minPause    time.Duration
	maxPause    time.Duration
	prioWaiting int
	wake        chan struct{} // closed and replaced when waiters should re-check
}

func newLimiter(tps float64, minPause, maxPause time.Duration) *limiter {
	if minPause <= 0 {
		minPause = time.Second
	}
	if maxPause < minPause {
		maxPause = 30 * minPause
	}
	return &limiter{max: tps, rate: tps, tokens: 1, last: time.Now(), pause: minPause,
		minPause: minPause, maxPause: maxPause, wake: make(chan struct{})}
}

func (l *limiter) burst() float64 {
	if b := l.rate / 10; b > 1 {
		return b
	}
	return 1
}

func (l *limiter) refillLocked(now time.Time) {
	if l.max <= 0 {
		return
	}
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	if b := l.burst(); l.tokens > b {
		l.tokens = b
	}
	l.last = now
}

func (l *limiter) broadcastLocked() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// wait takes one token, honouring pauses and the priority lane.
func (l *limiter) wait(ctx context.Context, prio bool) error {
	if l == nil {
		return nil
	}
	if prio {
		l.mu.Lock()
		l.prioWaiting++
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.prioWaiting--
			l.broadcastLocked()
			l.mu.Unlock()
		}()
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		l.mu.Lock()
		now := time.Now()
		l.refillLocked(now)
		d := time.Duration(-1) // wait for a broadcast only
		switch {
		case now.Before(l.pauseUntil):
			d = l.pauseUntil.Sub(now)
		case !prio && l.prioWaiting > 0:
		case l.max <= 0:
			l.mu.Unlock()
			return nil
		case l.tokens >= 1:
			l.tokens--
			l.mu.Unlock()
			return nil
		default:
			d = time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
			if d < time.Millisecond {
				d = time.Millisecond
			}
		}
		wake := l.wake
		l.mu.Unlock()
		var tc <-chan time.Time
		if d >= 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-tc:
		}
	}
}

// throttled applies the multiplicative decrease and the bind-wide pause.
func (l *limiter) throttled() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if until := now.Add(l.pause); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
	if l.pause *= 2; l.pause > l.maxPause {
		l.pause = l.maxPause
	}
	if l.max > 0 {
		l.refillLocked(now)
		if l.rate /= 2; l.rate < l.max/64 {
			l.rate = l.max / 64
		}
	}
	l.broadcastLocked()
}

// success applies the additive increase and resets the pause length.
func (l *limiter) success() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pause = l.minPause
	if l.max > 0 && l.rate < l.max {
		l.refillLocked(time.Now())
		if l.rate += l.max / 20; l.rate > l.max {
			l.rate = l.max
		}
	}
}

// currentRate returns the current rate (for tests and status).
func (l *limiter) currentRate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Tick is the state of a run at one progress interval.
type Tick struct {
	Elapsed   time.Duration // since the run began (warm-up included)
	Phase     string        // "warmup", "measure" or "drain"
	Rate      float64       // completed sessions per second over the interval
	Errors    int64         // failed sessions in the interval
	P99       time.Duration // end-to-end p99 of the interval's successes
	InFlight  int64         // sessions started and not yet finished
	Completed int64         // successful sessions since the start, warm-up included
	Finished  int64         // all finished sessions since the start, failures too
}

// generator is one run in progress.
type generator struct {
	o        Options
	c        *client
	rec      *recorder
	pool     chan int32 // indices of users with no session running
	inFlight atomic.Int64
	started  time.Time
	measure  time.Time // start of the measured window
	end      time.Time // end of the measured window
	stopped  time.Time // when starts stopped: end, or earlier if cancelled
	parent   context.Context
	wg       sync.WaitGroup
}

// Run drives the portal API as opts describe and returns the measurements
// of the measured window. Sessions still running when the window closes
// are waited for (up to SessionTimeout) and counted. Cancelling ctx stops
// the run early; Run then returns what it has with ctx's error.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	g := &generator{o: opts, c: newClient(&opts), rec: newRecorder(), parent: ctx}
	g.pool = make(chan int32, len(opts.Users))
	for _, i := range rand.Perm(len(opts.Users)) {
		g.pool <- int32(i)
	}
	g.started = time.Now()
	g.measure = g.started.Add(opts.Warmup)
	g.end = g.measure.Add(opts.Duration)
	opts.Logger.Info("bench run", "target", opts.Target, "mode", g.mode(), "concurrency", opts.Concurrency,
		"rate", opts.Rate, "warmup", opts.Warmup, "duration", opts.Duration, "users", len(opts.Users))

	stopProgress := g.progress()
	if opts.Rate > 0 {
		g.openLoop(ctx)
	} else {
		g.closedLoop(ctx)
	}
	g.wg.Wait()
	g.stopped = g.end
	if now := time.Now(); ctx.Err() != nil && now.Before(g.end) {
		g.stopped = now
	}
	stopProgress()
	res := g.result()
	return res, ctx.Err()
}

func (g *generator) mode() string {
	if g.o.Rate > 0 {
		return "open"
	}
	return "closed"
}

// closedLoop runs Concurrency workers until the window ends.
func (g *generator) closedLoop(ctx context.Context) {
	for range g.o.Concurrency {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(g.end) {
					return
				}
				g.inFlight.Add(1)
				g.session(ctx, now, !now.Before(g.measure))
				g.inFlight.Add(-1)
			}
		}()
	}
}

// intended is the scheduled start of the i-th open-loop session. Computing
// each from the origin (not by adding intervals) keeps rounding from
// drifting the rate.
func intended(origin time.Time, i int64, rate float64) time.Time {
	return origin.Add(time.Duration(float64(i) * float64(time.Second) / rate))
}

// openLoop starts sessions on the fixed schedule. When the process falls
// behind (a GC pause, a busy core) it starts the late sessions at once and
// their latency still counts from their scheduled time.
func (g *generator) openLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		at := intended(g.started, i, g.o.Rate)
		if !at.Before(g.end) {
			return
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		measured := !at.Before(g.measure)
		if g.inFlight.Load() >= int64(g.o.MaxInFlight) {
			g.rec.record(sample{measured: measured, code: CodeOverload})
			continue
		}
		g.inFlight.Add(1)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer g.inFlight.Add(-1)
			g.session(ctx, at, measured)
		}()
	}
}

// session runs one session: take a free user, start, long-poll to
// COMPLETE, record.
func (g *generator) session(ctx context.Context, at time.Time, measured bool) {
	ctx, cancel := context.WithTimeout(ctx, g.o.SessionTimeout)
	defer cancel()
	s := sample{measured: measured, submit: -1, reply: -1}
	var idx int32
	select {
	case idx = <-g.pool:
	case <-ctx.Done():
		g.finish(s, CodeTimeout)
		return
	}
	release := true
	defer func() {
		if release {
			g.pool <- idx
		}
	}()
	sign := g.o.Mix.Sign > 0 && rand.Float64() < g.o.Mix.signShare()
	t0 := time.Now()
	id, err := g.c.start(ctx, g.o.Users[idx], sign)
	if err != nil {
		g.finish(s, g.codeOf(ctx, err))
		return
	}
	s.start = time.Since(t0)
	var st sessionStatus
	for {
		st, err = g.c.poll(ctx, id, g.o.PollTimeout)
		if err != nil {
			code := g.codeOf(ctx, err)
			// The session may still be running on the gateway: keep its
			// user out of the pool so no start meets OUTSTANDING_TRANSACTION.
			release = code != CodeTimeout
			g.finish(s, code)
			return
		}
		if st.State == "COMPLETE" {
			break
		}
	}
	s.e2e = time.Since(at)
	a, sub, done := st.Stages.Accepted, st.Stages.Submitted, st.Stages.Completed
	if !a.IsZero() && !sub.IsZero() && !sub.Before(a) {
		s.submit = sub.Sub(a)
		if !done.IsZero() && !done.Before(sub) {
			s.reply = done.Sub(sub)
		}
	}
	switch {
	case st.Result == "OK":
		g.finish(s, "")
	case validCode(st.Result):
		g.finish(s, st.Result)
	default:
		g.finish(s, CodeBadResponse)
	}
}

// finish records s unless the caller cancelled the whole run, in which case
// the failure is the cancellation's, not the gateway's.
func (g *generator) finish(s sample, code string) {
	if g.parent.Err() != nil {
		return
	}
	s.code = code
	g.rec.record(s)
}

// codeOf names the failure of a request.
func (g *generator) codeOf(ctx context.Context, err error) string {
	if ctx.Err() != nil && g.parent.Err() == nil {
		return CodeTimeout
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return CodeTransport
}

// progress reports a Tick every interval until the returned stop is called.
func (g *generator) progress() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(g.o.ProgressInterval)
		defer t.Stop()
		last := time.Now()
		var total, finished int64
		for {
			select {
			case <-done:
				if g.o.Progress != nil && g.o.ProgressCR {
					fmt.Fprintln(g.o.Progress)
				}
				return
			case now := <-t.C:
				ok, errs, p99 := g.rec.tick()
				total += ok
				finished += ok + errs
				tk := Tick{
					Elapsed: now.Sub(g.started), Phase: g.phase(now),
					Rate: float64(ok) / now.Sub(last).Seconds(), Errors: errs, P99: p99,
					InFlight: g.inFlight.Load(), Completed: total, Finished: finished,
				}
				last = now
				if g.o.OnTick != nil {
					g.o.OnTick(tk)
				}
				if g.o.Progress != nil {
					g.printTick(tk)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (g *generator) phase(now time.Time) string {
	switch {
	case now.Before(g.measure):
		return "warmup"
	case now.Before(g.end):
		return "measure"
	}
	return "drain"
}

func (g *generator) printTick(t Tick) {
	end := "\n"
	start := ""
	if g.o.ProgressCR {
		start, end = "\r", "\x1b[K"
	}
	fmt.Fprintf(g.o.Progress, "%s[%6.1fs %-7s] %8.0f/s ok  %6d err  p99 %9s  in flight %6d  total %d%s",
		start, t.Elapsed.Seconds(), t.Phase, t.Rate, t.Errors, fmtDur(t.P99), t.InFlight, t.Completed, end)
}

// Sweep runs one open loop per rate, in the order given, with opts
// otherwise unchanged (each run has its own warm-up), for a plot of latency
// against offered load. It stops at the first error and returns the runs
// done so far.
func Sweep(ctx context.Context, opts Options, rates []float64) ([]*Result, error) {
	if len(rates) == 0 {
		return nil, errors.New("bench: sweep: no rates")
	}
	var runs []*Result
	for _, rate := range rates {
		o := opts
		o.Rate = rate
		res, err := Run(ctx, o)
		if res != nil {
			runs = append(runs, res)
		}
		if err != nil {
			return runs, err
		}
	}
	return runs, nil
}

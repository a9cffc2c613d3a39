package compare

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/imzagate/imzagate/bench"
)

// Settling after a run: the side is done when its submit_sm count stood
// still and its processes used under settleCPU of settleWindow, checked
// every settleWindow, for at most settleMax.
const (
	settleWindow = 500 * time.Millisecond
	settleCPU    = 50 * time.Millisecond
	settleMax    = 60 * time.Second
)

// side is one gateway under load.
type side struct {
	name     string
	systemID string
	sender   sender
	hc       *http.Client
	pids     []int
}

// comparison is one Run in progress.
type comparison struct {
	o   Options
	sm  *countingSMSC
	out io.Writer
	imz *imzagateSender
	// provision adds subscribers [from, to) to imzagate's registry;
	// provisionTime adds up the time it took.
	provision     func(from, to int) ([]phone, error)
	provisionTime time.Duration
	// imzRate is imzagate's accepted requests per second in its last run.
	imzRate float64
	// imzRuns counts imzagate's runs started.
	imzRuns int
}

// Run starts the test SMSC, imzagate (with a private redis-server and the
// phones it needs) and Kannel, drives them in alternating runs, then
// stops them and, when Options.Imzabench is set, measures the full-session
// figure. Cancelling ctx stops everything; Run then returns ctx's error.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	if err := o.validate(); err != nil {
		return nil, err
	}
	bb, sb, err := kannelBins(o.Bearerbox, o.Smsbox)
	if err != nil {
		return nil, err
	}
	if _, err := ProcCPU(os.Getpid()); err != nil {
		return nil, fmt.Errorf("compare: CPU time comes from /proc (Linux only): %w", err)
	}
	dir, err := os.MkdirTemp("", "imzabench-compare-")
	if err != nil {
		return nil, err
	}
	rep := &Report{KannelVersion: kannelVersion(ctx, bb), Concurrency: o.Concurrency, Run: o.Run, Warmup: o.Warmup,
		Window: o.Window, Phones: o.Phones, KannelDLR: o.KannelDLR}
	if o.Keep {
		rep.WorkDir = dir
	} else {
		defer os.RemoveAll(dir)
	}
	c := &comparison{o: o, out: o.Progress}
	if c.out == nil {
		c.out = io.Discard
	}
	if err := c.pairs(ctx, rep, dir, bb, sb); err != nil {
		return nil, err
	}
	c.fullSession(ctx, rep, dir)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Wall = time.Since(start)
	return rep, nil
}

// pairs starts both gateways, runs the pairs and stops the gateways.
func (c *comparison) pairs(ctx context.Context, rep *Report, dir, bearerbox, smsbox string) error {
	o := c.o
	sm, err := startSMSC(o.Window, imzagateSystemID, kannelSystemID)
	if err != nil {
		return err
	}
	defer sm.Close()
	c.sm = sm
	dlr, err := startDLRSink()
	if err != nil {
		return err
	}
	defer dlr.close()

	c.step("starting redis-server for imzagate")
	rs, err := bench.StartRedis(ctx)
	if err != nil {
		return err
	}
	defer rs.Close()
	sec := newSecrets(sm.Password(imzagateSystemID))
	c.step("provisioning %d phones through `imzagate provision`", o.Phones)
	c.provision = func(from, to int) ([]phone, error) {
		defer func(t0 time.Time) { c.provisionTime += time.Since(t0) }(time.Now())
		return provision(ctx, o.Imzagate, rs.Addr, sec, from, to)
	}
	phones, err := c.provision(0, o.Phones)
	if err != nil {
		return err
	}
	c.step("starting `imzagate serve`")
	gw, err := startImzagate(ctx, o.Imzagate, dir, sm, rs.Addr, sec, o.Window)
	if err != nil {
		return err
	}
	defer gw.proc.stop(10 * time.Second)
	c.step("starting Kannel's bearerbox and smsbox")
	k, err := startKannel(ctx, bearerbox, smsbox, dir, sm, o.Window)
	if err != nil {
		return err
	}
	defer k.stop()

	imzSender := newImzagateSender(gw.apiURL, gw.apiKey, phones)
	c.imz = imzSender
	imz := &side{name: Imzagate, systemID: imzagateSystemID, sender: imzSender,
		hc: newHTTPClient(o.Concurrency), pids: []int{gw.proc.Pid(), rs.Pid()}}
	kan := &side{name: Kannel, systemID: kannelSystemID, sender: newKannelSender(k.sendsmsURL, o.Body, o.KannelDLR, dlr.url),
		hc: newHTTPClient(o.Concurrency), pids: k.pids()}
	for i := range o.Pairs {
		// ABAB…: the side that runs first alternates, so neither always
		// meets a machine warmed (or tired) by the other.
		first, second := imz, kan
		if i%2 == 1 {
			first, second = kan, imz
		}
		a, err := c.runSide(ctx, first, i)
		if err != nil {
			return err
		}
		b, err := c.runSide(ctx, second, i)
		if err != nil {
			return err
		}
		if first == kan {
			a, b = b, a
		}
		rep.Pairs = append(rep.Pairs, newPair(first.name, a, b))
	}
	rep.Medians = medians(rep.Pairs)
	rep.Phones, rep.PhonesUsed, rep.Provision = len(imzSender.phones), imzSender.used(), c.provisionTime
	rep.DLRCallbacks = dlr.count.Load()
	rep.Imzagate, rep.Kannel = shapeOf(sm.Tally(imzagateSystemID)), shapeOf(sm.Tally(kannelSystemID))
	c.step("stopping the gateways")
	return nil
}

func shapeOf(t Tally) Shape {
	s := Shape{ESMClass: t.ESMClass, ProtocolID: t.ProtocolID, DataCoding: t.DataCoding, Seen: t.Seen}
	if t.Submits > 0 {
		s.Octets = float64(t.Octets) / float64(t.Submits)
	}
	return s
}

// runSide runs the load against one side, then waits for it to settle.
func (c *comparison) runSide(ctx context.Context, s *side, pair int) (SideRun, error) {
	o := c.o
	if s.name == Imzagate {
		if err := c.topUp(); err != nil {
			return SideRun{}, err
		}
	}
	cpu0, err := cpuOf(s.pids)
	if err != nil {
		return SideRun{}, err
	}
	self0, _ := ProcCPU(os.Getpid())
	base := c.sm.Tally(s.systemID).Submits
	var l loadRun
	window := make(chan windowMarks, 1)
	go c.watch(ctx, s, &l, pair, base, window)
	res := l.drive(ctx, s.sender, s.hc, o.Concurrency, o.Warmup, o.Run)
	if err := ctx.Err(); err != nil {
		return SideRun{}, err
	}
	if res.Exhausted {
		return SideRun{}, errPhonesExhausted
	}
	if s.name == Imzagate {
		c.imzRate = float64(res.Accepted) / o.Run.Seconds()
	}
	marks := <-window
	loadEnd := time.Now()
	settled, cpu1, n1 := c.settle(ctx, s)
	self1, _ := ProcCPU(os.Getpid())
	r := SideRun{
		Measured: marks.end.Sub(marks.start), Submits: marks.endSubmits - marks.startSubmits,
		OK: res.OK, Errors: res.Errors,
		P50: float64(res.Latency.ValueAtQuantile(50)) / 1000, P99: float64(res.Latency.ValueAtQuantile(99)) / 1000,
		CPU: (cpu1 - cpu0).Seconds(), CPUMessages: n1 - base, DriverCPU: (self1 - self0).Seconds(),
		Backlog: max(0, marks.accepted-(marks.endSubmits-base)), Settle: time.Since(loadEnd), Unsettled: !settled,
	}
	if res.OK == 0 {
		r.P50, r.P99 = nanF, nanF
	}
	r.Rate = float64(r.Submits) / r.Measured.Seconds()
	r.CPUPer1000 = perThousand(r.CPU, r.CPUMessages)
	fmt.Fprintf(c.out, "pair %d %-8s %6.0f submit_sm/s  p50 %s ms  p99 %s ms  CPU %.3f s/1,000 msgs  (settled in %s)\n",
		pair+1, s.name, r.Rate, fmtMs(r.P50), fmtMs(r.P99), r.CPUPer1000, r.Settle.Round(10*time.Millisecond))
	return r, nil
}

var nanF = Ratio(0, 0)

// topUp provisions more phones before an imzagate run when the ones left
// might not last it: the margin is half again the faster of the last
// run's rate and PhonesPerSecond, and a top-up covers the runs left.
func (c *comparison) topUp() error {
	c.imzRuns++
	need := int(math.Ceil(1.5 * max(c.imzRate, float64(c.o.PhonesPerSecond)) * c.o.Run.Seconds()))
	if c.imz.left() >= need {
		return nil
	}
	have := len(c.imz.phones)
	add := min(need*(c.o.Pairs-c.imzRuns+1), maxPhones-have)
	if add <= 0 {
		return errPhonesExhausted
	}
	c.step("provisioning %d more phones for the imzagate runs left", add)
	p, err := c.provision(have, have+add)
	if err != nil {
		return err
	}
	c.imz.add(p)
	return nil
}

// windowMarks are the SMSC counts when the measured window opened and
// closed, and the messages accepted by its close.
type windowMarks struct {
	start, end               time.Time
	startSubmits, endSubmits int64
	accepted                 int64
}

// progressEvery is the interval of the progress lines during a run.
const progressEvery = 5 * time.Second

// watch prints a progress line every progressEvery and marks the
// measured window's edges at the SMSC.
func (c *comparison) watch(ctx context.Context, s *side, l *loadRun, pair int, base int64, out chan<- windowMarks) {
	o := c.o
	begin := time.Now()
	var m windowMarks
	measure := time.NewTimer(o.Warmup)
	end := time.NewTimer(o.Run)
	tick := time.NewTicker(progressEvery)
	defer measure.Stop()
	defer end.Stop()
	defer tick.Stop()
	last, lastAt := base, begin
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-measure.C:
			m.start, m.startSubmits = now, c.sm.Tally(s.systemID).Submits
		case now := <-end.C:
			m.end, m.endSubmits, m.accepted = now, c.sm.Tally(s.systemID).Submits, l.accepted.Load()
			if m.start.IsZero() { // a zero warm-up: the window is the run
				m.start, m.startSubmits = begin, base
			}
			out <- m
			return
		case now := <-tick.C:
			n := c.sm.Tally(s.systemID).Submits
			fmt.Fprintf(c.out, "  pair %d %-8s %4.0fs  %6.0f submit_sm/s  %8d accepted\n",
				pair+1, s.name, now.Sub(begin).Seconds(), float64(n-last)/now.Sub(lastAt).Seconds(), l.accepted.Load())
			last, lastAt = n, now
		}
	}
}

// settle waits until the side has submitted what it accepted and its
// processes are quiet (see settleWindow), and returns whether it did, its
// processes' CPU time and its submit_sm count at that point.
func (c *comparison) settle(ctx context.Context, s *side) (bool, time.Duration, int64) {
	deadline := time.Now().Add(settleMax)
	cpu, _ := cpuOf(s.pids)
	n := c.sm.Tally(s.systemID).Submits
	t := time.NewTicker(settleWindow)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, cpu, n
		case <-t.C:
		}
		cpu2, err := cpuOf(s.pids)
		if err != nil {
			return false, cpu, n
		}
		n2 := c.sm.Tally(s.systemID).Submits
		quiet := n2 == n && cpu2-cpu < settleCPU
		cpu, n = cpu2, n2
		if quiet {
			return true, cpu, n
		}
		if time.Now().After(deadline) {
			return false, cpu, n
		}
	}
}

// fullSession times one ECDSA verification and, with Options.Imzabench,
// runs the all-in-one full-session figure. Its failure does not fail the
// comparison: the report says why the figure is missing.
func (c *comparison) fullSession(ctx context.Context, rep *Report, dir string) {
	c.step("timing one ECDSA P-256 verification")
	v, cpu, err := timeVerify(c.o.VerifyTime)
	if err != nil {
		rep.FullErr = err.Error()
		return
	}
	rep.VerifyCPU = cpu
	if c.o.Imzabench == "" {
		rep.Full = &FullSession{Verify: v}
		rep.FullErr = "no imzabench binary given"
		return
	}
	c.step("all-in-one full sessions for %s (imzabench, %d workers)", c.o.FullSession, c.o.Concurrency)
	f, err := fullSession(ctx, c.o.Imzabench, dir, c.o.Concurrency, c.o.FullSession)
	if err != nil {
		rep.Full = &FullSession{Verify: v}
		rep.FullErr = err.Error()
		return
	}
	f.Verify = v
	f.Multiple = float64(f.CPUPerSession) / float64(v)
	rep.Full = f
}

func (c *comparison) step(format string, a ...any) {
	fmt.Fprintf(c.out, "compare: "+format+"\n", a...)
}

// dlrSink answers Kannel's delivery-report callbacks and counts them.
type dlrSink struct {
	srv   *http.Server
	url   string
	count atomic.Int64
}

func startDLRSink() (*dlrSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("compare: DLR sink: %w", err)
	}
	d := &dlrSink{url: "http://" + ln.Addr().String() + "/dlr?status=%d"}
	d.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.count.Add(1)
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = d.srv.Serve(ln) }() // ends with close
	return d, nil
}

func (d *dlrSink) close() { _ = d.srv.Close() }

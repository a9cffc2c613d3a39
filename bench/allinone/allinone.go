package allinone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/bench"
	"github.com/imzagate/imzagate/bench/compare"
	"github.com/imzagate/imzagate/internal/simstack"
)

// ErrOption marks a bad value in Options: a usage error of the command.
var ErrOption = errors.New("all-in-one")

// maxSIMs bounds Options.SIMs (the farm's own limit).
const maxSIMs = 10_000_000

// Options configure an all-in-one run.
type Options struct {
	// SIMs is the number of simulated SIMs provisioned.
	SIMs int
	// Alg is the SIMs' signature algorithm: ecdsa-p256, ed25519 or ml-dsa-44.
	Alg string
	// UserDelay is how long simulated users take to answer, as
	// simstack.ParseDelay reads it ("0" or empty: at once).
	UserDelay string
	// CPUProfile, when set, is the file the child writes a pprof CPU
	// profile of the gateway to, over the whole load.
	CPUProfile string
	// Verbose logs the gateway's warnings.
	Verbose bool
	// Log receives progress lines and the child's messages (nil: discarded).
	Log io.Writer
}

// validate checks the options before anything starts.
func (o *Options) validate() error {
	if o.UserDelay == "" {
		o.UserDelay = "0"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if _, err := simstack.ParseDelay(o.UserDelay); err != nil {
		return fmt.Errorf("%w: --user-%w", ErrOption, err)
	}
	if _, err := parseAlg(o.Alg); err != nil {
		return fmt.Errorf("%w: %w", ErrOption, err)
	}
	if o.SIMs <= 0 || o.SIMs > maxSIMs {
		return fmt.Errorf("%w: --sims %d: want 1..%d", ErrOption, o.SIMs, maxSIMs)
	}
	return nil
}

// Run starts redis-server and the gateway child, drives load (once, or
// at each of rates) appending every result to rep.Runs, and adds the
// gateway's CPU and Redis figures to the last run.
func Run(ctx context.Context, o Options, load bench.Options, rates []float64, rep *bench.Report) error {
	if err := o.validate(); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "all-in-one: starting redis-server\n")
	rs, err := bench.StartRedis(ctx, "--maxmemory", "4gb")
	if err != nil {
		return err
	}
	defer rs.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	fmt.Fprintf(o.Log, "all-in-one: starting the gateway, test SMSC and %d simulated SIMs (%s)\n", o.SIMs, o.Alg)
	ch, err := startChild(ctx, o, rs.Addr)
	if err != nil {
		return err
	}
	defer ch.stop()
	load.Target, load.APIKey, load.Users = ch.url, ch.apiKey, ch.users

	m := &meter{rdb: rdb, pids: [3]int{ch.cmd.Process.Pid, os.Getpid(), rs.Pid()}}
	if err := m.begin(ctx); err != nil {
		return err
	}
	load.OnTick = m.tick(ctx)
	runErr := bench.RunSweep(ctx, load, rates, o.Log, func(r *bench.Result) {
		rep.Runs = append(rep.Runs, r)
		m.prior.Add(r.Sessions)
	})
	cerr := m.end(ctx)
	if err := ch.stop(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil || cerr != nil || len(rep.Runs) == 0 {
		return errors.Join(runErr, cerr)
	}
	rep.Runs[len(rep.Runs)-1].Gateway = m.stats(rep.Runs, o)
	return nil
}

// meter reads the CPU of the child (gateway), this process (generator)
// and redis-server before and after the load, and samples Redis memory
// during it.
type meter struct {
	rdb        *redis.Client
	pids       [3]int // child, self, redis-server
	cpu0, cpu1 [3]time.Duration
	cmds0      int64
	cmds1      int64
	baseMem    int64
	// prior is the sessions of the runs already done (a sweep).
	prior       atomic.Int64
	mu          sync.Mutex
	first, last memSample
}

// begin takes the figures before the load.
func (m *meter) begin(ctx context.Context) error {
	var err error
	if m.baseMem, err = usedMemory(ctx, m.rdb); err != nil {
		return err
	}
	if m.cpu0[0], err = compare.ProcCPU(m.pids[0]); err != nil {
		return fmt.Errorf("gateway CPU: %w", err)
	}
	m.cmds0, _ = redisInfoInt(ctx, m.rdb, "stats", "total_commands_processed")
	m.cpu0[1], _ = compare.ProcCPU(m.pids[1])
	m.cpu0[2], _ = compare.ProcCPU(m.pids[2])
	return nil
}

// end takes the figures after the load; only the gateway's CPU must be there.
func (m *meter) end(ctx context.Context) error {
	var err error
	if m.cpu1[0], err = compare.ProcCPU(m.pids[0]); err != nil {
		err = fmt.Errorf("gateway CPU: %w", err)
	}
	m.cmds1, _ = redisInfoInt(ctx, m.rdb, "stats", "total_commands_processed")
	m.cpu1[1], _ = compare.ProcCPU(m.pids[1])
	m.cpu1[2], _ = compare.ProcCPU(m.pids[2])
	return err
}

// tick samples Redis while the load is on. Sessions stay stored until
// their TTL (longer than these runs) whether running or completed, so
// memory grows with the sessions started; the slope between the first and
// the latest sample of the measured windows leaves out what the load adds
// once (connection buffers, script cache).
func (m *meter) tick(ctx context.Context) func(bench.Tick) {
	return func(t bench.Tick) {
		if t.Phase != "measure" {
			return
		}
		b, err := usedMemory(ctx, m.rdb)
		if err != nil {
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		s := memSample{sessions: m.prior.Load() + t.Finished + t.InFlight, bytes: b}
		if m.first.sessions == 0 {
			m.first = s
		}
		if s.sessions > m.last.sessions {
			m.last = s
		}
	}
}

// stats are the gateway's figures over every run.
func (m *meter) stats(runs []*bench.Result, o Options) *bench.GatewayStats {
	var sessions int64
	for _, r := range runs {
		sessions += r.Sessions
	}
	m.mu.Lock()
	perSession, how := memoryPerSession(memSample{bytes: m.baseMem}, m.first, m.last)
	m.mu.Unlock()
	gs := &bench.GatewayStats{
		CPUSeconds:           (m.cpu1[0] - m.cpu0[0]).Seconds(),
		Sessions:             sessions,
		CPUHow:               "user+system time of the child process running gateway, test SMSC and SIM farm, from /proc",
		RedisBytesPerSession: perSession,
		RedisHow:             how,
		GeneratorCPUSeconds:  (m.cpu1[1] - m.cpu0[1]).Seconds(),
		RedisCPUSeconds:      (m.cpu1[2] - m.cpu0[2]).Seconds(),
		SIMs:                 o.SIMs,
		Profile:              o.CPUProfile,
	}
	if sessions > 0 {
		gs.CPUPer1000 = gs.CPUSeconds / float64(sessions) * 1000
		// Our own INFO calls (one per progress tick) are a rounding error.
		gs.RedisCommandsPerSession = float64(m.cmds1-m.cmds0) / float64(sessions)
	}
	return gs
}

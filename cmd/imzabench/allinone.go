package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imzagate/imzagate/bench"
	"github.com/redis/go-redis/v9"
)

// The all-in-one benchmark runs in two processes so the gateway's CPU time
// can be read apart from the load generator's: this process starts
// redis-server and the load, and a child (this same binary, argument
// childArg) runs the gateway with the test SMSC and the simulated SIMs. The
// child's CPU time from /proc covers the gateway, the SMSC and the SIM farm.
const childArg = "__gateway"

// childReadyTimeout bounds provisioning 100,000 SIMs and starting up.
const childReadyTimeout = 2 * time.Minute

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// runAllInOne starts Redis and the gateway child, drives the load, and
// adds the gateway's CPU and Redis memory to the last run.
func runAllInOne(ctx context.Context, c *config, o bench.Options, rates []float64, rep *bench.Report, stdout, stderr io.Writer) error {
	if _, err := parseUserDelay(c.userDelay); err != nil {
		return usageError{err}
	}
	if c.sims <= 0 || c.sims > 10_000_000 {
		return usageError{fmt.Errorf("--sims %d: want 1..10000000", c.sims)}
	}
	fmt.Fprintf(stderr, "all-in-one: starting redis-server\n")
	rs, err := bench.StartRedis(ctx, "--maxmemory", "4gb")
	if err != nil {
		return err
	}
	defer rs.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()

	fmt.Fprintf(stderr, "all-in-one: starting the gateway, test SMSC and %d simulated SIMs (%s)\n", c.sims, c.alg)
	ch, err := startChild(ctx, c, rs.Addr, stderr)
	if err != nil {
		return err
	}
	defer ch.stop()
	o.Target, o.APIKey, o.Users = ch.url, ch.apiKey, ch.users

	baseMem, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	cpu0, err := procCPU(ch.cmd.Process.Pid)
	if err != nil {
		return err
	}
	cmds0, _ := redisInfoInt(ctx, rdb, "stats", "total_commands_processed")
	self0, _ := procCPU(os.Getpid())
	redis0, _ := procCPU(rs.Pid())
	// Sample Redis while the load is on. Sessions stay stored until their
	// TTL (longer than these runs) whether running or completed, so memory
	// grows with the sessions started; the slope between the first and the
	// latest sample of the measured windows leaves out what the load adds
	// once (connection buffers, script cache).
	var prior atomic.Int64 // sessions of the runs already done (a sweep)
	var memMu sync.Mutex
	var first, last memSample
	o.OnTick = func(t bench.Tick) {
		if t.Phase != "measure" {
			return
		}
		m, err := usedMemory(ctx, rdb)
		if err != nil {
			return
		}
		memMu.Lock()
		defer memMu.Unlock()
		s := memSample{sessions: prior.Load() + t.Finished + t.InFlight, bytes: m}
		if first.sessions == 0 {
			first = s
		}
		if s.sessions > last.sessions {
			last = s
		}
	}
	runErr := drive(ctx, o, rates, rep, stderr, func(r *bench.Result) { prior.Add(r.Sessions) })
	cpu1, cerr := procCPU(ch.cmd.Process.Pid)
	cmds1, _ := redisInfoInt(ctx, rdb, "stats", "total_commands_processed")
	self1, _ := procCPU(os.Getpid())
	redis1, _ := procCPU(rs.Pid())
	if err := ch.stop(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil || cerr != nil || len(rep.Runs) == 0 {
		return errors.Join(runErr, cerr)
	}
	var sessions int64
	for _, r := range rep.Runs {
		sessions += r.Sessions
	}
	memMu.Lock()
	perSession, how := memoryPerSession(memSample{bytes: baseMem}, first, last)
	gs := &bench.GatewayStats{
		CPUSeconds:           cpu1 - cpu0,
		Sessions:             sessions,
		CPUHow:               "user+system time of the child process running gateway, test SMSC and SIM farm, from /proc",
		RedisBytesPerSession: perSession,
		RedisHow:             how,
		GeneratorCPUSeconds:  self1 - self0,
		RedisCPUSeconds:      redis1 - redis0,
		SIMs:                 c.sims,
		Profile:              c.cpuProfile,
	}
	memMu.Unlock()
	if sessions > 0 {
		gs.CPUPer1000 = gs.CPUSeconds / float64(sessions) * 1000
		// Our own INFO calls (one per progress tick) are a rounding error.
		gs.RedisCommandsPerSession = float64(cmds1-cmds0) / float64(sessions)
	}
	rep.Runs[len(rep.Runs)-1].Gateway = gs
	return nil
}

// memSample is Redis's used_memory with the sessions stored so far.
type memSample struct {
	sessions int64
	bytes    int64
}

// minSlopeSessions is the fewest sessions between two samples for their
// slope to be trusted over the growth from the baseline.
const minSlopeSessions = 1000

// memoryPerSession gives the Redis bytes per stored session and how they
// were found: the slope between the first and last samples of the load
// when enough sessions separate them, else the growth from the baseline
// (which then also carries the load's one-off costs).
func memoryPerSession(base, first, last memSample) (float64, string) {
	if n := last.sessions - first.sessions; n >= minSlopeSessions {
		return float64(last.bytes-first.bytes) / float64(n), fmt.Sprintf(
			"INFO used_memory slope over %d sessions stored, running or completed and kept until their TTL", n)
	}
	if last.sessions > 0 {
		return float64(last.bytes-base.bytes) / float64(last.sessions), fmt.Sprintf(
			"INFO used_memory growth from before the load over %d sessions stored, one-off costs included", last.sessions)
	}
	return 0, "no sample taken during a measured window"
}

// child is the running gateway process.
type child struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	url      string
	apiKey   string
	users    []bench.User
	dir      string
	stopOnce sync.Once
	stopErr  error
	waited   chan error
}

// startChild runs this binary as the gateway half and waits for its READY
// line: "READY <url> <api key> <users file>".
func startChild(ctx context.Context, c *config, redisAddr string, stderr io.Writer) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "imzabench-")
	if err != nil {
		return nil, err
	}
	usersFile := filepath.Join(dir, "users.csv")
	args := []string{childArg, "--redis", redisAddr, "--sims", strconv.Itoa(c.sims), "--alg", c.alg,
		"--user-delay", c.userDelay, "--users-out", usersFile}
	if c.cpuProfile != "" {
		args = append(args, "--cpuprofile", c.cpuProfile)
	}
	if c.verbose {
		args = append(args, "-v")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start gateway child: %w", err)
	}
	ch := &child{cmd: cmd, stdin: stdin, dir: dir, waited: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "READY ") {
				ready <- line
			}
		}
		close(ready)
	}()
	go func() { ch.waited <- cmd.Wait() }()
	timer := time.NewTimer(childReadyTimeout)
	defer timer.Stop()
	var line string
	select {
	case l, ok := <-ready:
		if !ok {
			ch.stop()
			return nil, errors.New("the gateway child exited before it was ready (see its messages above)")
		}
		line = l
	case <-timer.C:
		ch.stop()
		return nil, fmt.Errorf("the gateway child was not ready within %v", childReadyTimeout)
	case <-ctx.Done():
		ch.stop()
		return nil, ctx.Err()
	}
	f := strings.Fields(line)
	if len(f) != 4 {
		ch.stop()
		return nil, fmt.Errorf("gateway child: bad ready line %q", line)
	}
	ch.url, ch.apiKey = f[1], f[2]
	uf, err := os.Open(f[3])
	if err != nil {
		ch.stop()
		return nil, err
	}
	ch.users, err = bench.ReadUsers(uf)
	uf.Close()
	if err != nil {
		ch.stop()
		return nil, err
	}
	return ch, nil
}

// stop asks the child to finish (closing its stdin), waits a bounded time,
// then kills it.
func (ch *child) stop() error {
	ch.stopOnce.Do(func() {
		ch.stdin.Close()
		select {
		case err := <-ch.waited:
			ch.stopErr = err
		case <-time.After(30 * time.Second):
			_ = ch.cmd.Process.Kill()
			ch.stopErr = fmt.Errorf("gateway child did not stop: %w", <-ch.waited)
		}
		os.RemoveAll(ch.dir)
	})
	return ch.stopErr
}

// procCPU reads a process's user+system CPU seconds from /proc/<pid>/stat.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("gateway CPU: %w", err)
	}
	return parseStatCPU(string(b))
}

// parseStatCPU takes utime and stime (fields 14 and 15, proc(5)) from a
// stat line; the command name in parentheses may hold spaces, so fields
// are counted after its closing parenthesis.
func parseStatCPU(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("gateway CPU: malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, errors.New("gateway CPU: short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("gateway CPU: malformed utime/stime")
	}
	return float64(ut+st) / clockTicks, nil
}

// usedMemory reads INFO memory used_memory.
func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	return redisInfoInt(ctx, rdb, "memory", "used_memory")
}

// redisInfoInt reads one integer field of an INFO section.
func redisInfoInt(ctx context.Context, rdb *redis.Client, section, field string) (int64, error) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO %s: %w", section, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("redis INFO %s: no %s", section, field)
}

// userDelay is how long simulated users take to answer.
type userDelay struct {
	kind     string // "fixed", "uniform" or "exp"
	min, max time.Duration
}

// maxUserDelay is the longest answer a simulated user may take; the
// applet's own timeout (255 s at most) ends anything longer.
const maxUserDelay = 255 * time.Second

// parseUserDelay reads "0", a duration, "uniform:MIN-MAX" or "exp:MEAN".
func parseUserDelay(s string) (userDelay, error) {
	bad := func() (userDelay, error) {
		return userDelay{}, fmt.Errorf("--user-delay %q: want 0, a duration, uniform:MIN-MAX or exp:MEAN, each up to %v", s, maxUserDelay)
	}
	dur := func(v string) (time.Duration, bool) {
		if v == "0" {
			return 0, true
		}
		d, err := time.ParseDuration(v)
		return d, err == nil && d >= 0 && d <= maxUserDelay
	}
	kind, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		d, ok := dur(s)
		if !ok {
			return bad()
		}
		return userDelay{kind: "fixed", min: d, max: d}, nil
	case kind == "uniform":
		lo, hi, ok := strings.Cut(rest, "-")
		a, ok1 := dur(lo)
		b, ok2 := dur(hi)
		if !ok || !ok1 || !ok2 || b < a {
			return bad()
		}
		return userDelay{kind: "uniform", min: a, max: b}, nil
	case kind == "exp":
		m, ok := dur(rest)
		if !ok || m == 0 {
			return bad()
		}
		return userDelay{kind: "exp", min: m, max: m}, nil
	}
	return bad()
}

// String formats d the way parseUserDelay reads it.
func (d userDelay) String() string {
	switch d.kind {
	case "uniform":
		return "uniform:" + d.min.String() + "-" + d.max.String()
	case "exp":
		return "exp:" + d.min.String()
	}
	return d.min.String()
}

// sample draws one delay; u is uniform in [0, 1).
func (d userDelay) sample(u float64) time.Duration {
	switch d.kind {
	case "uniform":
		return d.min + time.Duration(u*float64(d.max-d.min))
	case "exp":
		v := time.Duration(-math.Log(1-u) * float64(d.min))
		return min(v, maxUserDelay)
	}
	return d.min
}

// runChild is the gateway half of the all-in-one: it starts the stack,
// writes the users file, prints READY and serves until stdin closes.
func runChild(args []string, stdout, stderr io.Writer) int {
	fs := flagSetChild(stderr)
	redisAddr := fs.String("redis", "", "redis address")
	sims := fs.Int("sims", 100000, "simulated SIMs")
	alg := fs.String("alg", "ecdsa-p256", "SIM signature algorithm")
	delay := fs.String("user-delay", "0", "user answer delay")
	usersOut := fs.String("users-out", "", "users CSV to write")
	cpuProfile := fs.String("cpuprofile", "", "CPU profile file")
	verbose := fs.Bool("v", false, "log")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, err := parseUserDelay(*delay)
	if err != nil || *redisAddr == "" || *usersOut == "" {
		fmt.Fprintf(stderr, "imzabench %s: bad arguments (%v)\n", childArg, err)
		return 2
	}
	// Ctrl-C reaches the whole process group; the parent decides when the
	// gateway stops (it closes our stdin), so the run can finish cleanly.
	signal.Ignore(os.Interrupt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := startStack(ctx, stackOptions{RedisAddr: *redisAddr, SIMs: *sims, Alg: *alg, UserDelay: d, Verbose: *verbose, Log: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "imzabench: all-in-one gateway: %v\n", err)
		return 1
	}
	defer st.close()
	if err := writeFile(*usersOut, func(w io.Writer) error { return bench.WriteUsers(w, st.users) }); err != nil {
		fmt.Fprintf(stderr, "imzabench: %v\n", err)
		return 1
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "imzabench: %v\n", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "imzabench: %v\n", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	fmt.Fprintf(stdout, "READY %s %s %s\n", st.url, st.apiKey, *usersOut)
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
	return 0
}

package allinone

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imzagate/imzagate/bench"
	"github.com/imzagate/imzagate/internal/simstack"
)

// ChildArg, as a program's first argument, makes it run the gateway half
// of an all-in-one run: its main calls RunChild with the arguments after
// it. Run starts the program that called it (os.Executable) so.
const ChildArg = "__gateway"

// childReadyTimeout bounds provisioning 100,000 SIMs and starting up.
const childReadyTimeout = 2 * time.Minute

// childStopTimeout bounds the child's graceful stop before it is killed.
const childStopTimeout = 30 * time.Second

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
func startChild(ctx context.Context, o Options, redisAddr string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "imzabench-")
	if err != nil {
		return nil, err
	}
	args := []string{ChildArg, "--redis", redisAddr, "--sims", strconv.Itoa(o.SIMs), "--alg", o.Alg,
		"--user-delay", o.UserDelay, "--users-out", filepath.Join(dir, "users.csv")}
	if o.CPUProfile != "" {
		args = append(args, "--cpuprofile", o.CPUProfile)
	}
	if o.Verbose {
		args = append(args, "-v")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = o.Log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start gateway child: %w", err)
	}
	ch := &child{cmd: cmd, stdin: stdin, dir: dir, waited: make(chan error, 1)}
	go func() { ch.waited <- cmd.Wait() }()
	if err := ch.awaitReady(ctx, out); err != nil {
		ch.stop()
		return nil, err
	}
	return ch, nil
}

// awaitReady reads the child's stdout until its READY line, then loads
// the users file it names.
func (ch *child) awaitReady(ctx context.Context, out io.Reader) error {
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
	timer := time.NewTimer(childReadyTimeout)
	defer timer.Stop()
	var line string
	select {
	case l, ok := <-ready:
		if !ok {
			return errors.New("the gateway child exited before it was ready (see its messages above)")
		}
		line = l
	case <-timer.C:
		return fmt.Errorf("the gateway child was not ready within %v", childReadyTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	f := strings.Fields(line)
	if len(f) != 4 {
		return fmt.Errorf("gateway child: bad ready line %q", line)
	}
	ch.url, ch.apiKey = f[1], f[2]
	uf, err := os.Open(f[3])
	if err != nil {
		return err
	}
	defer uf.Close()
	ch.users, err = bench.ReadUsers(uf)
	return err
}

// stop asks the child to finish (closing its stdin), waits a bounded time,
// then kills it.
func (ch *child) stop() error {
	ch.stopOnce.Do(func() {
		ch.stdin.Close()
		select {
		case err := <-ch.waited:
			ch.stopErr = err
		case <-time.After(childStopTimeout):
			_ = ch.cmd.Process.Kill()
			ch.stopErr = fmt.Errorf("gateway child did not stop: %w", <-ch.waited)
		}
		os.RemoveAll(ch.dir)
	})
	return ch.stopErr
}

// childConfig is what the child's arguments say.
type childConfig struct {
	redisAddr, usersOut, cpuProfile string
	sims                            int
	alg                             string
	delay                           string
	verbose                         bool
}

// parseChild reads the child's arguments (as startChild writes them).
func parseChild(args []string, stderr io.Writer) (childConfig, error) {
	var c childConfig
	fs := flag.NewFlagSet("imzabench "+ChildArg, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.redisAddr, "redis", "", "redis address")
	fs.IntVar(&c.sims, "sims", 100000, "simulated SIMs")
	fs.StringVar(&c.alg, "alg", "ecdsa-p256", "SIM signature algorithm")
	fs.StringVar(&c.delay, "user-delay", "0", "user answer delay")
	fs.StringVar(&c.usersOut, "users-out", "", "users CSV to write")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "CPU profile file")
	fs.BoolVar(&c.verbose, "v", false, "log")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.redisAddr == "" || c.usersOut == "" {
		return c, errors.New("--redis and --users-out are required")
	}
	return c, nil
}

// RunChild is the gateway half of the all-in-one: it starts the stack,
// writes the users file, prints READY to stdout and serves until its
// standard input closes. It returns the exit status.
func RunChild(args []string, stdout, stderr io.Writer) int {
	c, err := parseChild(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "imzabench %s: bad arguments (%v)\n", ChildArg, err)
		return 2
	}
	// Ctrl-C reaches the whole process group; the parent decides when the
	// gateway stops (it closes our stdin), so the run can finish cleanly.
	signal.Ignore(os.Interrupt)
	if err := serveChild(c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "imzabench: all-in-one gateway: %v\n", err)
		return 1
	}
	return 0
}

// serveChild runs the stack until stdin closes.
func serveChild(c childConfig, stdout, stderr io.Writer) error {
	alg, err := parseAlg(c.alg)
	if err != nil {
		return err
	}
	delay, err := simstack.ParseDelay(c.delay)
	if err != nil {
		return err
	}
	st, err := simstack.Start(context.Background(), stackOptions(c.redisAddr, c.sims, alg, delay, c.verbose, stderr))
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Shutdown(ctx)
	}()
	users := make([]bench.User, len(st.Subscribers()))
	for i, s := range st.Subscribers() {
		users[i] = bench.User{Phone: s.Phone, UserID: s.UserID}
	}
	if err := bench.WriteFile(c.usersOut, func(w io.Writer) error { return bench.WriteUsers(w, users) }); err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	fmt.Fprintf(stdout, "READY http://%s %s %s\n", st.APIAddr(), st.APIKey(portal), c.usersOut)
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
	return nil
}

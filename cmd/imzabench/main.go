package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/imzagate/imzagate/bench"
	"github.com/imzagate/imzagate/bench/allinone"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == allinone.ChildArg {
		os.Exit(allinone.RunChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is everything the flags say.
type config struct {
	target, apiKey, usersFile string
	concurrency               int
	rate                      float64
	sweep                     string
	duration, warmup          time.Duration
	mix                       string
	certType, hashType        string
	pollTimeout, sessTimeout  time.Duration
	maxInFlight               int
	jsonOut, plotDir, plotFmt string
	progress                  time.Duration
	quiet, verbose            bool

	// all-in-one only
	sims       int
	alg        string
	userDelay  string
	cpuProfile string
}

func newFlags(stderr io.Writer) (*flag.FlagSet, *config) {
	c := &config{}
	fs := flag.NewFlagSet("imzabench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.target, "target", "", "base URL of a running gateway's portal API (e.g. https://gw.example:8443); empty runs everything on this machine (all-in-one)")
	fs.StringVar(&c.apiKey, "api-key", "", "portal bearer API key for --target (default: $IMZABENCH_API_KEY)")
	fs.StringVar(&c.usersFile, "users", "", "CSV file of phone,userId lines to start sessions for (--target only; default: the demo gateway's /v1/demo/subscribers)")
	fs.IntVar(&c.concurrency, "concurrency", bench.DefaultConcurrency, "closed loop: number of workers, each running one session after another")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: sessions started per second on a fixed schedule, latency measured from the intended start (overrides --concurrency)")
	fs.StringVar(&c.sweep, "sweep", "", "open loop at each of these comma-separated rates in turn (e.g. 500,1000,2000), for the latency-against-load plot")
	fs.DurationVar(&c.duration, "duration", bench.DefaultDuration, "measured duration of each run")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "load before each measured run that is not recorded")
	fs.StringVar(&c.mix, "mix", "auth=1,sign=0", "share of each operation, e.g. auth=0.8,sign=0.2")
	fs.StringVar(&c.certType, "cert-type", "personal", "certificate a SIGN asks for: personal, business or government (the all-in-one SIMs hold personal ones)")
	fs.StringVar(&c.hashType, "hash-type", "SHA256", "hash type sent: SHA256, SHA384 or SHA512")
	fs.DurationVar(&c.pollTimeout, "poll-timeout", bench.DefaultPollTimeout, "long-poll wait per GET /v1/sessions/{id} (at most 120s)")
	fs.DurationVar(&c.sessTimeout, "session-timeout", bench.DefaultSessionTimeout, "give up on a session after this long and count CLIENT_TIMEOUT")
	fs.IntVar(&c.maxInFlight, "max-in-flight", bench.DefaultMaxInFlight, "open loop: most sessions outstanding; starts beyond it count CLIENT_OVERLOAD")
	fs.StringVar(&c.jsonOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&c.plotDir, "plots", "", "write plots into this directory: latency-histogram.<fmt> and, with --sweep, latency-vs-load.<fmt>")
	fs.StringVar(&c.plotFmt, "plot-format", "svg", "plot format: svg or png")
	fs.DurationVar(&c.progress, "progress", time.Second, "interval of the live progress line (rate, errors, p99)")
	fs.BoolVar(&c.quiet, "quiet", false, "no live progress line")
	fs.BoolVar(&c.verbose, "v", false, "log run events, and the all-in-one gateway's warnings, to stderr")
	fs.IntVar(&c.sims, "sims", 100000, "all-in-one: number of simulated SIMs (subscribers) provisioned")
	fs.StringVar(&c.alg, "alg", "ecdsa-p256", "all-in-one: the SIMs' signature algorithm: ecdsa-p256, ed25519 or ml-dsa-44")
	fs.StringVar(&c.userDelay, "user-delay", "0", "all-in-one: how long simulated users take to answer: 0 (at once), a duration, uniform:MIN-MAX or exp:MEAN")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "all-in-one: write a pprof CPU profile of the gateway over the measured runs to this file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: imzabench [flags]
       imzabench compare [flags]   (side by side with Kannel; see imzabench compare --help)

Load benchmark of the imzagate portal API. Without --target it runs
everything on this machine: a private redis-server, the gateway with the
test SMSC over loopback SMPP and simulated SIMs; then it drives the API like
real portals (start, then long-poll) and prints throughput, latency
percentiles per stage, errors by code, gateway CPU per 1,000 sessions and
Redis memory per running session.

Closed loop (--concurrency): workers run one session after another.
Open loop (--rate, --sweep): sessions start on a fixed schedule and every
latency is measured from the intended start, free of coordinated omission.

Stages: start = POST round trip; submit = accepted→submit_sm done and
reply = submitted→completed (the gateway's own stamps); e2e = intended
start → COMPLETE seen by the portal.

Compare mode (imzabench compare) runs imzagate serve and Kannel's bearerbox
and smsbox as processes against one test SMSC, drives both over HTTP in
alternating runs and prints submit_sm/s at the SMSC, HTTP p50/p99 and CPU
per 1,000 messages with the ratios imzagate/Kannel, then one full session
as a multiple of one ECDSA P-256 verification (make bench-compare).

Examples:
  imzabench --concurrency 200 --duration 60s
  imzabench --rate 2000 --duration 30s --plots out/
  imzabench --sweep 500,1000,2000,3000 --duration 10s --json out/sweep.json --plots out/
  imzabench --target https://gw:8443 --api-key KEY --users users.csv --rate 100

Flags:
`)
		fs.PrintDefaults()
	}
	return fs, c
}

// run parses args, runs the benchmark and prints the report; it returns the
// exit status (2 for a usage error, 1 for a failed run).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return runCompare(ctx, args[1:], stdout, stderr)
	}
	fs, c := newFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "imzabench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := benchmark(ctx, c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "imzabench: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a bad flag value.
type usageError struct{ error }

func (c *config) options(stderr io.Writer) (bench.Options, []float64, error) {
	mix, err := bench.ParseMix(c.mix)
	if err != nil {
		return bench.Options{}, nil, usageError{err}
	}
	var rates []float64
	if c.sweep != "" {
		if rates, err = bench.ParseRates(c.sweep); err != nil {
			return bench.Options{}, nil, usageError{err}
		}
	}
	if c.plotFmt != "svg" && c.plotFmt != "png" {
		return bench.Options{}, nil, usageError{fmt.Errorf("--plot-format %q: want svg or png", c.plotFmt)}
	}
	o := bench.Options{
		Concurrency: c.concurrency, Rate: c.rate, Duration: c.duration, Warmup: c.warmup, Mix: mix,
		CertificateType: c.certType, HashType: c.hashType, PollTimeout: c.pollTimeout,
		SessionTimeout: c.sessTimeout, MaxInFlight: c.maxInFlight, ProgressInterval: c.progress,
	}
	if !c.quiet {
		o.Progress = stderr
		if f, ok := stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				o.ProgressCR = true
			}
		}
	}
	if c.verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	return o, rates, nil
}

// benchmark runs the load (target or all-in-one) and writes the reports.
func benchmark(ctx context.Context, c *config, stdout, stderr io.Writer) error {
	o, rates, err := c.options(stderr)
	if err != nil {
		return err
	}
	rep := &bench.Report{Version: 1, Generated: time.Now().UTC(), Machine: bench.Machine()}
	if c.target != "" {
		rep.Target = c.target
		err = runTarget(ctx, c, o, rates, rep, stderr)
	} else {
		rep.Target = "all-in-one"
		err = allinone.Run(ctx, allinone.Options{SIMs: c.sims, Alg: c.alg, UserDelay: c.userDelay,
			CPUProfile: c.cpuProfile, Verbose: c.verbose, Log: stderr}, o, rates, rep)
		if errors.Is(err, allinone.ErrOption) {
			err = usageError{err}
		}
	}
	if len(rep.Runs) > 0 {
		out := bench.Outputs{JSON: c.jsonOut, PlotDir: c.plotDir, PlotFormat: c.plotFmt}
		if werr := rep.Write(stdout, out); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func runTarget(ctx context.Context, c *config, o bench.Options, rates []float64, rep *bench.Report, stderr io.Writer) error {
	o.Target = c.target
	o.APIKey = c.apiKey
	if o.APIKey == "" {
		o.APIKey = os.Getenv("IMZABENCH_API_KEY")
	}
	if o.APIKey == "" {
		return usageError{errors.New("--target needs --api-key or $IMZABENCH_API_KEY")}
	}
	users, err := loadUsers(ctx, c, o)
	if err != nil {
		return err
	}
	o.Users = users
	return bench.RunSweep(ctx, o, rates, stderr, func(r *bench.Result) { rep.Runs = append(rep.Runs, r) })
}

func loadUsers(ctx context.Context, c *config, o bench.Options) ([]bench.User, error) {
	if c.usersFile == "" {
		users, err := bench.FetchUsers(ctx, o.Target, o.APIKey, o.HTTPClient)
		if err != nil {
			return nil, usageError{fmt.Errorf("--users not given and the target lists no demo subscribers: %w", err)}
		}
		return users, nil
	}
	f, err := os.Open(c.usersFile)
	if err != nil {
		return nil, usageError{err}
	}
	defer f.Close()
	users, err := bench.ReadUsers(f)
	if err != nil {
		return nil, usageError{err}
	}
	return users, nil
}

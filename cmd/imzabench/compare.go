package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/imzagate/imzagate/bench/compare"
)

// compareUsage introduces `imzabench compare`.
const compareUsage = `usage: imzabench compare [flags]

Side-by-side send-path comparison with Kannel (Debian's kannel package:
bearerbox and smsbox; ` + "`make deps-kannel`" + ` installs it). One test SMSC on
loopback counts the submit_sm it accepts from each gateway's system_id;
imzagate serve (with its own redis-server and freshly provisioned phones)
and Kannel run as processes with generated configurations, each with one
transceiver bind and the same window. Both are driven over HTTP by the
same closed loop (imzagate: POST /v1/authentications; Kannel: a binary
sendsms shaped like an OTA command), in alternating runs of equal length.

Printed per pair and as medians: submit_sm/s at the SMSC, HTTP p50/p99,
CPU per 1,000 messages from /proc (Kannel: bearerbox+smsbox; imzagate:
imzagate serve+redis-server), each with the ratio imzagate/Kannel. Then
one full session of imzagate (this binary's all-in-one closed loop) as a
multiple of one ECDSA P-256 verification timed here.

Example:
  imzabench compare --pairs 5 --run 30s

Flags:
`

// runCompare is `imzabench compare`: it returns the exit status (2 for a
// usage error, 1 for a failed comparison).
func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imzabench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o compare.Options
	fs.IntVar(&o.Concurrency, "concurrency", compare.DefaultConcurrency, "HTTP workers driving each side (closed loop)")
	fs.DurationVar(&o.Run, "run", compare.DefaultRun, "length of each side's run, warm-up included")
	fs.DurationVar(&o.Warmup, "warmup", compare.DefaultWarmup, "first part of each run, loaded but not measured")
	fs.IntVar(&o.Pairs, "pairs", compare.DefaultPairs, "number of run pairs (one imzagate run and one Kannel run each)")
	fs.IntVar(&o.Window, "window", compare.DefaultWindow, "SMPP window of both gateways (imzagate's bind window, Kannel's max-pending-submits)")
	fs.IntVar(&o.Phones, "phones", 0, "phones provisioned for imzagate, one per request (0: 6,000 per second of imzagate load)")
	fs.IntVar(&o.Body, "body", compare.DefaultBody, "octets of binary text in Kannel's SMS after its 3-octet UDH")
	fs.BoolVar(&o.KannelDLR, "kannel-dlr", true, "ask Kannel for a delivery report per message, as imzagate always does")
	fs.StringVar(&o.Imzagate, "imzagate", "", "imzagate binary (default: the one beside this binary, else built with go build)")
	fs.StringVar(&o.Bearerbox, "bearerbox", "", "Kannel's bearerbox (default: on PATH or in /usr/sbin)")
	fs.StringVar(&o.Smsbox, "smsbox", "", "Kannel's smsbox (default: on PATH or in /usr/sbin)")
	full := fs.Duration("full-session", compare.DefaultFullSession, "measured length of the all-in-one full-session run (0 skips it)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the working directory (configurations, logs) and name it")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), compareUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "imzabench compare: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *full < 0 {
		fmt.Fprintln(stderr, "imzabench compare: --full-session must not be negative")
		return 2
	}
	if !*quiet {
		o.Progress = stderr
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "imzabench compare:", err)
		return 1
	}
	if *full > 0 {
		o.Imzabench, o.FullSession = exe, *full
	}
	if o.Imzagate == "" {
		bin, cleanup, err := imzagateBinary(ctx, exe, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "imzabench compare:", err)
			return 1
		}
		defer cleanup()
		o.Imzagate = bin
	}
	rep, err := compare.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "imzabench compare:", err)
		return 1
	}
	if err := rep.WriteText(stdout); err != nil {
		fmt.Fprintln(stderr, "imzabench compare:", err)
		return 1
	}
	return 0
}

// imzagateBinary finds the imzagate binary beside this one (make builds
// both into bin/), or builds it into a temporary directory.
func imzagateBinary(ctx context.Context, exe string, stderr io.Writer) (string, func(), error) {
	beside := filepath.Join(filepath.Dir(exe), "imzagate")
	if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() {
		return beside, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "imzabench-imzagate-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, "imzagate")
	fmt.Fprintln(stderr, "compare: building imzagate (no imzagate binary beside this one)")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/imzagate/imzagate/cmd/imzagate")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building imzagate (give --imzagate, or run from the source tree with go installed): %w", err)
	}
	fmt.Fprintf(stderr, "compare: built imzagate in %s\n", time.Since(start).Round(100*time.Millisecond))
	return bin, cleanup, nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/imzagate/imzagate/bench/compare"
)

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
		fmt.Fprint(fs.Output(), compare.Usage)
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
		bin, cleanup, err := compare.ImzagateBinary(ctx, exe, stderr)
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

package compare

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of the zero Options.
const (
	DefaultConcurrency = 64
	DefaultRun         = 20 * time.Second
	DefaultWarmup      = 2 * time.Second
	DefaultPairs       = 3
	DefaultWindow      = 100
	// DefaultFullSession is the length of the all-in-one full-session run
	// (after its own 2 s warm-up).
	DefaultFullSession = 10 * time.Second
	// DefaultBody is the octets of Kannel's binary text after the UDH, so
	// its short_message is as long as imzagate's sealed AUTHENTICATE (an
	// OTA command packet of one segment); the report prints both sides'
	// mean octets per submit_sm, as the SMSC saw them.
	DefaultBody = 106
	// DefaultPhonesPerSecond sizes the phones provisioned up front.
	DefaultPhonesPerSecond = 3000
)

// Bounds on what a comparison may ask for, so a typo cannot exhaust the
// machine.
const (
	maxConcurrency = 4096
	maxPairs       = 50
	maxRun         = 10 * time.Minute
	maxPhones      = 5_000_000
	maxWindow      = 1000
)

// Options configure one comparison. The zero value of every field but
// Imzagate has a safe default.
type Options struct {
	// Concurrency is the number of closed-loop HTTP workers driving each
	// side. Default 64.
	Concurrency int
	// Run is the length of each side's run, warm-up included. Default 20 s.
	Run time.Duration
	// Warmup is the first part of each run, loaded but not measured.
	// Default 2 s; it must be shorter than Run.
	Warmup time.Duration
	// Pairs is the number of run pairs (one imzagate run and one Kannel
	// run each). Default 3.
	Pairs int
	// Window is the SMPP window of both gateways (imzagate's bind window,
	// Kannel's max-pending-submits) and of the test SMSC. Default 100.
	Window int
	// Phones is the number of subscribers provisioned for imzagate up
	// front: every request uses a phone never used before (one running
	// session per phone, and no SIM answers). Zero provisions
	// PhonesPerSecond for every second of imzagate load. When a run uses
	// phones faster than that, more are provisioned before the next
	// imzagate run, outside the measurement.
	Phones int
	// PhonesPerSecond sizes the default Phones and the margin kept before
	// each run. Default DefaultPhonesPerSecond.
	PhonesPerSecond int
	// Body is the octets of binary text Kannel sends after its UDH.
	// Default DefaultBody.
	Body int
	// KannelDLR asks Kannel for a delivery report per message, handled
	// like imzagate's (which always asks for one): see the package doc.
	KannelDLR bool

	// Imzagate is the imzagate binary (`imzagate serve`, `imzagate
	// provision`). Required.
	Imzagate string
	// Bearerbox and Smsbox are Kannel's binaries; empty looks them up on
	// PATH and in /usr/sbin.
	Bearerbox, Smsbox string
	// Imzabench, when set, is an imzabench binary whose all-in-one closed
	// loop gives the full-session CPU figure; empty skips that figure.
	Imzabench string
	// FullSession is the measured length of that run. Default 10 s.
	FullSession time.Duration
	// VerifyTime is how long the ECDSA P-256 verification is timed.
	// Default 1 s.
	VerifyTime time.Duration

	// Progress receives one line per step and every 5 s of load; nil
	// prints nothing.
	Progress io.Writer
	// Keep leaves the working directory (configurations, logs) in place
	// and names it in the report.
	Keep bool
}

// validate fills defaults and checks bounds; the error names the field.
func (o *Options) validate() error {
	if o.Imzagate == "" {
		return errors.New("compare: the imzagate binary is required")
	}
	// The gateways run in the working directory: a relative path would
	// name nothing there.
	for _, p := range []*string{&o.Imzagate, &o.Imzabench, &o.Bearerbox, &o.Smsbox} {
		if *p != "" && strings.ContainsRune(*p, filepath.Separator) {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return fmt.Errorf("compare: %s: %w", *p, err)
			}
			*p = abs
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Concurrency, DefaultConcurrency)
	def(&o.Pairs, DefaultPairs)
	def(&o.Window, DefaultWindow)
	def(&o.PhonesPerSecond, DefaultPhonesPerSecond)
	def(&o.Body, DefaultBody)
	if o.Run == 0 {
		o.Run = DefaultRun
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.FullSession == 0 {
		o.FullSession = DefaultFullSession
	}
	if o.VerifyTime == 0 {
		o.VerifyTime = time.Second
	}
	switch {
	case o.Concurrency < 1 || o.Concurrency > maxConcurrency:
		return fmt.Errorf("compare: concurrency %d: want 1..%d", o.Concurrency, maxConcurrency)
	case o.Pairs < 1 || o.Pairs > maxPairs:
		return fmt.Errorf("compare: pairs %d: want 1..%d", o.Pairs, maxPairs)
	case o.Run <= 0 || o.Run > maxRun:
		return fmt.Errorf("compare: run %v: want up to %v", o.Run, maxRun)
	case o.Warmup < 0 || o.Warmup >= o.Run:
		return fmt.Errorf("compare: warm-up %v: want at least 0 and shorter than the run (%v)", o.Warmup, o.Run)
	case o.Window < 1 || o.Window > maxWindow:
		return fmt.Errorf("compare: window %d: want 1..%d", o.Window, maxWindow)
	case o.Body < 1 || o.Body > maxBody:
		return fmt.Errorf("compare: body %d octets: want 1..%d (one SMS after the UDH)", o.Body, maxBody)
	case o.PhonesPerSecond < 1 || o.Phones < 0 || o.Phones > maxPhones:
		return fmt.Errorf("compare: phones %d: want 0 (sized from the run) up to %d", o.Phones, maxPhones)
	case o.FullSession < 0 || o.FullSession > maxRun || o.VerifyTime < 0 || o.VerifyTime > time.Minute:
		return errors.New("compare: full-session and verify times must be positive and bounded")
	}
	if o.Phones == 0 {
		o.Phones = min(maxPhones, int(float64(o.PhonesPerSecond)*o.Run.Seconds())*o.Pairs)
	}
	return nil
}

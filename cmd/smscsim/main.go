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
	"strings"
	"syscall"
	"time"

	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/smpp/smsc"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintln(os.Stderr, "smscsim:", err)
		return 1
	}
	return 0
}

// serve parses args, starts the SMSC (with a SIM farm behind it when
// --sims is given, after writing the exports), prints "listening on ADDR"
// to out and serves until ctx ends.
func serve(ctx context.Context, args []string, out, logOut io.Writer) error {
	fs := flag.NewFlagSet("smscsim", flag.ContinueOnError)
	fs.SetOutput(logOut)
	listen := fs.String("listen", "127.0.0.1:2775", "address to listen on")
	accounts := fs.String("accounts", "", "system_id:password[,system_id:password] (required)")
	window := fs.Int("window", 100, "submits in flight allowed per bind before ESME_RTHROTTLED")
	var f smsc.Faults
	fs.IntVar(&f.ThrottleEvery, "throttle-every", 0, "answer every Nth submit_sm with ESME_RTHROTTLED")
	fs.DurationVar(&f.Delay, "delay", 0, "delay every submit_sm_resp")
	fs.IntVar(&f.DropEvery, "drop-every", 0, "never answer every Nth submit_sm")
	fs.IntVar(&f.DisconnectAfter, "disconnect-after", 0, "drop a connection after N requests")
	fs.BoolVar(&f.RefuseBinds, "refuse-binds", false, "answer every bind with ESME_RBINDFAIL")
	fs.IntVar(&f.OutOfOrder, "out-of-order", 0, "answer submits reversed in groups of N")
	undeliv := fs.String("undeliv", "", "comma-separated MSISDNs whose receipts say UNDELIV")
	expired := fs.String("expired", "", "comma-separated MSISDNs whose receipts say EXPIRED")
	decimal := fs.Bool("receipt-id-decimal", false, "write receipt ids in decimal (submit_sm_resp ids are hex)")
	verbose := fs.Bool("v", false, "debug logging")
	so := simFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	accts, err := parseAccounts(*accounts)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	receipts := map[string]smsc.Outcome{}
	for _, n := range splitList(*undeliv) {
		receipts[n] = smsc.Undeliverable
	}
	for _, n := range splitList(*expired) {
		receipts[n] = smsc.Expired
	}
	opts := smsc.Options{Accounts: accts, Window: *window, Receipts: receipts, ReceiptIDDecimal: *decimal, Faults: f, Logger: log}
	closeCA, err := so.attach(&opts, out, log)
	if err != nil {
		return err
	}
	defer closeCA()
	srv, err := smsc.Start(*listen, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "listening on %s\n", srv.Addr())
	<-ctx.Done()
	st := srv.Stats()
	fmt.Fprintf(out, "binds %d submits %d throttled %d deliveries %d redeliveries %d receipts %d lost %d\n",
		st.Binds, st.Submits, st.Throttled, st.Deliveries, st.Redeliveries, st.Receipts, st.Lost)
	return srv.Close()
}

// simFlags registers the flags of the SIM farm.
func simFlags(fs *flag.FlagSet) *simOptions {
	so := &simOptions{}
	fs.IntVar(&so.sims, "sims", 0, "simulated SIM cards behind the SMSC (0: none, submits are only answered and receipted)")
	fs.StringVar(&so.masterKeys, "master-keys", "", "the gateway's master-keys file (secrets.masterKeysFile); required with --sims")
	fs.StringVar(&so.seed, "seed", simcard.DemoSeed, "seed of the cards' numbers, User IDs and keys (the demo's by default)")
	fs.DurationVar(&so.userDelay, "user-delay", 3*time.Second, "how long a simulated user takes per step")
	fs.StringVar(&so.prefixes, "prefixes", "99450,99455,99470", "E.164 prefixes (5 digits) the cards' numbers are spread over")
	fs.StringVar(&so.operator, "operator", "simulated", "operator name written into the provisioning file")
	fs.StringVar(&so.subscribers, "export-subscribers", "", "write the cards' provisioning file (for imzagate provision) to FILE")
	fs.StringVar(&so.caFile, "export-ca", "", "write the PEM certificate of the simulated CA's root (the gateway's trust.roots) to FILE")
	fs.StringVar(&so.interFile, "export-issuing-ca", "", "write the PEM certificate of the CA that issued the cards' certificates (trust.intermediates) to FILE")
	fs.StringVar(&so.caListen, "ca-listen", "127.0.0.1:2776", "with --sims: where the simulated CA serves OCSP and its CRLs (the cards' certificates name it)")
	return so
}

// attach starts the simulated CA, builds the farm, writes the exports and
// makes the farm the SMSC's handsets; without --sims it only refuses
// export flags. The function it returns stops the CA.
func (so *simOptions) attach(opts *smsc.Options, out io.Writer, log *slog.Logger) (func(), error) {
	if so.sims == 0 {
		if so.subscribers != "" || so.caFile != "" || so.interFile != "" || so.masterKeys != "" {
			return nil, errors.New("--master-keys, --export-subscribers, --export-ca and --export-issuing-ca need --sims N")
		}
		return func() {}, nil
	}
	ca, err := serveCA(*so)
	if err != nil {
		return nil, err
	}
	closeCA := func() { _ = ca.Close() }
	farm, err := newFarm(*so, ca.Issuing, log.With("component", "simcard"))
	if err == nil {
		err = so.export(farm, ca, out)
	}
	if err != nil {
		closeCA()
		return nil, err
	}
	card := farm.Card(0)
	fmt.Fprintf(out, "%d simulated SIMs; try +%s with User ID %s (%s)\n", farm.Len(), card.MSISDN(), card.UserID(), card.Behaviour().Label())
	fmt.Fprintf(out, "certification authority: OCSP and CRLs on %s\n", ca.URL())
	opts.Handset = farm
	return closeCA, nil
}

// export writes the files the export flags ask for.
func (so *simOptions) export(farm *simcard.Farm, ca *testca.Hierarchy, out io.Writer) error {
	if so.subscribers != "" {
		if err := exportSubscribers(farm, so.operator, so.subscribers); err != nil {
			return fmt.Errorf("--export-subscribers: %w", err)
		}
		fmt.Fprintf(out, "wrote %d subscribers to %s\n", farm.Len(), so.subscribers)
	}
	for _, e := range []struct {
		flag, path, what string
		ca               *testca.CA
	}{{"--export-ca", so.caFile, "root", ca.Root}, {"--export-issuing-ca", so.interFile, "issuing CA", ca.Issuing}} {
		if e.path == "" {
			continue
		}
		if err := exportCert(e.ca, e.path); err != nil {
			return fmt.Errorf("%s: %w", e.flag, err)
		}
		fmt.Fprintf(out, "wrote the simulated CA's %s certificate to %s\n", e.what, e.path)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseAccounts reads "id:password[,id:password]".
func parseAccounts(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range splitList(s) {
		id, pw, ok := strings.Cut(kv, ":")
		if !ok || id == "" || len(id) > 15 || len(pw) > 8 {
			return nil, fmt.Errorf("-accounts: bad entry %q: want id:password (id ≤ 15, password ≤ 8 characters)", kv)
		}
		out[id] = pw
	}
	if len(out) == 0 {
		return nil, errors.New("-accounts is required")
	}
	return out, nil
}

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

// serve parses args, starts the SMSC, prints "listening on ADDR" to out and
// serves until ctx ends.
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	accts, err := parseAccounts(*accounts)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	receipts := map[string]smsc.Outcome{}
	for _, n := range splitList(*undeliv) {
		receipts[n] = smsc.Undeliverable
	}
	for _, n := range splitList(*expired) {
		receipts[n] = smsc.Expired
	}
	srv, err := smsc.Start(*listen, smsc.Options{
		Accounts:         accts,
		Window:           *window,
		Receipts:         receipts,
		ReceiptIDDecimal: *decimal,
		Faults:           f,
		Logger:           slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})),
	})
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

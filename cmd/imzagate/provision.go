package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/sessions"
)

// runProvision is `imzagate provision --redis URL FILE`: import subscribers
// and their certificates (the JSON-lines format of sessions.ImportSubscribers;
// "-" reads standard input). The pepper comes from IMZAGATE_PEPPER, the same
// secret the gateway uses, or the User ID hashes would not match.
func runProvision(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	redisURL := fs.String("redis", "", "Redis URL, e.g. redis://127.0.0.1:6379/0")
	pepperEnv := fs.String("pepper-env", "IMZAGATE_PEPPER", "environment variable holding the store's pepper")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *redisURL == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: imzagate provision --redis URL FILE")
		return 2
	}
	pepper := os.Getenv(*pepperEnv)
	if pepper == "" {
		fmt.Fprintf(stderr, "imzagate provision: %s is not set (the pepper the gateway uses)\n", *pepperEnv)
		return 1
	}
	ro, err := redis.ParseURL(*redisURL)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return 2
	}
	ro.ContextTimeoutEnabled = true
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	st, err := sessions.New(rdb, sessions.Options{Pepper: []byte(pepper)})
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return 1
	}
	defer st.Close()
	var in io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "imzagate provision:", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := st.ImportSubscribers(ctx, in, func(n int) {
		if n%100000 == 0 {
			fmt.Fprintf(stderr, "%d imported\n", n)
		}
	})
	fmt.Fprintf(stdout, "%d subscribers imported\n", n)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", strings.TrimPrefix(err.Error(), "sessions: "))
		return 1
	}
	return 0
}

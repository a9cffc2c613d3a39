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

	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions"
)

// runProvision is `imzagate provision --config FILE FILE` (or --redis URL):
// import subscribers and their certificates (the JSON-lines format of
// sessions.ImportSubscribers; "-" reads standard input). With --config the
// Redis and the pepper are the gateway's own, read from its configuration,
// so the User ID hashes cannot differ from the ones serve computes; with
// --redis the pepper comes from IMZAGATE_PEPPER (or --pepper-env).
func runProvision(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the gateway's configuration: Redis and pepper as serve uses them")
	redisURL := fs.String("redis", "", "Redis URL, e.g. redis://127.0.0.1:6379/0 (instead of --config)")
	pepperEnv := fs.String("pepper-env", "IMZAGATE_PEPPER", "with --redis: environment variable holding the store's pepper")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*redisURL == "") == (*config == "") || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: imzagate provision (--config FILE | --redis URL) SUBSCRIBERS-FILE")
		return 2
	}
	var (
		rdb    redis.UniversalClient
		pepper []byte
		code   int
	)
	if *config != "" {
		rdb, pepper, code = provisionTarget(*config, stderr)
	} else {
		rdb, pepper, code = provisionURL(*redisURL, *pepperEnv, stderr)
	}
	if code != 0 {
		return code
	}
	defer rdb.Close()
	return importFile(rdb, pepper, fs.Arg(0), stdout, stderr)
}

// provisionTarget reads Redis and the pepper from the gateway's configuration.
func provisionTarget(path string, stderr io.Writer) (redis.UniversalClient, []byte, int) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return nil, nil, 1
	}
	cfg, err := gateway.ParseConfig(f)
	f.Close()
	if err != nil {
		// Say what is wrong in the check's words, not the decoder's.
		if problems, cerr := checkConfigFile(path); cerr == nil && len(problems) > 0 {
			printProblems(stderr, path, problems)
		} else {
			fmt.Fprintln(stderr, "imzagate provision:", err)
		}
		return nil, nil, 1
	}
	pepper, err := cfg.Pepper(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return nil, nil, 1
	}
	ro, err := cfg.RedisOptions(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return nil, nil, 1
	}
	return redis.NewUniversalClient(ro), pepper, 0
}

// provisionURL connects to a Redis URL with the pepper from a variable.
func provisionURL(url, pepperEnv string, stderr io.Writer) (redis.UniversalClient, []byte, int) {
	pepper := os.Getenv(pepperEnv)
	if pepper == "" {
		fmt.Fprintf(stderr, "imzagate provision: %s is not set (the pepper the gateway uses)\n", pepperEnv)
		return nil, nil, 1
	}
	if err := gateway.CheckPepper([]byte(pepper)); err != nil {
		fmt.Fprintf(stderr, "imzagate provision: %s: %v\n", pepperEnv, err)
		return nil, nil, 1
	}
	ro, err := redis.ParseURL(url)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return nil, nil, 2
	}
	ro.ContextTimeoutEnabled = true
	return redis.NewClient(ro), []byte(pepper), 0
}

// importFile imports the subscribers of name ("-": standard input).
func importFile(rdb redis.UniversalClient, pepper []byte, name string, stdout, stderr io.Writer) int {
	st, err := sessions.New(rdb, sessions.Options{Pepper: pepper})
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return 1
	}
	defer st.Close()
	var in io.Reader = os.Stdin
	if name != "-" {
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
		if strings.Contains(err.Error(), "unavailable") || strings.Contains(err.Error(), "connect") {
			fmt.Fprintln(stderr, "  is Redis running at the configured address? (redis-cli -h HOST -p PORT ping)")
		}
		return 1
	}
	return 0
}

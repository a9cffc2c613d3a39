package main

import (
	"context"
	"errors"
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

// provisionHelp explains the command and where its format is documented.
const provisionHelp = `usage: imzagate provision (--config FILE | --redis URL) [--pepper-env NAME] FILE

Imports subscribers and their certificates from FILE ("-" reads standard
input): JSON lines, one subscriber per line. The format is documented in
docs/provisioning.md, with a JSON Schema in docs/provisioning.schema.json and
a sample in docs/provisioning.sample.jsonl.

--config reads the Redis settings (single server, Sentinel or Cluster) and
the pepper from the gateway's own configuration file, as serve does; --redis
names a single server by URL, the pepper then comes from IMZAGATE_PEPPER (or
--pepper-env). The pepper must be the gateway's: the first import stores a
keyed canary of it, and every later import and every gateway start check it
before anything else, so a wrong pepper stops the import before its first
line. A bad line stops the import with its line number, field and what is
wrong; the lines before it are stored, and running the fixed file again is
safe (a later line for a phone replaces the earlier one).
`

// runProvision is `imzagate provision`.
func runProvision(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, provisionHelp) }
	redisURL := fs.String("redis", "", "Redis URL of a single server, e.g. redis://127.0.0.1:6379/0")
	config := fs.String("config", "", "the gateway's configuration file (its redis and secrets sections are used)")
	pepperEnv := fs.String("pepper-env", "IMZAGATE_PEPPER", "with --redis: environment variable holding the store's pepper")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (*redisURL == "") == (*config == "") || fs.NArg() != 1 {
		fmt.Fprint(stderr, provisionHelp)
		return 2
	}
	rdb, pepper, code := provisionTarget(*config, *redisURL, *pepperEnv, stderr)
	if rdb == nil {
		return code
	}
	defer rdb.Close()
	st, err := sessions.New(rdb, sessions.Options{Pepper: pepper})
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
	if created, err := st.CheckPepper(ctx, true); err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", strings.TrimPrefix(err.Error(), "sessions: "))
		fmt.Fprintln(stderr, "nothing was imported")
		return 1
	} else if created {
		fmt.Fprintln(stderr, "pepper canary stored: later imports and gateway starts will check the pepper against it")
	}
	n, err := st.ImportSubscribers(ctx, in, func(n int) {
		if n%100000 == 0 {
			fmt.Fprintf(stderr, "%d imported\n", n)
		}
	})
	fmt.Fprintf(stdout, "%d subscribers imported\n", n)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", importHint(err))
		return 1
	}
	return 0
}

// provisionTarget builds the Redis client and reads the pepper, from the
// configuration file or from the URL and environment. A nil client comes
// with the exit code.
func provisionTarget(config, redisURL, pepperEnv string, stderr io.Writer) (redis.UniversalClient, []byte, int) {
	if config != "" {
		f, err := os.Open(config)
		if err != nil {
			fmt.Fprintln(stderr, "imzagate provision:", err)
			return nil, nil, 1
		}
		cfg, err := gateway.ParseConfig(f)
		f.Close()
		if err != nil {
			// Say what is wrong in the check's words, not the decoder's.
			if problems, cerr := checkConfigFile(config); cerr == nil && len(problems) > 0 {
				printProblems(stderr, config, problems)
			} else {
				fmt.Fprintln(stderr, "imzagate provision:", err)
			}
			return nil, nil, 1
		}
		ro, err := cfg.RedisOptions(os.LookupEnv)
		if err != nil {
			fmt.Fprintln(stderr, "imzagate provision:", err)
			return nil, nil, 1
		}
		pepper, err := cfg.Pepper(os.LookupEnv)
		if err != nil {
			fmt.Fprintln(stderr, "imzagate provision:", err)
			return nil, nil, 1
		}
		return redis.NewUniversalClient(ro), pepper, 0
	}
	pepper := os.Getenv(pepperEnv)
	if pepper == "" {
		fmt.Fprintf(stderr, "imzagate provision: %s is not set (the pepper the gateway uses)\n", pepperEnv)
		return nil, nil, 1
	}
	if err := gateway.CheckPepper([]byte(pepper)); err != nil {
		fmt.Fprintf(stderr, "imzagate provision: %s: %v\n", pepperEnv, err)
		return nil, nil, 1
	}
	ro, err := redis.ParseURL(redisURL)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate provision:", err)
		return nil, nil, 2
	}
	ro.ContextTimeoutEnabled = true
	return redis.NewClient(ro), []byte(pepper), 0
}

// importHint turns an import error into its message and what to do.
func importHint(err error) string {
	msg := strings.ReplaceAll(err.Error(), "sessions: import: ", "")
	msg = strings.ReplaceAll(msg, "sessions: invalid input: ", "")
	switch {
	case errors.Is(err, sessions.ErrInvalid):
		return msg + "\n  fix that line (docs/provisioning.md lists every field and its format) and run the import again;" +
			" the lines before it are stored and importing them again is harmless"
	case errors.Is(err, sessions.ErrUnavailable):
		return msg + "\n  Redis did not answer: check the redis settings and run the import again (it is idempotent)"
	}
	return msg
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/gateway"
)

// runServe is `imzagate serve --config FILE`: the production gateway.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML configuration file (see deploy/imzagate.example.yaml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: imzagate serve --config FILE")
		return 2
	}
	problems, err := checkConfigFile(*path)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate serve:", err)
		return 1
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, "imzagate serve: the configuration has problems; nothing was started")
		printProblems(stderr, *path, problems)
		return 1
	}
	f, err := os.Open(*path)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate serve:", err)
		return 1
	}
	cfg, err := gateway.ParseConfig(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(stderr, "imzagate serve:", err)
		return 1
	}
	opts, err := cfg.Options(os.LookupEnv, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate serve:", err)
		return 1
	}
	defer opts.Redis.Close()
	redis.SetLogger(gateway.RedisLogger(opts.Logger))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	warnRedis(ctx, opts.Redis, cfg, opts.Logger)
	if err := gateway.Run(ctx, opts); err != nil {
		fmt.Fprintln(stderr, "imzagate serve:", err)
		return 1
	}
	return 0
}

// warnRedis pings Redis once before the gateway starts and warns, naming
// the configured addresses, when it does not answer: the gateway still
// starts (Redis may come up later, and /readyz says unready meanwhile), but
// every request fails with STORE_UNAVAILABLE until it does.
func warnRedis(ctx context.Context, rdb redis.UniversalClient, cfg *gateway.Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		attrs := []slog.Attr{slog.String("addrs", strings.Join(cfg.Redis.Addrs, ",")), slog.String("err", err.Error())}
		if cfg.Redis.MasterName != "" {
			attrs = append(attrs, slog.String("master_name", cfg.Redis.MasterName))
		}
		log.LogAttrs(ctx, slog.LevelWarn, "redis unreachable at startup; requests fail with STORE_UNAVAILABLE until it answers", attrs...)
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/imzagate/imzagate/gateway/demo"
)

// runDemo is `imzagate demo`: the whole system in one process, nothing to set up.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "127.0.0.1:8080", "portal API and demo page address")
	adminAddr := fs.String("admin", "127.0.0.1:9090", `admin address (/metrics, /healthz, /readyz, /debug/pprof/); "off" disables`)
	redisURL := fs.String("redis", "", "use this Redis (redis://host:port/db) instead of the embedded one")
	sims := fs.Int("sims", 1000, "number of simulated SIMs")
	apiKey := fs.String("api-key", "", "the demo portal's API key (default: generated and printed)")
	verbose := fs.Bool("v", false, "log every request and session (text)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: imzagate demo [--http ADDR] [--redis URL] [--sims N] [--api-key KEY]")
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	opts := demo.Options{
		HTTPAddr: *httpAddr, AdminAddr: *adminAddr, RedisURL: *redisURL, SIMs: *sims, APIKey: *apiKey,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, opts, stdout); err != nil {
		fmt.Fprintln(stderr, "imzagate demo:", err)
		return 1
	}
	return 0
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gateway.Run(ctx, opts); err != nil {
		fmt.Fprintln(stderr, "imzagate serve:", err)
		return 1
	}
	return 0
}

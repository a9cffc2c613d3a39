package smsctest

import (
	"log/slog"
	"testing"

	"github.com/imzagate/imzagate/smpp/smsc"
)

// Start runs a test SMSC on 127.0.0.1:0 and closes it when the test ends.
// With no accounts it gets one: "esme"/"secret". A nil Logger logs to the
// test output.
func Start(t testing.TB, opts smsc.Options) *smsc.Server {
	t.Helper()
	if len(opts.Accounts) == 0 {
		opts.Accounts = map[string]string{"esme": "secret"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := smsc.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("smsctest: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

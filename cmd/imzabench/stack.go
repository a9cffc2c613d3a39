package main

import (
	"context"
	"errors"
	"flag"
	"github.com/imzagate/imzagate/bench"
	"io"
)

// stackOptions describe the all-in-one gateway the child runs.
type stackOptions struct {
	RedisAddr string    // the private redis-server
	SIMs      int       // simulated SIMs to provision
	Alg       string    // their signature algorithm: ecdsa-p256, ed25519, ml-dsa-44
	UserDelay userDelay // how long simulated users take to answer
	Verbose   bool      // log the gateway's events to Log
	Log       io.Writer
}

// stack is the running all-in-one gateway.
type stack struct {
	url    string
	apiKey string
	users  []bench.User
	close  func()
}

// errNoDemoWiring is returned until the gateway exports its all-in-one
// demo wiring (the gateway, the test SMSC over loopback SMPP and the SIM
// farm, started on :0 against a given Redis with a given SIM count).
var errNoDemoWiring = errors.New("the gateway's all-in-one demo wiring is not in this tree yet; run against a gateway with --target")

// startStack starts the gateway, the test SMSC and the SIM farm against
// opts.RedisAddr and provisions the subscribers.
func startStack(ctx context.Context, opts stackOptions) (*stack, error) {
	_ = ctx
	_ = opts
	return nil, errNoDemoWiring
}

func flagSetChild(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("imzabench "+childArg, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

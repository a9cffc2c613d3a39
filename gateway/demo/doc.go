// Package demo is the all-in-one demo behind `imzagate demo` and `make
// run`: the whole product in one process with nothing to set up. The
// stack itself (Redis, simulated SIMs, test SMSC, gateway) is package
// internal/simstack; this package gives it the demo's fixed seed, its mix
// of scripted users and its portal, and adds the demo page.
//
// # Protocol flow
//
//	Start:  simstack.Start: embedded Redis (or --redis URL), --sims SIMs
//	        from the seed "imzagate-demo" (so the README can name card 0),
//	        scripted users (approve, cancel, wrong PIN, no answer), the
//	        test SMSC on a loopback port, every SIM provisioned, the
//	        gateway bound to the SMSC over real SMPP
//	        describe every subscriber with its certificates
//	Request: portal → gateway → Redis → SMPP submit_sm → SMSC → Farm.HandleMT
//	         card → reply(MO) → SMSC deliver_sm → gateway correlator → Redis
//
// The gateway's production router knows nothing of the demo: the demo
// wraps the API handler (gateway.Options.Handler) in a mux of its own that
// also serves GET /v1/demo/subscribers (the simulated users with their
// User IDs and scripted behaviour, behind the demo portal's API key) and
// the demo portal page at "/" (package webui).
package demo

// Package demo wires the all-in-one demo behind `imzagate demo` and `make
// run`: the whole product in one process with nothing to set up.
//
// # Protocol flow
//
//	Start:  embedded Redis (or --redis URL)
//	        testca.Serve: the cards' CA (root → issuing CA) with OCSP and
//	                      CRLs on a loopback listener; the gateway trusts it
//	        simcard.Farm: --sims cards from a fixed seed, scripted users
//	        smsc.Start(127.0.0.1:0, Handset: farm)   the simulated operator
//	        gateway.Start: API, admin, sessions store, SMPP pool bound to the
//	                       SMSC over a real loopback socket
//	        every card provisioned into the store (User ID hashed)
//	Request: portal → gateway → Redis → SMPP submit_sm → SMSC → Farm.HandleMT
//	         card → reply(MO) → SMSC deliver_sm → gateway correlator → Redis
//
// The gateway's production router knows nothing of the demo: the demo
// wraps the API handler (gateway.Options.Handler) in a mux of its own that
// also serves GET /v1/demo/subscribers (the simulated users with their
// User IDs and scripted behaviour, behind the demo portal's API key) and
// the demo portal page at "/" (package webui).
package demo

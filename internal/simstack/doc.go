// Package simstack runs the whole product on one machine against a
// simulated operator: a real or embedded Redis, a farm of simulated SIMs,
// the test SMSC in front of them on a loopback port, every SIM provisioned
// as a subscriber, and one or more gateway instances bound to the SMSC
// over real SMPP. It is the one place that wires this stack; `imzagate
// demo` (package gateway/demo adds its page on top), the benchmark's
// all-in-one run (bench/allinone) and the end-to-end tests of the gateway
// all start it.
//
// Nothing here is faked inside the gateway: portals talk HTTP to its API,
// sessions live in Redis, OTA commands are sealed and travel as submit_sm
// over TCP, and the simulated cards (package applet/simcard) decrypt and
// check them, ask their scripted user, sign with real keys and answer with
// secured MOs the SMSC delivers back. What is simulated is only what a
// test cannot have: the operator's SMSC and the SIMs in people's phones.
//
// # Protocol flow
//
//	Start:  validate Options (random master keys, pepper, SMSC password
//	                          and portal keys unless given)
//	        simcard.New: SIMs from Seed (numbers, User IDs, keys), scripted
//	                     users (Behaviour, or approve after UserDelay.At(i))
//	        Redis: embedded (miniredis) | Addrs | URL | the caller's Client
//	        smsc.Start(127.0.0.1:0, Handset: farm, Receipts by SIM)
//	        provision: every SIM's Entry → Store.PutSubscriber (parallel)
//	        StartInstance (unless NoGateway): gateway.Start with the
//	                     simulated operator's binds (prefix 994) and any
//	                     further Operators; wait until its binds are up
//	Request: portal → gateway API → Redis → submit_sm → SMSC → Farm.HandleMT
//	         card → reply (MO segments) → SMSC deliver_sm → any instance's
//	         correlator → Redis → the portal's long-poll answers
//	Shutdown: instances (latest first, gracefully), SMSC, store, Redis
//
// Several instances share one Redis and one SMPP account, as a fleet
// does: the SMSC hands each MO to whichever bind it picks, so the
// multi-instance tests see replies cross instances.
package simstack

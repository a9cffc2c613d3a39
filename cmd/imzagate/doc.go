// Command imzagate is the gateway's single binary. Each subcommand lives in
// its own file and registers in the subcommands table of main.go.
//
//	imzagate serve --config FILE     production: Redis (single, Sentinel or Cluster),
//	                                 operators' SMPP binds, portals; secrets from env/files
//	imzagate demo [--sims N]         all in one: embedded Redis, test SMSC over loopback
//	                                 SMPP, simulated SIMs, the demo portal page
//	imzagate provision --config FILE|--redis URL FILE   import subscribers and
//	                                 certificates (docs/provisioning.md)
//	imzagate admin COMMAND ...       the admin API from a terminal (docs/admin.md §5)
//	imzagate audit verify --public-key KEY FILE   verify an exported audit trail offline
//	imzagate config check FILE       every problem of a configuration at once
//	imzagate secrets generate --out DIR   pepper, master keys, API key and its hash
//	imzagate smoke --url URL --phone P --user-id U [--sign]   one login (and a
//	                                 signature) against a running gateway, verified
//	imzagate ota seal|open ...       seal or open OTA secured packets (operators' engineers)
//	imzagate asic pack --manifest F --signature F --out F.asice DOC...
//	                                 a portal's ASiC-E container from the gateway's parts
//	imzagate version
//
// Flow of serve and demo: parse flags and configuration into gateway.Options
// (serve first runs gateway.CheckConfig and refuses with the full list of
// problems), then signal.NotifyContext, then gateway.Run, which serves until SIGINT or
// SIGTERM (or until a listener fails, which ends the process with an error)
// and drains within the configured bound (new starts answered 503,
// in-flight sessions finish, binds unbind).
//
// The process-level tests in this directory run real gateway processes over
// real Redis, Sentinel and Cluster servers to prove the scale-out and failure
// behaviour (see README, "Scale-out and failure").
package main

// Package compare measures imzagate beside Kannel on the send path, on
// one machine, the way an operator choosing an SMS gateway would: the same
// HTTP load against each, the same test SMSC behind both, and figures
// that are ratios, since the absolute ones depend on a shared machine.
//
// # Flow
//
//	start the test SMSC on loopback: accounts "imzagate" and "kannel",
//	    counting the submit_sm it accepts per system_id
//	start redis-server; provision N phones through `imzagate provision`
//	start `imzagate serve` (generated YAML, secrets in its environment)
//	start Kannel's bearerbox, then smsbox (generated kannel.conf)
//	for each pair (the side run first alternates):
//	    for each side:
//	        closed loop: C HTTP workers, one request after another, for
//	        the run's length; the first part (warm-up) is not measured
//	        imzagate: POST /v1/authentications, a fresh phone each time
//	        Kannel:   GET /cgi-bin/sendsms, a binary SMS
//	        wait until the side has sent what it accepted and is quiet
//	stop both; time one ECDSA P-256 verification; run imzabench's
//	all-in-one full-session closed loop for the gateway's CPU per session
//
// Both gateways' processes are started once: only the load alternates.
//
// # What is measured
//
// Throughput is submit_sm per second accepted by the test SMSC from each
// side's system_id in the measured window: what left the gateway, not
// what its HTTP interface answered. Latency is the HTTP round trip of
// accepted requests (HDR histogram, p50 and p99). CPU is user+system time
// from /proc/<pid>/stat of each side's processes (Kannel: bearerbox and
// smsbox; imzagate: imzagate serve and its redis-server), from the start
// of a run until the side has sent all it accepted and gone quiet, per
// 1,000 submit_sm over the same span. Each pair gives the ratios
// imzagate/Kannel; the report's headline is the median of each ratio over
// the pairs.
//
// # Why the comparison is fair
//
// Both sides do the same job end to end: an HTTP request in, one binary
// SMS (an OTA command packet: the 027000 user data header, protocol id
// 0x7F, data coding 0xF6, about 100 octets) out as a submit_sm, accepted
// by the same SMSC, over one transceiver bind with the same window, with
// a delivery receipt asked for and handled (imzagate always asks for one
// and records it in the session, where the portal reads it; Kannel is
// sent dlr-mask 3 with a dlr-url, its standard way of telling the
// application, so it keeps the DLR, matches the receipt and calls the URL
// back). Options.KannelDLR false leaves Kannel without delivery tracking,
// doing less per message than imzagate: a lower bound on Kannel's cost
// rather than a like-for-like figure. Both log at
// error level or quieter and persist nothing to disk. The load, the SMSC
// and the DLR sink run in this process, the same for both, and the report
// gives their CPU beside the gateways'. The one visible difference in the
// PDUs is Kannel's esm_class 0x43 against imzagate's 0x40: Kannel asks for
// store-and-forward mode, which the test SMSC treats like the default.
//
// imzagate does more per message: it checks the User ID against the
// registry (a keyed hash in Redis), applies the certificate policy,
// stores a session (one per phone), derives the card's OTA keys and seals
// the command (encryption and checksum), and answers only once the SMSC
// has accepted the submit_sm, with the session id. Kannel answers as soon
// as bearerbox has queued the message, before it is submitted. So
// imzagate's HTTP latency includes an SMPP round trip that Kannel's does
// not, and a Kannel backlog (accepted, not yet submitted) is reported
// and waited for before the CPU figure is read.
//
// No SIM answers: there is no SIM farm behind the SMSC, so imzagate's
// sessions stay running, and every request uses a phone never used
// before (one running session per phone). The user timeout is the
// longest allowed (255 s), so no session times out during the
// comparison and imzagate does no timeout work Kannel has no counterpart
// for. The full-session figure comes from a separate run in which
// simulated SIMs do answer.
//
// # Full session against one verification
//
// The gateway's CPU per full session (start, submit, the card's reply
// decrypted, its signature verified, the session completed and read)
// is set against one ecdsa.VerifyASN1 on P-256 timed in this process:
// "full session = X × one ECDSA P-256 verify". The CPU comes from
// imzabench's all-in-one run, whose gateway process also holds the test
// SMSC and the simulated SIMs, so it is an upper bound.
package compare

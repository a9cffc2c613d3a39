// Command smscsim runs the test SMSC: it accepts SMPP 3.4 binds for the
// given accounts, answers submit_sm, sends delivery receipts and can inject
// faults. Without --sims it only answers submits and sends receipts, so a
// gateway's sessions through it end TIMEOUT; with --sims N a farm of N
// simulated SIM cards answers them, as the demo's do.
//
//	smscsim -listen 127.0.0.1:2775 -accounts esme:secret,other:pw -throttle-every 10
//	smscsim --accounts imzagate:PW --sims 1000 --master-keys secrets/master-keys \
//	        --export-subscribers subscribers.jsonl --export-ca sim-ca.pem \
//	        --export-issuing-ca sim-issuing-ca.pem
//
// Flow: it reads the master-keys file (the one the gateway's
// secrets.masterKeysFile names: every card's OTA keys derive from it),
// builds the farm from --seed (the demo's by default, so card 0 is
// +994501000000 with User ID 437234) with the demo's scripted users
// (simcard.DemoMix), serves a simulated certification authority on
// --ca-listen (a root and an issuing CA, OCSP and CRLs, named in the cards'
// certificates), writes the cards' provisioning file for `imzagate
// provision` and the CA's root and issuing certificates, then listens, accepts binds checked against -accounts, answers each
// submit_sm with a message id (or an injected fault), hands binary MTs to
// the card with that number, delivers each card reply as deliver_sm and
// sends a delivery receipt to a receiver or transceiver bind of the same
// account; see package smpp/smsc for the protocol details.
package main

// Command smscsim runs the test SMSC: it accepts SMPP 3.4 binds for the
// given accounts, answers submit_sm, sends delivery receipts and can inject
// faults. Without a handset it only answers submits and sends receipts.
//
//	smscsim -listen 127.0.0.1:2775 -accounts esme:secret,other:pw -throttle-every 10
//
// Flow: it listens, accepts binds checked against -accounts, answers each
// submit_sm with a message id (or an injected fault), and sends a delivery
// receipt as deliver_sm to a receiver or transceiver bind of the same
// account; see package smpp/smsc for the protocol details.
package main

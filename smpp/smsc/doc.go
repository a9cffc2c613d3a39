// Package smsc is a test SMSC: it accepts SMPP 3.4 binds, answers submit_sm
// with message ids, enforces a window like a real SMSC, sends delivery
// receipts, hands binary MT messages to a Handset (the simulated SIM farm)
// and delivers the handsets' replies as deliver_sm, with fault injection. It
// reuses smpp's codec, Conn and Session.
//
// # Protocol flow
//
//	ESME                               test SMSC                      Handset
//	bind_transceiver(id, pw) ------->  check account (constant time)
//	                         <-------  bind_transceiver_resp
//	submit_sm(dest, UD) ------------>  window check, faults
//	                         <-------  submit_sm_resp(message_id)
//	                                   HandleMT(dest, UD, reply) ---->
//	                                                     <---- reply(UD) per MO segment
//	                         <-------  deliver_sm(esm 0x40, pid 0x7F, dcs 0xF6), round-robin
//	                                   over the account's receiver binds; all
//	                                   segments of one reply on the same bind
//	deliver_sm_resp(status) -------->  temporary error or link loss: redeliver
//	                                   later (bounded attempts, back-off)
//	                         <-------  deliver_sm(esm 0x04) receipt: DELIVRD, or
//	                                   UNDELIV/EXPIRED as configured per number
//
// Options.MaxBinds caps the bound sessions per account, as an operator's
// contract does: the bind over the cap is answered ESME_RALYBND, and Bound
// and Stats (BindsRefused, PeakBinds, Unbinds, Disconnects) let tests check
// that a fleet of gateways stays within it. PendingReplies tells how many
// handset replies a bind (by system_id and system_type) holds unanswered.
//
// Deliveries that cannot be sent yet (no receiver bound) wait in a bounded
// queue per account. Faults (Options.Faults, or SetFaults at run time):
// throttle every Nth submit, delay or drop responses, disconnect after N
// PDUs, refuse binds, answer out of order.
package smsc

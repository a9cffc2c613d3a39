// Package smpp implements the SMPP 3.4 protocol for the gateway's side (the
// ESME): the PDU codec, a framed connection, a session with a window, an
// auto-reconnecting client with flow control, and an operator pool with
// prefix routing and a circuit breaker. The test SMSC in smpp/smsc reuses the
// codec, Conn and Session.
//
// # Protocol flow
//
//	ESME (us), inside Client.Run(ctx)           SMSC (operator)
//	TCP connect (optionally TLS) ------------>  DialTimeout; ClientOptions.Dial
//	bind_transceiver(system_id, password) --->  SMPP 3.4 §4.1
//	                             <------------  bind_transceiver_resp(status)
//	    0x0D/0x0E/0x0F: give up, Run returns ErrBindRejected
//	    0x05 (already bound): wait AlreadyBoundDelay, then bind again
//	    any other failure: back-off with jitter, then dial again
//	submit_sm(seq=n, esm_class 0x40, pid 0x7F, dcs 0xF6, UDH‖packet) --->  §4.4
//	    ... up to Window requests in flight, matched by sequence number ...
//	                             <------------  submit_sm_resp(seq=n, message_id)
//	                             <------------  deliver_sm(seq=m): MO from the SIM, or a receipt (§4.6)
//	deliver_sm_resp(seq=m) ------------------>  only after the Handler stored it
//	enquire_link (when idle) ---------------->  either side, any time (§4.11)
//	                             <------------  enquire_link_resp
//	    link lost (EOF, 3 enquire_link misses, the SMSC's unbind): close,
//	    back-off with jitter, dial again
//	ctx ends: no new submit_sm; in-flight ones drained
//	unbind ---------------------------------->  §4.2
//	                             <------------  unbind_resp; TCP close; Run returns nil
//
// # Lifecycle
//
// NewClient and NewPool only validate; nothing dials until Run. Client.Run
// owns one bind for as long as its context lives: it dials and binds, and
// after a lost session or a failed bind it dials again after a capped
// exponential back-off with jitter (back to the minimum once a bind
// succeeds). When the context ends it stops taking submits, waits for those
// in flight, sends unbind, waits up to 5 s for unbind_resp and closes the
// socket; Session.Close caps all of it at 10 s, so Run returns soon after its
// context ends even if the SMSC never answers. deliver_sm arriving meanwhile
// is still answered. Run returns nil after such a stop, and an error
// wrapping ErrBindRejected when the SMSC refused the credentials: retrying
// would not help and may lock the account.
//
// Pool.Run(ctx, h) runs every bind's Client.Run in one errgroup and hands
// inbound MOs and receipts to h. It returns once ctx has ended and every
// bind has unbound (all in parallel), or once one bind failed for good,
// after unbinding the others the same way. Submit may be called concurrently
// with Run; before Run and after it returned it fails at once with
// ErrClosed.
//
// # Layers
//
//   - Codec (pdu.go, pdu_types.go, codec.go, tlv.go): Encode appends a PDU to
//     a buffer, Decode parses a complete PDU through a bounds-checked cursor;
//     every error names the PDU and the field. No codec file touches the
//     network.
//   - Conn: ReadPDU/WritePDU/Flush over a net.Conn. Framing errors
//     (*FrameError) mean the stream is lost; unknown commands
//     (*UnknownCommandError) and bad bodies (*DecodeError) do not.
//   - Session: one reader goroutine and one writer goroutine per connection.
//     The reader never runs application code; requests from the peer go to
//     a RequestHandler that must not block. The writer batches, gives
//     responses priority, and is the only user of the bufio.Writer.
//     Requests take sequence numbers 1..0x7FFFFFFF (wrapping, skipping those
//     in flight) and a window slot; each has a deadline. When the link drops,
//     every request in flight ends with ErrOutcomeUnknown.
//   - Client: one configured bind kept up by Run: dial, bind, reconnect with
//     capped exponential back-off and jitter, bind failures classified, a
//     token bucket per bind with AIMD slow-down on
//     ESME_RTHROTTLED/ESME_RMSGQFUL, and inbound deliver_sm/data_sm handed
//     to workers.
//   - Pool: operators with prefixes and binds, routing by longest prefix,
//     every submit bounded by the operator's SubmitTimeout, a gobreaker
//     circuit breaker per operator counting consecutive failures (an
//     unanswered submit is one), concatenated-MO reassembly, receipt
//     parsing (network_error_code included) and the Handler contract; Run
//     runs every Client.
//
// # Inbound acknowledgement
//
// deliver_sm_resp is ESME_ROK only once Handler.HandleMO or HandleReceipt
// returned nil, that is once the effect is stored. Any other error answers
// ESME_RX_T_APPN so the SMSC redelivers; an error wrapping ErrPermanent
// answers ESME_RX_P_APPN (the SMSC must not redeliver). When the inbound queue
// is full the reader answers ESME_RX_T_APPN at once rather than block.
//
// Segments of a concatenated MO (UDH IEI 0x00 or 0x08, or sar_* TLVs) are
// acknowledged once the SegmentStore holds them (by default this process's
// memory; PoolOptions.Segments can share them between gateway instances). A
// part the store refuses to keep (ErrSegmentRefused) is acknowledged and
// dropped.
// The part that completes a message is acknowledged only after the whole
// message was handled, and the earlier parts are kept until then, so the
// SMSC's redelivery of that part completes it again. A message_payload TLV
// is taken whole.
package smpp

// Package gateway turns the parts into the product: the portal HTTP API,
// portal authentication, the certificate policy, the correlator that matches
// the card's replies to sessions, signature verification, callbacks, metrics
// and the admin listener.
//
// # Protocol flow
//
//	portal ── POST /v1/authentications | /v1/signatures ──▶ Server.handleXCreate
//	          validate (phone, User ID, hash, text, callback) → portal rate limit
//	          → Idempotency-Key (15 s) → Store.CheckUserID (lockout)
//	          → certificate policy → Store.Start (one running session per phone)
//	          → Store.NextMTCounter → OTA.Seal (TLVs, OTA security, segments)
//	          → Sender.Submit (SMPP) → Store.MarkSubmitted → 201 {sessionId, verificationCode}
//	SMSC ── deliver_sm (MO) ─▶ Server.HandleMO
//	          Store.Subscriber (ICCID) → OTA.Open (card keys, checksum, decipher)
//	          → Store.ByTxn (or the running session) → Store.AcceptMOCounter (replay) → verify signature
//	          → Store.Complete (atomic, publishes) → callback; nil ⇒ deliver_sm_resp OK
//	SMSC ── deliver_sm (receipt) ─▶ Server.HandleReceipt
//	          DELIVRD → MarkDelivered; UNDELIV/REJECTD → DELIVERY_ERROR; EXPIRED → PHONE_ABSENT
//	portal ── GET /v1/sessions/{id}?timeoutMs=N ──▶ Store.Get / Store.Wait (long-poll)
//
// When the Store also implements the pipelined forms (SessionsStore does),
// the same steps take fewer Redis round trips: CheckUserID, Start and
// NextMTCounter become CheckAndStart (two); the MO reads the subscriber and
// the running session's id together and sends AcceptMOCounter with
// Complete; the long-poll's wait does the only read before the completion
// notice and reads the subscriber with the session after it; a DELIVRD
// receipt for a segment this instance submitted goes straight to
// MarkDelivered. A reply that outruns the MarkSubmitted of its session on
// this instance waits for it (at most 2 s), so the submitted stamp is
// never lost.
//
// The gateway owns no state besides timers and two bounded caches (parsed
// certificates by DER hash; recent MT message ids, a shortcut only): any
// instance may receive the MO of a session another started and any may
// answer the poll. The store
// write comes before the acknowledgement of an MO, so a reply is never lost;
// an error from HandleMO makes the SMSC redeliver, and a redelivered or
// replayed MO changes nothing (Complete is idempotent, the MO counter only
// rises).
//
// The Server works against three small interfaces declared here (Store,
// Sender, OTA); the adapters in this package bind them to packages
// sessions, smpp and applet, and Run wires a complete gateway from Options.
//
// Errors reach portals as RFC 9457 problem+json with the stable codes
// listed as Code* constants; writeError is the only place that maps them.
// Logs never carry a phone number in clear (a keyed hash and a mask), nor
// User IDs, hashes, keys or signatures.
package gateway

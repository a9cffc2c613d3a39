// Package gateway turns the parts into the product: the portal HTTP API,
// portal authentication, the certificate policy, the correlator that matches
// the card's replies to sessions, callbacks, metrics and the admin listener.
// It works in the types of packages sessions (Session, Subscriber,
// Certificate, Result and their errors), applet (Command, MO, the
// algorithms and signature verification) and smpp (MO, Receipt and their
// errors), through three small interfaces declared here: Store (which
// *sessions.Store implements), Sender (*smpp.Pool) and OTA.
//
// # Protocol flow
//
// Each operation has one path; the store calls named are the methods of
// Store (see docs/architecture.md for the whole system, docs/data-model.md
// for what the store keeps).
//
//	portal ── POST /v1/authentications | /v1/signatures ──▶ Server.handleXCreate
//	          validate (phone, User ID, hash, text, callback) → portal rate limit
//	          → the portal's budget of wrong User IDs (userbudget.go)
//	          → sessionService.start: refused while draining
//	          → Store.CheckAndStart (User ID check with lockout, certificate
//	            policy and the trust checks that need no network — chain,
//	            validity, key usage, subject — in its build callback,
//	            Idempotency-Key, one running session per phone, MT counter;
//	            two round trips)
//	          → the certificate's revocation status (trust.Checker; held in
//	            process, or one round trip to the shared OCSP cache, or the
//	            CA); a refusal completes the session with it and answers it
//	            (docs/trust.md §4)
//	          [CAdES, ASiC-E: in the build callback, ades.Prepare builds the
//	           signed attributes; the card is sent their hash and the session
//	           keeps the prepared state (docs/ades.md)]
//	          → [Store.NextMTCounter when no counter came with the start]
//	          → OTA.Seal (docs/applet-protocol.md §3, docs/ota.md)
//	          → Sender.Submit (docs/smpp.md; bounded by the operator's
//	            submitTimeout: no answer ends the session, 503)
//	          → Store.MarkSubmittedDelivered (stamp, message ids, the MT
//	            counter, and a receipt that arrived meanwhile: submitreceipt.go)
//	          → timeout timer armed → 201 {sessionId, verificationCode}
//	SMSC ── deliver_sm (MO) ─▶ correlator.HandleMO (the pool's smpp.Handler)
//	          a reply to a session this instance started: the session and
//	          subscriber it remembers → OTA.Open → verify →
//	          Store.AcceptMOAndCompleteIfUnchanged (one round trip; a changed
//	          subscriber takes the path below) (localreply.go)
//	          Store.SubscriberAndRunning (one round trip) → OTA.Open; an MO
//	          that does not open changes nothing (counted, moauth.go)
//	          PoR: secured and echoing the running session's MT counter,
//	               else counted only; CNTR low → Store.ResyncMTCounter,
//	               ClaimResend, sealed and submitted again (resync.go);
//	               another refusal → SIM_ERROR
//	          reply: the running session (Store.Get) or Store.ByTxn
//	          running: wait for this instance's MarkSubmitted (≤ 2 s)
//	                   → verify the signature (applet.PublicKey, cached);
//	                     CAdES, ASiC-E: assemble the CMS, ades.Verify it
//	                   → check the certificate again at the reply's time:
//	                     refused → the refusal is the result, no signature
//	                   → Store.AcceptMOAndComplete (counter and completion
//	                     in one round trip) → metrics, callback
//	          finished: Store.AcceptMOCounter tells a replay from a late reply
//	          nil ⇒ deliver_sm_resp OK; an error ⇒ the SMSC redelivers
//	SMSC ── deliver_sm (receipt) ─▶ correlator.HandleReceipt
//	          DELIVRD while its submit is being recorded here → stored with it
//	          DELIVRD of a segment this instance submitted → Store.MarkDelivered
//	          (none for a session completed here: counted unmatched)
//	          otherwise Store.RunningByPhone, then DELIVRD → MarkDelivered;
//	          a failure by its GSM network error code (neterrors.go), else
//	          UNDELIV/REJECTD → DELIVERY_ERROR, EXPIRED → PHONE_ABSENT
//	portal ── GET /v1/sessions/{id} ──▶ Store.Get, or with ?timeoutMs=N
//	          Store.WaitOwnedSubscriber (the subscriber comes with the
//	          completion) until done, timed out or draining
//	timer  ── just before the store's expiry ──▶ Store.Complete(TIMEOUT)
//	portal ── DELETE /v1/sessions/{id} ──▶ Store.Complete(CANCELLED_BY_PORTAL)
//	admin  ── /admin/v1/… (own listener) ──▶ adminAPI.serve: principal (token or
//	          client certificate) → role → input → audit intent (AppendSync)
//	          → AdminStore change (one script per slot) → audit outcome → answer
//
// Every start, completion and callback queues an audit record
// (auditHooks, Trail.Append); admin calls are recorded durably before
// they are answered (docs/admin.md §4, docs/audit.md).
//
// The gateway keeps no state besides its timers and two bounded caches
// (parsed certificates by DER hash; recent MT message ids, a shortcut
// only): any instance may receive the MO of a session another started and
// any may answer the poll. The store write comes before the
// acknowledgement of an MO, so a reply is never lost; a redelivered or
// replayed MO changes nothing (Complete is idempotent, the MO counter
// only rises).
//
// The certificate status that decided a result is stored with it, so any
// instance renders the same certificate, revocation status and chain.
//
// Inside the package each job has its own type: Server is the HTTP layer
// (routes, handleX handlers, request ids, instrumentation, writeError),
// sessionService the start flow and the drain, completer the completion,
// timeout timers, submit gate and callbacks, correlator the MOs and
// receipts, adminAPI the admin listener's API. Start and Run wire a
// complete gateway from Options and serve it in one errgroup: the API, the
// metrics listener, the admin API, the SMPP pool, the audit trail's writer
// and the pepper check; the first to fail stops the rest.
//
// The configuration is checked as a whole by CheckConfig (configcheck*.go)
// before Config.Options builds the gateway from it: every problem at once,
// with its key path, line and fix, in the operator's words. The operator's
// logs name what they need: an operator with no bind up after startupGrace
// (startupwarn.go), a refused API key with its reason and common causes,
// rate-limited and without key material (authlog.go), durations as "1.5s"
// (ReadableDurations), the Redis client's own lines (RedisLogger).
//
// Errors reach portals as RFC 9457 problem+json with the stable codes
// listed as Code* constants; errorCode and writeError are the only places
// that map them. Logs never carry a phone number in clear (a keyed hash
// and a mask), nor User IDs, hashes, keys or signatures.
package gateway

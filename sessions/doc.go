// Package sessions keeps everything the gateway remembers in Redis: the
// subscriber registry (phone → ICCID, User ID HMAC, OTA key version,
// operator, certificates), User ID checks with lockout, PIN1/PIN2 challenge
// sessions with their transaction index, the per-card OTA counters, and
// completion notifications. It talks to Redis only through
// redis.UniversalClient, so one code path serves a single server, Sentinel
// and Cluster, and the embedded server of the demo (package embedded).
//
// # Protocol flow
//
//	portal request      CheckUserID(phone, userID)       1 script (+1 on a match or a failure)
//	                    Start(&sess, ttl)                1 script: record, txn index,
//	                                                     phone's running marker, idempotency key
//	MT to the card      NextMTCounter(iccid)             1 script (Redis clock floor)
//	                    MarkSubmitted(id, ctr, ids, at)  1 script
//	delivery receipt    MarkDelivered(id, at)            1 script
//	MO from the card    AcceptMOCounter(iccid, cntr)     1 script (replay check)
//	                    ByTxn(txn) / RunningByPhone      2 reads
//	                    Complete(id, result)             1 script: result (with the
//	                                                     certificate status that decided
//	                                                     it, if any), release phone,
//	                                                     retention TTL, PUBLISH id
//	portal long poll    Wait(id)                         SUBSCRIBE once per process, then Get
//	"CNTR low" PoR      ResyncMTCounter(iccid, echoed)   1 script (t and offset d only rise)
//	                    ClaimResend(id, old, next)       1 script: once per session
//	                    MarkResubmitted(id, ids)         1 script
//	concatenated MO     SegmentStore.Add(phone, key, …)  2 scripts: the sender's part, the total
//	wrong User ID       SpendPortalBudget(portal, b)     1 script; PortalBlockedUntil 1 read
//
// Start, MarkSubmitted and Complete cost one round trip each (three in all;
// the target was six), once the scripts are cached (Ready loads them).
//
// The gateway's hot paths use pipelined forms of the same scripts, which
// save the waits between steps but keep each step atomic on its own slot:
//
//	portal request      CheckAndStart(phone, userID, build)   2 round trips: attempt + subscriber read,
//	                                                          then attempt clear + Start + MT counter
//	MO from the card    SubscriberAndRunning(phone)           1 round trip: subscriber + running marker
//	                    AcceptMOAndComplete(iccid, c, id, r)  1 round trip: MO counter + completion
//	portal long poll    WaitOwned / WaitOwnedSubscriber       the wait's first read is the poll's
//	                                                          only read before the notice; the
//	                                                          read after it brings the subscriber
//	                                                          (no read at all for a local session)
//	MO, local session   LocalRunning(phone)                   no round trip: what the start read
//	                    AcceptMOAndCompleteIfUnchanged(…)     1 round trip: MO counter + completion
//	                                                          that checks the subscriber unchanged
//
// A pipeline that holds a state change is never resent by go-redis (a
// resend after a lost reply would run it twice); a script missing from the
// server's cache falls back to the single-step call.
//
// # Local sessions
//
// A Store remembers the sessions CheckAndStart started in this process
// (at most 16,384; the oldest go first) with the subscriber record they
// were started with and its SHA-1, until a few seconds after they
// complete (local.go). Complete publishes the completed record and the
// subscriber record's SHA-1 on CompletionRecordChannel, then the id on
// CompletionChannel; the listener subscribes to both, and an id whose
// record did not come first (a completion by an earlier version, during
// an upgrade) makes that session's waits read the store. A wait for a
// remembered session is answered from that notice without reading the
// record back, as long as the subscription has been up without a break
// since the session started (its generation is unchanged), so no notice
// can have been missed; otherwise, and at expiry, the wait reads Redis as
// before. The subscriber remembered from the start comes with the answer
// only when the notice's digest shows the record unchanged.
// AcceptMOAndCompleteIfUnchanged lets the gateway judge a reply with the
// remembered session and subscriber: the completion script compares the
// subscriber record's SHA-1 with the remembered one and changes nothing
// ('stale', ErrSubscriberChanged) when it differs, so the memory never
// decides anything the store has changed since. A stale or missing entry
// only costs the round trips it would have spared.
//
// # Keys
//
// A phone is named in keys only by a keyed hash: h = HMAC-SHA256(k, phone)
// truncated to 80 bits, k derived from Options.Pepper. Its top 14 bits pick
// a bucket that is the Cluster hash tag of every key of that phone:
//
//	{bbbb}s:<h>          string subscriber record: User ID HMAC, phone, ICCID, key version,
//	                            operator, certificates (binary, subscribers.go)
//	{bbbb}f:<h>          list   times of recent wrong User IDs, "?<ms>" for checks in flight (lockout)
//	{bbbb}r:<h>          string "<session id>|<expires ms>": the running session
//	{bbbb}x:<id>         hash   session record (short field names, see session.go)
//	{bbbb}t:<txn hex>    string transaction id → session id
//	{bbbb}i:<k>          string idempotency key (keyed hash of portal + key) →
//	                            "<session id>|<request fingerprint>"
//	{bbbb}g:<h>          hash   the phone's pending parts of concatenated MOs (SegmentStore):
//	                            "M" = "total|last part ms|claimed until ms", "M.<seq>" = parts
//	{c:<keyed ICCID>}    hash   the card's counters: t = last MT, o = last accepted MO,
//	                            d = resync offset
//	{s:<k>}z, n, t       zset, hash, string: all senders' pending parts (the total's cap)
//	{b:<keyed portal>}f, x  list, string: a portal's recent wrong User IDs, its block
//	{bbbb}b:<h>          string the card-blocked flag (last result PIN_BLOCKED/CARD_BLOCKED)
//	{bbbb}v:<h>          string forwarding marker of a number change under way
//	{bbbb}u:<YYYYMMDD>   hash   usage counters of the day (usage.go)
//	imzagate:pepper-canary string keyed canary of the pepper (canary.go)
//
// # Lifecycle
//
// The administrator's changes (lifecycle.go, docs/data-model.md §17) read a
// subscriber, compute the new record in Go and write it with one
// compare-and-set script on the phone's slot; a SIM swap first clears the
// new card's MO counter, and a number change moves the record in three
// steps (moving marker, new record, old record deleted) that the same call
// completes when run again.
//
// A session ID is h (16 base32hex characters) followed by 96 random bits (20
// characters), so every key of a session can be named from its ID; a
// transaction id carries the bucket in its top 14 bits and 50 random bits,
// so an MO's transaction id alone finds the session's slot. Every script
// names all its keys in KEYS and they share one tag: no script touches two
// slots. Key names hold no phone number, ICCID or User ID.
//
// # Time
//
// Session expiry, retention and User ID lockout are decided from
// Options.Now (the gateway's clock, kept by NTP; tests move it) and passed
// to the scripts; Redis TTLs (ttl + retention for a session, window +
// lock for the attempt list) only reclaim memory. A running session past
// its expiry reads as COMPLETE/TIMEOUT for Retention, then as not found; a
// late Complete or Mark returns ErrExpired and changes nothing.
//
// # User ID lockout
//
// The attempt list keeps the times of the newest LockoutAttempts attempts.
// When it is full and its newest and oldest entries are less than
// LockoutWindow apart, the phone is locked until newest + LockoutDuration.
// An attempt is pushed as "?<ms>" before it is judged (in the script that
// checks the lock), so concurrent guesses cannot get more than
// LockoutAttempts judged: while failures and checks in flight reach the
// limit, a check answers ErrOutstanding (nothing has failed yet, so no
// lock). A match removes its own entry and clears the list unless it
// already locks; a mismatch turns its entry into a failure; an entry left
// in flight by a dead process counts as a failure once stale.
//
// Each portal's wrong User IDs, over all phones, are budgeted too
// (SpendPortalBudget, PortalBlockedUntil): a portal, or a leaked portal
// key, that spreads guesses over many phones is blocked for a while. Unknown phones are counted and locked the same way, and the
// comparison of User ID HMACs (bound to the phone) is constant time, so an
// unknown phone and a wrong User ID are indistinguishable.
//
// # OTA counters
//
// The MT counter must never be reused or lowered for a card (ETSI TS 102
// 225 §5.1.1: the card rejects a counter not above its own; a reused one
// would also replay a keystream). An atomic increment alone is not enough:
// a Redis restart without persistence, or a failover to a replica that
// missed the last writes, forgets values already handed out. So the script
// hands out v = max(stored + 1, C), where C is the Redis server's clock
// (TIME, inside the script) in milliseconds since 2024-01-01, and refuses
// while stored + 1 > C (the caller sleeps until the clock catches up).
// Hence every value ever handed out is ≤ the clock at the moment it was
// handed out. After any loss of stored values the next value is at least
// the clock now, which is above every earlier value as long as the clock
// has not stepped back by more than the outage lasted: a restart or a
// failover takes seconds, and NTP keeps hosts within milliseconds. Using
// Redis's clock, not the gateways', makes all instances share one clock.
// A card can receive at most 1000 MT commands a second (one running session
// per phone sends a handful), and 2^40 ms from 2024 lasts until 2058.
//
// When a card answers "CNTR low", its counter is ahead of the stored one
// (a restore from an old backup after an earlier resync, another
// platform): ResyncMTCounter moves t ResyncStep past the refused value and
// raises the card's offset d, and NextMTCounter's floor becomes the clock
// plus d, so later values continue above it at once. Neither t nor d ever
// goes down.
//
// The MO counter is the card's own; AcceptMOCounter accepts a value only
// above the last accepted one, atomically, so two instances receiving the
// same MO cannot both accept it. It has no clock floor, so the registry's
// AOF persistence (deploy/redis) is what keeps it across restarts; a
// replayed MO after a loss still finds its session complete or gone.
//
// # Notifications
//
// Complete publishes the session ID on CompletionChannel, and the record on
// CompletionRecordChannel (see Local sessions), in the same script that
// stores the result. Each Store holds at most one subscription,
// started by the first Wait, and fans messages out to its waiters in
// memory. A waiter registers before it reads the state, and every waiter is
// woken to re-read whenever the subscription is (re)established, so no
// completion is missed across reconnects. Expiry publishes nothing: a
// waiter also wakes at the session's expiry and reads TIMEOUT.
//
// # Concatenated MO parts
//
// A signature reply is about 20 SMS. The SMSC may hand its parts to
// several gateway instances, and each part is acknowledged once stored, so
// the parts live in Redis (MOSegments), not in one process: one hash per
// sender, under the phone's hash tag, each message in it named by a keyed
// hash of the SMPP layer's message key (operator, originator MSISDN,
// reference, count), so no MSISDN appears in a name. Each Add is one
// script on the sender's slot: nothing is kept for a number without a
// subscriber record (ErrNotSubscriber); the part is stored (a duplicate
// keeps the first copy), the sender's least recently active messages
// making room when it would exceed its cap, the TTL refreshed, and when
// the count reaches the total, the set is claimed (until now + lease) and
// returned. A second script keeps the count of all senders' parts and
// names the least recently active senders to evict when it exceeds its
// cap, so memory is bounded whatever arrives. The script runs atomically, so of
// two instances adding the last parts only the one whose Add completed the
// set gets it; a concurrent duplicate of the last part finds the claim and
// gets ErrSegmentsBusy.
//
// The pool calls Done (which deletes the hash) only after the handler has
// stored the reply's effect. If the handling fails (Redis down while
// completing the session), the pool answers a temporary error, the SMSC
// redelivers that part, and the set is still there, claimed. A part that
// arrives while the claim holds is refused with ErrSegmentsBusy, which
// matches ErrUnavailable, so it is not acknowledged either: the SMSC keeps
// redelivering it until the claim is released by Done (the handling
// succeeded; the redelivered part then starts a new hash that expires
// unused) or the lease has passed, when that part re-claims the set and
// its instance handles the whole message again. Refusing rather than
// acknowledging during the lease is what makes "a redelivery of any part
// after a failed handling gets the full set again" hold: a part answered
// "held" while claimed would be acknowledged and might be the last one the
// SMSC ever sends. A second handling of the same reply is harmless: the
// MO counter check and Complete make it a duplicate. The lease (30 s by
// default) must exceed the handler's timeout. Staleness is judged from
// Options.Now like session expiry; the Redis TTL only reclaims memory.
//
// # Failures
//
// Every call is bounded by Options.OpTimeout through its context (the
// client needs ContextTimeoutEnabled, as ClientOptions sets), and any Redis
// failure comes back as ErrUnavailable wrapping the cause; redis.Nil never
// leaves the package. Inputs are bounded and checked (ErrInvalid) before
// anything is sent. Logs carry msisdn_hash, never a phone, User ID or
// signature.
package sessions

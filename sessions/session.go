package sessions

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Operations.
const (
	OpAuthenticate = "AUTHENTICATE" // PIN1, authentication key
	OpSign         = "SIGN"         // PIN2, a signing key
)

// States.
const (
	StateRunning  = "RUNNING"
	StateComplete = "COMPLETE"
)

// Final results (docs/architecture.md §9.2). Complete
// accepts any upper-case code, so the gateway may add its own.
const (
	ResultOK               = "OK"
	ResultUserCancelled    = "USER_CANCELLED"
	ResultTimeout          = "TIMEOUT"
	ResultPINBlocked       = "PIN_BLOCKED"
	ResultCardBlocked      = "CARD_BLOCKED"
	ResultNoKey            = "NO_KEY"
	ResultDeliveryError    = "DELIVERY_ERROR"
	ResultPhoneAbsent      = "PHONE_ABSENT"
	ResultSIMError         = "SIM_ERROR"
	ResultSignatureInvalid = "SIGNATURE_INVALID"
)

// Limits on session fields; bad input gets ErrInvalid.
const (
	MinSessionTTL     = time.Second
	MaxSessionTTL     = time.Hour
	MaxPortalLen      = 64
	MaxHashLen        = 64
	MaxAlgLen         = 16
	MaxCodeLen        = 8
	MaxCallbackURLLen = 512
	MaxIdemKeyLen     = 128
	MaxMessageIDs     = 32 // segments of one command (applet-protocol.md §1)
	MaxMessageIDLen   = 65 // SMPP 3.4 §5.2.23 message_id
	MaxSignatureLen   = 4096
	MaxResultLen      = 32
	MaxDisplayTextLen = 256 // octets of UTF-8; the applet's limit is 60 octets in its coding
	FingerprintLen    = 32  // octets of Session.IdempotencyFingerprint
	// MaxAdESLen bounds the gateway's prepared state of an advanced
	// signature (signed attributes, certificate references, an ASiC
	// manifest of up to 1,000 documents), data-model.md §4.
	MaxAdESLen = 2 << 20
	// MaxContainerLen bounds the signature container a completion stores
	// (a CMS SignedData with its certificates).
	MaxContainerLen = 256 << 10
)

// CompletionChannel is the Redis pub/sub channel on which Complete
// publishes the id of each completed session.
const CompletionChannel = "imzagate:sessions:completed"

// CompletionRecordChannel is the channel on which Complete publishes each
// completed session's record, so that a waiter is answered without reading
// it back (the store's own listener subscribes to it; the payload is
// internal to this package).
const CompletionRecordChannel = "imzagate:sessions:completed:record"

// Session is one PIN1/PIN2 challenge. Start assigns ID, TxnID, State,
// Accepted and ExpiresAt.
type Session struct {
	ID               string
	Portal           string
	Operation        string // AUTHENTICATE | SIGN
	Phone            string
	ICCID            string
	KeyRef           byte
	Hash             []byte
	HashAlg          string // e.g. "SHA-256"; stored as given
	VerificationCode string // digits shown to the user
	TxnID            [8]byte
	State            string // RUNNING | COMPLETE
	Result           string // set when COMPLETE
	Signature        []byte
	SigAlg           string
	MessageIDs       []string // SMSC message ids of the MT segments
	Accepted         time.Time
	Submitted        time.Time
	Delivered        time.Time
	Completed        time.Time
	ExpiresAt        time.Time
	CallbackURL      string
	IdempotencyKey   string // the portal's Idempotency-Key, if any
	// CertStatus is the certificate's status recorded with the result,
	// nil when the completion recorded none.
	CertStatus *CertificateStatus
	// IdempotencyFingerprint binds IdempotencyKey to the request it came
	// with (a digest the caller computes over the operation and the
	// validated request). Start keeps it with the idempotency record only:
	// the same key with another fingerprint is ErrIdempotencyMismatch.
	IdempotencyFingerprint []byte
	// DisplayText is the text the phone shows (applet tag 87), kept so the
	// command can be sealed again with a new MT counter (a resync).
	DisplayText string
	// MTCounter is the OTA counter of the MT command sent for this session
	// (MarkSubmitted records it, ClaimResend replaces it): a PoR answers
	// this session only when it echoes this value.
	MTCounter uint64
	// Resent reports whether the command was sealed again after a "counter
	// low" PoR; it happens at most once per session (ClaimResend).
	Resent bool
	// Operator is the subscriber's operator at the start, for the usage
	// records (empty in sessions an older version started).
	Operator string
	// AdES is the gateway's prepared state of an advanced signature (CAdES
	// or ASiC-E), opaque to the store; empty for a plain signature.
	AdES []byte
	// Container is the signature container the completion stored (DER
	// CMS), empty for a plain signature.
	Container []byte
}

// Result is what Complete records.
type Result struct {
	Code      string // OK, USER_CANCELLED, … (upper case, digits, '_')
	SigAlg    string
	Signature []byte
	// CertStatus, when set, is the certificate's status that decided the
	// result; it is stored with it (field cs).
	CertStatus *CertificateStatus
	Container  []byte // the signature container of an AdES session, if any
}

// Session hash fields. Short names keep a running session near 500 bytes.
const (
	sPortal   = "pt"
	sOp       = "op"
	sPhone    = "ph"
	sICCID    = "ic"
	sKeyRef   = "kr"
	sHash     = "h"
	sHashAlg  = "ha"
	sCode     = "vc"
	sTxn      = "tx"
	sState    = "st"
	sResult   = "rs"
	sSig      = "sg"
	sSigAlg   = "sa"
	sMsgIDs   = "mi"
	sAccepted = "ac"
	sSubmit   = "sb"
	sDeliver  = "dl"
	sComplete = "ct"
	sExpires  = "ex"
	sCallback = "cb"
	sIdemKey  = "ik"
	sCertStat = "cs"
	sDisplay  = "dt"
	sMTCtr    = "mc"
	sResent   = "rn"
	sOperator = "or"
	sAdES     = "ad"
	sContain  = "cn"
)

// Stored state codes.
const (
	stRunning  = "R"
	stComplete = "C"
)

// idLen is the length of a session ID: the phone's keyed hash (16) and 96
// random bits (20), in lowercase base32hex.
const idLen = 16 + 20

func printable(s string, allowSpace bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 && !(allowSpace && c == ' ') || c > 0x7e {
			return false
		}
	}
	return true
}

func validResultCode(c string) bool {
	if c == "" || len(c) > MaxResultLen {
		return false
	}
	for i := 0; i < len(c); i++ {
		if ch := c[i]; !(ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_') {
			return false
		}
	}
	return true
}

func (sess *Session) validateStart(ttl time.Duration) error {
	if err := validPhone(sess.Phone); err != nil {
		return err
	}
	switch {
	case sess.ID != "" || sess.TxnID != [8]byte{}:
		return invalidf("session: ID and TxnID are assigned by Start; leave them zero")
	case ttl < MinSessionTTL || ttl > MaxSessionTTL:
		return invalidf("session: ttl %s outside %s..%s", ttl, MinSessionTTL, MaxSessionTTL)
	case sess.Portal == "" || len(sess.Portal) > MaxPortalLen || !printable(sess.Portal, false):
		return invalidf("session: portal: 1..%d printable characters", MaxPortalLen)
	case sess.Operation == OpAuthenticate && sess.KeyRef != 0x01,
		sess.Operation == OpSign && (sess.KeyRef < 0x02 || sess.KeyRef > 0x0F):
		return invalidf("session: key reference %02X does not fit %s", sess.KeyRef, sess.Operation)
	case sess.Operation != OpAuthenticate && sess.Operation != OpSign:
		return invalidf("session: operation %q: want AUTHENTICATE or SIGN", sess.Operation)
	case (len(sess.ICCID) != 19 && len(sess.ICCID) != 20) || !isDigits(sess.ICCID):
		return invalidf("session: iccid: want 19 or 20 digits")
	case len(sess.Hash) == 0 || len(sess.Hash) > MaxHashLen:
		return invalidf("session: hash: 1..%d octets", MaxHashLen)
	case sess.HashAlg == "" || len(sess.HashAlg) > MaxAlgLen || !printable(sess.HashAlg, false):
		return invalidf("session: hash algorithm: 1..%d printable characters", MaxAlgLen)
	case len(sess.VerificationCode) > MaxCodeLen || (sess.VerificationCode != "" && !isDigits(sess.VerificationCode)):
		return invalidf("session: verification code: up to %d digits", MaxCodeLen)
	case len(sess.CallbackURL) > MaxCallbackURLLen || !printable(sess.CallbackURL, false):
		return invalidf("session: callback URL: up to %d printable characters", MaxCallbackURLLen)
	case len(sess.IdempotencyKey) > MaxIdemKeyLen || !printable(sess.IdempotencyKey, false):
		return invalidf("session: idempotency key: up to %d printable characters", MaxIdemKeyLen)
	case len(sess.IdempotencyFingerprint) != 0 && len(sess.IdempotencyFingerprint) != FingerprintLen:
		return invalidf("session: idempotency fingerprint: %d octets", FingerprintLen)
	case len(sess.DisplayText) > MaxDisplayTextLen || !utf8.ValidString(sess.DisplayText):
		return invalidf("session: display text: up to %d octets of UTF-8", MaxDisplayTextLen)
	case sess.MTCounter != 0 || sess.Resent:
		return invalidf("session: MTCounter and Resent are recorded later; leave them zero")
	case !validOperator(sess.Operator):
		return invalidf("session: operator: up to 32 of [a-z0-9._-]")
	case len(sess.AdES) > MaxAdESLen || len(sess.Container) > 0:
		return invalidf("session: AdES state: up to %d octets, and no container before completion", MaxAdESLen)
	}
	return nil
}

// newIDs draws a session ID and a transaction id. The ID starts with the
// phone's keyed hash, so every key of the session can be named from the ID
// alone; the transaction id's top 14 bits are the phone's bucket, so the
// transaction index shares the session's Cluster slot and an MO can be
// looked up by transaction id alone. The other 50 bits are random, and
// Start rejects a transaction id that is still indexed.
func newIDs(ref phoneRef) (string, [8]byte) {
	var r [12 + 8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := ref.hash + b32.EncodeToString(r[:12])
	var txn [8]byte
	copy(txn[:], r[12:])
	h, _ := b32.DecodeString(ref.hash)
	bucket := binary.BigEndian.Uint16(h) >> 2
	binary.BigEndian.PutUint16(txn[:2], bucket<<2|uint16(txn[1]&3))
	return id, txn
}

// refFromID recovers the phone reference from a session ID.
func refFromID(id string) (phoneRef, error) {
	if len(id) != idLen {
		return phoneRef{}, invalidf("session id: length %d", len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'v') {
			return phoneRef{}, invalidf("session id: character %q", c)
		}
	}
	h, err := b32.DecodeString(id[:16])
	if err != nil || len(h) != phoneHashLen {
		return phoneRef{}, invalidf("session id: bad phone part")
	}
	return refFromHash(h), nil
}

// encodeSession lists the stored fields of a new session.
func encodeSession(sess *Session) []any {
	f := []any{
		sPortal, sess.Portal,
		sOp, sess.Operation,
		sPhone, sess.Phone,
		sICCID, sess.ICCID,
		sKeyRef, strconv.Itoa(int(sess.KeyRef)),
		sHash, sess.Hash,
		sHashAlg, sess.HashAlg,
		sTxn, sess.TxnID[:],
		sState, stRunning,
		sAccepted, strconv.FormatInt(ms(sess.Accepted), 10),
		sExpires, strconv.FormatInt(ms(sess.ExpiresAt), 10),
	}
	for _, kv := range [][2]string{{sCode, sess.VerificationCode}, {sCallback, sess.CallbackURL}, {sIdemKey, sess.IdempotencyKey},
		{sDisplay, sess.DisplayText}, {sOperator, sess.Operator}} {
		if kv[1] != "" {
			f = append(f, kv[0], kv[1])
		}
	}
	if len(sess.AdES) > 0 {
		f = append(f, sAdES, sess.AdES)
	}
	return f
}

// decodeSession parses a stored record. Every field is checked, since a
// record is input like any other (another version may have written it).
func decodeSession(id string, m map[string]string) (Session, error) {
	bad := func(field string) (Session, error) {
		return Session{}, invalidf("stored session: field %s", field)
	}
	s := Session{
		ID: id, Portal: m[sPortal], Operation: m[sOp], Phone: m[sPhone], ICCID: m[sICCID],
		HashAlg: m[sHashAlg], VerificationCode: m[sCode], Result: m[sResult], SigAlg: m[sSigAlg],
		CallbackURL: m[sCallback], IdempotencyKey: m[sIdemKey], DisplayText: m[sDisplay], Resent: m[sResent] == "1",
		Operator: m[sOperator],
	}
	if !validOperator(s.Operator) {
		return bad(sOperator)
	}
	switch m[sState] {
	case stRunning:
		s.State = StateRunning
	case stComplete:
		s.State = StateComplete
	default:
		return bad(sState)
	}
	kr, err := strconv.ParseUint(m[sKeyRef], 10, 8)
	if err != nil {
		return bad(sKeyRef)
	}
	s.KeyRef = byte(kr)
	if len(m[sTxn]) != 8 {
		return bad(sTxn)
	}
	copy(s.TxnID[:], m[sTxn])
	if h := m[sHash]; len(h) == 0 || len(h) > MaxHashLen {
		return bad(sHash)
	}
	s.Hash = []byte(m[sHash])
	if sig, ok := m[sSig]; ok {
		if len(sig) > MaxSignatureLen {
			return bad(sSig)
		}
		s.Signature = []byte(sig)
	}
	if cs, ok := m[sCertStat]; ok {
		if s.CertStatus, err = decodeCertStatus([]byte(cs)); err != nil {
			return bad(sCertStat)
		}
	}
	if field := decodeAdES(m, &s); field != "" {
		return bad(field)
	}
	if mi, ok := m[sMsgIDs]; ok && mi != "" {
		s.MessageIDs = strings.Split(mi, "\n")
		if len(s.MessageIDs) > MaxMessageIDs {
			return bad(sMsgIDs)
		}
	}
	if field := decodeTimes(m, &s); field != "" {
		return bad(field)
	}
	if s.State == StateComplete && (s.Completed.IsZero() || !validResultCode(s.Result)) {
		return bad(sResult)
	}
	if v, ok := m[sMTCtr]; ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 || n > MaxCounter {
			return bad(sMTCtr)
		}
		s.MTCounter = n
	}
	return s, nil
}

// decodeTimes reads a stored session's timestamps (Unix ms) into s and
// returns the first bad or missing field, or "".
func decodeTimes(m map[string]string, s *Session) string {
	for _, tf := range []struct {
		field string
		dst   *time.Time
		need  bool
	}{{sAccepted, &s.Accepted, true}, {sExpires, &s.ExpiresAt, true}, {sSubmit, &s.Submitted, false},
		{sDeliver, &s.Delivered, false}, {sComplete, &s.Completed, false}} {
		v, ok := m[tf.field]
		if !ok {
			if tf.need {
				return tf.field
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return tf.field
		}
		*tf.dst = fromMS(n)
	}
	return ""
}

// decodeAdES reads the optional AdES state and container of a stored
// record into s and returns the name of a field that is out of bounds
// ("" when both are fine).
func decodeAdES(m map[string]string, s *Session) string {
	for _, bf := range []struct {
		field string
		dst   *[]byte
		max   int
	}{{sAdES, &s.AdES, MaxAdESLen}, {sContain, &s.Container, MaxContainerLen}} {
		if v, ok := m[bf.field]; ok {
			if v == "" || len(v) > bf.max {
				return bf.field
			}
			*bf.dst = []byte(v)
		}
	}
	return ""
}

// view applies expiry and retention at now: a running session past its
// expiry reads as COMPLETE/TIMEOUT, and a final session past the retention
// period reads as gone.
func (s *Store) view(sess Session, now time.Time) (Session, bool) {
	if sess.State == StateRunning && !now.Before(sess.ExpiresAt) {
		sess.State, sess.Result, sess.Completed = StateComplete, ResultTimeout, sess.ExpiresAt
	}
	if sess.State == StateComplete && !now.Before(sess.Completed.Add(s.opts.Retention)) {
		return Session{}, false
	}
	return sess, true
}

// Start creates a running session atomically (one script, one round trip):
// it refuses with ErrOutstanding while the phone has a running session,
// writes the record, the transaction index, the phone's running marker and
// the idempotency key, all with TTLs (the record lives ttl + Retention).
// On success sess has its ID, TxnID, State, Accepted and ExpiresAt set.
//
// When sess.IdempotencyKey is set and the same portal started a session
// with the same key within Options.IdempotencyTTL, Start changes nothing,
// fills sess with that session and returns an error matching ErrDuplicate.
func (s *Store) Start(ctx context.Context, sess *Session, ttl time.Duration) error {
	if err := sess.validateStart(ttl); err != nil {
		return err
	}
	ref := s.phone(sess.Phone)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	now := s.opts.Now()
	for range 3 { // a fresh ID or txn id collides with probability ~2^-50
		next, keys, args := s.startCall(sess, ttl, ref, now)
		res, err := scriptStart.Run(ctx, s.rdb, keys, args...).StringSlice()
		if err != nil {
			return storeErr("start", err)
		}
		if retry, err := s.startReply(ctx, sess, &next, res); !retry {
			return err
		}
	}
	return storeErr("start", errors.New("id collisions"))
}

// startCall draws fresh ids and lays out one run of scriptStart for a
// validated sess: the session it would store, its KEYS and ARGV.
func (s *Store) startCall(sess *Session, ttl time.Duration, ref phoneRef, now time.Time) (Session, []string, []any) {
	id, txn := newIDs(ref)
	next := *sess
	next.ID, next.TxnID, next.State = id, txn, StateRunning
	next.Accepted = fromMS(ms(now))
	next.ExpiresAt = fromMS(ms(now.Add(ttl)))
	keys := []string{ref.sessionKey(id), ref.runKey(), txnKey(txn)}
	if sess.IdempotencyKey != "" {
		keys = append(keys, ref.idemKey(b32.EncodeToString(mac(s.kIdem, sess.Portal, sess.IdempotencyKey)[:phoneHashLen])))
	}
	exp := ms(next.ExpiresAt)
	args := append([]any{
		ms(now), id, id + "|" + strconv.FormatInt(exp, 10), durMS(ttl),
		durMS(ttl + s.opts.Retention), durMS(s.opts.IdempotencyTTL), b32.EncodeToString(sess.IdempotencyFingerprint),
	}, encodeSession(&next)...)
	return next, keys, args
}

// startReply applies scriptStart's reply res for the attempt that would
// have stored next; retry reports an id collision (draw new ids and run
// again).
func (s *Store) startReply(ctx context.Context, sess, next *Session, res []string) (retry bool, err error) {
	switch {
	case len(res) == 1 && res[0] == "ok":
		*sess = *next
		return false, nil
	case len(res) == 1 && res[0] == "busy":
		return false, fmt.Errorf("sessions: start: %w", ErrOutstanding)
	case len(res) == 2 && res[0] == "idem":
		prev, err := s.Get(ctx, res[1])
		if err != nil {
			return false, err
		}
		*sess = prev
		return false, fmt.Errorf("sessions: start: idempotent replay: %w", ErrDuplicate)
	case len(res) == 1 && res[0] == "idemfp":
		return false, fmt.Errorf("sessions: start: %w", ErrIdempotencyMismatch)
	case len(res) == 1 && res[0] == "collision":
		return true, nil
	}
	return false, storeErr("start", errScriptReply)
}

// markReply maps scriptMark's reply.
func markReply(op, r string) error {
	switch r {
	case "ok":
		return nil
	case "nf":
		return fmt.Errorf("sessions: %s: %w", op, ErrNotFound)
	case "done":
		return fmt.Errorf("sessions: %s: %w", op, ErrCompleted)
	case "dup":
		return fmt.Errorf("sessions: %s: %w", op, ErrDuplicate)
	case "exp":
		return fmt.Errorf("sessions: %s: %w", op, ErrExpired)
	}
	return storeErr(op, errScriptReply)
}

// MarkSubmitted records, once, that the MT segments sealed with OTA
// counter mtCounter were accepted by the SMSC with these message ids. A
// second call, or one after completion, returns ErrDuplicate; after expiry
// ErrExpired. A reply can complete the session before its submit is
// recorded (the SMSC's answer and the card's reply race); the stamp and ids
// are then still stored on the completed record (once), so completion never
// loses them, and the call returns ErrDuplicate as before.
func (s *Store) MarkSubmitted(ctx context.Context, id string, mtCounter uint64, messageIDs []string, at time.Time) error {
	return s.MarkSubmittedDelivered(ctx, id, mtCounter, messageIDs, at, time.Time{})
}

// MarkSubmittedDelivered is MarkSubmitted that, when delivered is set,
// records the delivery receipt that arrived while the submit was being
// recorded in the same script, sparing MarkDelivered's round trip.
func (s *Store) MarkSubmittedDelivered(ctx context.Context, id string, mtCounter uint64, messageIDs []string, at, delivered time.Time) error {
	ref, err := refFromID(id)
	if err != nil {
		return err
	}
	if err := validMessageIDs(messageIDs); err != nil {
		return err
	}
	if mtCounter == 0 || mtCounter > MaxCounter {
		return invalidf("mt counter %d outside 1..2^40-1", mtCounter)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	args := []any{ms(s.opts.Now()), sSubmit, "1", sSubmit, ms(at), sMsgIDs, strings.Join(messageIDs, "\n"), sMTCtr, mtCounter}
	if !delivered.IsZero() {
		args = append(args, sDeliver, ms(delivered))
	}
	r, err := scriptMark.Run(ctx, s.rdb, []string{ref.sessionKey(id)}, args...).Text()
	if err != nil {
		return storeErr("mark submitted", err)
	}
	if r == "ok" {
		s.local.update(id, func(sess *Session) {
			sess.Submitted, sess.MTCounter = fromMS(ms(at)), mtCounter
			sess.MessageIDs = append([]string(nil), messageIDs...)
			if !delivered.IsZero() {
				sess.Delivered = fromMS(ms(delivered))
			}
		})
	}
	return markReply("mark submitted", r)
}

// validMessageIDs checks the SMSC message ids of one command.
func validMessageIDs(messageIDs []string) error {
	if len(messageIDs) > MaxMessageIDs {
		return invalidf("message ids: %d, max %d", len(messageIDs), MaxMessageIDs)
	}
	for _, m := range messageIDs {
		if m == "" || len(m) > MaxMessageIDLen || !printable(m, true) {
			return invalidf("message id: 1..%d printable characters", MaxMessageIDLen)
		}
	}
	return nil
}

// MarkDelivered records, once, the first delivery receipt. Later receipts
// return ErrDuplicate; after expiry ErrExpired.
func (s *Store) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	ref, err := refFromID(id)
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	r, err := scriptMark.Run(ctx, s.rdb, []string{ref.sessionKey(id)}, ms(s.opts.Now()), sDeliver, "0",
		sDeliver, ms(at)).Text()
	if err != nil {
		return storeErr("mark delivered", err)
	}
	if r == "ok" {
		s.local.update(id, func(sess *Session) { sess.Delivered = fromMS(ms(at)) })
	}
	return markReply("mark delivered", r)
}

// Complete records the final result of a running session, atomically and
// once: it releases the phone for a new session, keeps the record for the
// retention period and wakes every Wait on any instance. It returns the
// completed session. A second Complete returns the stored session and
// ErrDuplicate; one after expiry returns the session as TIMEOUT and
// ErrExpired; in both cases nothing changed.
func (s *Store) Complete(ctx context.Context, id string, res Result) (Session, error) {
	ref, err := refFromID(id)
	if err != nil {
		return Session{}, err
	}
	now := s.opts.Now()
	args, err := s.completeArgs(id, res, now)
	if err != nil {
		return Session{}, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	reply, err := scriptComplete.Run(ctx, s.rdb, completeKeys(ref, id, now), args...).Slice()
	if err != nil {
		return Session{}, storeErr("complete", err)
	}
	return s.completeReply(id, res, reply, now)
}

// completeKeys lays out scriptComplete's KEYS for session id at now: the
// record, the phone's running marker, the day's usage hash of the
// session's slot, the phone's card-blocked flag (usage.go) and the
// subscriber, whose digest the completion notice carries.
func completeKeys(ref phoneRef, id string, now time.Time) []string {
	return []string{ref.sessionKey(id), ref.runKey(), usageKey(ref.tag, now), ref.blockedKey(), ref.subscriberKey()}
}

// completeArgs checks res and lays out scriptComplete's ARGV.
func (s *Store) completeArgs(id string, res Result, now time.Time) ([]any, error) {
	return completeArgs(id, res, now, s.opts.Retention, s.opts.UsageRetention)
}

// completeArgs checks res and lays out scriptComplete's ARGV.
func completeArgs(id string, res Result, now time.Time, retention, usageTTL time.Duration) ([]any, error) {
	switch {
	case !validResultCode(res.Code):
		return nil, invalidf("result code %q", res.Code)
	case len(res.Signature) > MaxSignatureLen:
		return nil, invalidf("signature: %d octets, max %d", len(res.Signature), MaxSignatureLen)
	case len(res.SigAlg) > MaxAlgLen || !printable(res.SigAlg, false):
		return nil, invalidf("signature algorithm: up to %d printable characters", MaxAlgLen)
	case len(res.Container) > MaxContainerLen:
		return nil, invalidf("container: %d octets, max %d", len(res.Container), MaxContainerLen)
	}
	args := []any{ms(now), id, durMS(retention), CompletionChannel, durMS(usageTTL), res.Code, durMS(blockedFlagTTL),
		"", CompletionRecordChannel, sState, stComplete, sResult, res.Code, sComplete, ms(now)}
	if res.SigAlg != "" {
		args = append(args, sSigAlg, res.SigAlg)
	}
	if len(res.Signature) > 0 {
		args = append(args, sSig, res.Signature)
	}
	if res.CertStatus != nil {
		if err := res.CertStatus.validate(); err != nil {
			return nil, err
		}
		args = append(args, sCertStat, appendCertStatus(nil, res.CertStatus))
	}
	if len(res.Container) > 0 {
		args = append(args, sContain, res.Container)
	}
	return args, nil
}

// completeReply maps scriptComplete's reply (run at now).
func (s *Store) completeReply(id string, res Result, reply []any, now time.Time) (Session, error) {
	if len(reply) == 1 && reply[0] == "nf" {
		return Session{}, fmt.Errorf("sessions: complete: %w", ErrNotFound)
	}
	if len(reply) == 1 && reply[0] == "stale" {
		return Session{}, fmt.Errorf("sessions: complete: %w", ErrSubscriberChanged)
	}
	if len(reply) != 2 {
		return Session{}, storeErr("complete", errScriptReply)
	}
	sess, err := decodeSession(id, pairs(reply[1]))
	if err != nil {
		return Session{}, err
	}
	switch reply[0] {
	case "ok":
		s.log.Debug("session completed", "session_id", id, "result", res.Code)
		return sess, nil
	case "dup":
		return sess, fmt.Errorf("sessions: complete: %w", ErrDuplicate)
	case "exp":
		v, ok := s.view(sess, now)
		if !ok {
			return Session{}, fmt.Errorf("sessions: complete: %w", ErrExpired)
		}
		return v, fmt.Errorf("sessions: complete: %w", ErrExpired)
	}
	return Session{}, storeErr("complete", errScriptReply)
}

// pairs turns a flat HGETALL array from a script into a map.
func pairs(v any) map[string]string {
	a, _ := v.([]any)
	m := make(map[string]string, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		k, _ := a[i].(string)
		val, _ := a[i+1].(string)
		m[k] = val
	}
	return m
}

// Get returns a session. A running session past its expiry reads as
// COMPLETE with result TIMEOUT; a completed (or timed-out) session reads
// as ErrNotFound once the retention period has passed.
func (s *Store) Get(ctx context.Context, id string) (Session, error) {
	ref, err := refFromID(id)
	if err != nil {
		return Session{}, fmt.Errorf("sessions: get: %w", ErrNotFound)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	m, err := s.rdb.HGetAll(ctx, ref.sessionKey(id)).Result()
	return s.viewFromHash(id, m, err)
}

// viewFromHash turns the reply of an HGETALL of session id into what
// callers see: a missing or retention-expired session is ErrNotFound, an
// expired running one reads as TIMEOUT (see view).
func (s *Store) viewFromHash(id string, m map[string]string, err error) (Session, error) {
	if err != nil {
		return Session{}, storeErr("get", err)
	}
	if len(m) == 0 {
		return Session{}, fmt.Errorf("sessions: get: %w", ErrNotFound)
	}
	sess, err := decodeSession(id, m)
	if err != nil {
		return Session{}, err
	}
	v, ok := s.view(sess, s.opts.Now())
	if !ok {
		return Session{}, fmt.Errorf("sessions: get: %w", ErrNotFound)
	}
	return v, nil
}

// ByTxn returns the session of a transaction id (from an MO's tag 81).
func (s *Store) ByTxn(ctx context.Context, txn [8]byte) (Session, error) {
	octx, cancel := s.opCtx(ctx)
	id, err := s.rdb.Get(octx, txnKey(txn)).Result()
	cancel()
	if err != nil {
		return Session{}, storeErr("by txn", err)
	}
	return s.Get(ctx, id)
}

// RunningByPhone returns the phone's running session, for a PoR, which
// carries no transaction id. ErrNotFound when none is running.
func (s *Store) RunningByPhone(ctx context.Context, phone string) (Session, error) {
	if err := validPhone(phone); err != nil {
		return Session{}, err
	}
	octx, cancel := s.opCtx(ctx)
	v, err := s.rdb.Get(octx, s.phone(phone).runKey()).Result()
	cancel()
	if err != nil {
		return Session{}, storeErr("running by phone", err)
	}
	id, _, _ := strings.Cut(v, "|")
	sess, err := s.Get(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if sess.State != StateRunning || sess.Phone != phone {
		return Session{}, fmt.Errorf("sessions: running by phone: %w", ErrNotFound)
	}
	return sess, nil
}

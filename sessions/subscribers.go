package sessions

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscriber is one SIM in the registry. The User ID is never part of it:
// the store keeps only its HMAC under the pepper.
type Subscriber struct {
	Phone        string // E.164 with '+', e.g. "+994501234567"
	ICCID        string // 19 or 20 digits, as provisioned (the card key derivation input)
	KeyVersion   int    // OTA key version, 1..15
	Operator     string // routing name, e.g. "azercell"; up to 32 of [a-z0-9._-]
	Certificates []Certificate
	// State is the subscriber's lifecycle state: "" (active), suspended,
	// closed or moving (a number change under way). See StateOf.
	State string
}

// Subscriber lifecycle states (docs/admin.md §3). The zero State is
// active; StateOf names it.
const (
	SubscriberActive    = "active"
	SubscriberSuspended = "suspended"
	SubscriberClosed    = "closed"
	SubscriberMoving    = "moving"
)

var subStateCode = map[string]byte{"": 1, SubscriberSuspended: 2, SubscriberClosed: 3, SubscriberMoving: 4}
var subStateName = [...]string{1: "", 2: SubscriberSuspended, 3: SubscriberClosed, 4: SubscriberMoving}

// StateOf names the subscriber's state, "active" for the zero State.
func (sub *Subscriber) StateOf() string {
	if sub.State == "" {
		return SubscriberActive
	}
	return sub.State
}

// Certificate is one certificate on the SIM.
type Certificate struct {
	Type      string    // personal | business | government
	TaxID     string    // VÖEN, 10 digits: required for business, optional otherwise
	KeyRef    byte      // applet key reference 01..0F
	DER       []byte    // the X.509 certificate, at most MaxDERLen octets
	NotBefore time.Time // whole seconds are kept
	NotAfter  time.Time
	Status    string // active | revoked | suspended
	// StatusAt and StatusReason say when and why the status was last set
	// by an administrator (zero and empty for a certificate as issued).
	StatusAt     time.Time
	StatusReason string
}

// A subscriber is stored as one string, not a hash: a certificate is far
// larger than the 64 octets up to which Redis keeps a hash compact, and one
// string costs about a third less memory (measured with MEMORY USAGE) and
// one SET to write. Layout:
//
//	version(1)=01 user_id_hmac(32) phone_len(1) phone iccid_len(1) iccid
//	key_version(1) operator_len(1) operator certificates (certcodec.go)
//
// The HMAC sits at a fixed offset, so the User ID check reads just those 32
// octets inside its script, whether the phone is known or not. Version 2
// adds state(1) after the operator, for a subscriber that is not active;
// an active one is written in version 1, so one record has one encoding.
const (
	subRecordVersion  = 1
	subRecordVersion2 = 2
	uidMACLen         = 32
	subHeaderLen      = 1 + uidMACLen
)

// UserIDLen is the length of an Asan İmza User ID: 6 digits.
const UserIDLen = 6

// validPhone: E.164, '+' then 8..15 digits, no leading zero.
func validPhone(p string) error {
	if len(p) < 9 || len(p) > 16 || p[0] != '+' || p[1] == '0' || !isDigits(p[1:]) {
		return invalidf("phone: want E.164 like +994501234567")
	}
	return nil
}

func validUserID(u string) error {
	if len(u) != UserIDLen || !isDigits(u) {
		return invalidf("user id: want %d digits", UserIDLen)
	}
	return nil
}

func validOperator(o string) bool {
	if len(o) > 32 {
		return false
	}
	for i := 0; i < len(o); i++ {
		c := o[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (sub *Subscriber) validate() error {
	if err := validPhone(sub.Phone); err != nil {
		return err
	}
	switch {
	case (len(sub.ICCID) != 19 && len(sub.ICCID) != 20) || !isDigits(sub.ICCID):
		return invalidf("iccid: want 19 or 20 digits")
	case sub.KeyVersion < 1 || sub.KeyVersion > 15:
		return invalidf("key_version %d outside 1..15", sub.KeyVersion)
	case !validOperator(sub.Operator):
		return invalidf("operator: up to 32 of [a-z0-9._-]")
	case len(sub.Certificates) > MaxCertificates:
		return invalidf("%d certificates, max %d", len(sub.Certificates), MaxCertificates)
	}
	if _, ok := subStateCode[sub.State]; !ok {
		return invalidf("state %q: want active, suspended, closed or moving", sub.State)
	}
	for i := range sub.Certificates {
		if err := validateCertificate(i, &sub.Certificates[i]); err != nil {
			return err
		}
	}
	return nil
}

// userIDMAC binds the User ID to the phone, so two subscribers with the
// same User ID have different stored values.
func (s *Store) userIDMAC(phone, userID string) []byte {
	return mac(s.kUID, phone, userID)
}

// appendSubscriberBody encodes everything after the User ID HMAC.
func appendSubscriberBody(b []byte, sub *Subscriber) []byte {
	b = append(b, byte(len(sub.Phone)))
	b = append(b, sub.Phone...)
	b = append(b, byte(len(sub.ICCID)))
	b = append(b, sub.ICCID...)
	b = append(b, byte(sub.KeyVersion), byte(len(sub.Operator)))
	b = append(b, sub.Operator...)
	if sub.State != "" {
		b = append(b, subStateCode[sub.State])
	}
	return appendCertificates(b, sub.Certificates)
}

// recordVersion is the version octet sub is written with.
func recordVersion(sub *Subscriber) byte {
	if sub.State != "" {
		return subRecordVersion2
	}
	return subRecordVersion
}

// encodeSubscriber returns the stored record. sub must have been validated
// and uidMAC must be 32 octets.
func encodeSubscriber(sub *Subscriber, uidMAC []byte) []byte {
	b := make([]byte, 0, 64+len(sub.Phone)+len(sub.ICCID)+len(sub.Operator)+certsSize(sub.Certificates))
	b = append(b, recordVersion(sub))
	b = append(b, uidMAC...)
	return appendSubscriberBody(b, sub)
}

func certsSize(certs []Certificate) int {
	n := 2
	for _, c := range certs {
		n += 22 + len(c.TaxID) + len(c.DER)
	}
	return n
}

// decodeSubscriber parses and validates a stored record.
func decodeSubscriber(b []byte) (Subscriber, []byte, error) {
	r := &certReader{b: b}
	v := r.u8("record version")
	if r.err == nil && v != subRecordVersion && v != subRecordVersion2 {
		return Subscriber{}, nil, invalidf("stored subscriber: version %d", v)
	}
	uid := r.bytes(uidMACLen, "user_id_hmac")
	var sub Subscriber
	sub.Phone = string(r.bytes(int(r.u8("phone_len")), "phone"))
	sub.ICCID = string(r.bytes(int(r.u8("iccid_len")), "iccid"))
	sub.KeyVersion = int(r.u8("key_version"))
	sub.Operator = string(r.bytes(int(r.u8("operator_len")), "operator"))
	if v == subRecordVersion2 {
		st := r.u8("state")
		if r.err == nil && (st < 2 || int(st) >= len(subStateName)) {
			return Subscriber{}, nil, invalidf("stored subscriber: state code %d", st)
		}
		sub.State = subStateName[st]
	}
	if r.err != nil {
		return Subscriber{}, nil, r.err
	}
	certs, err := decodeCertificates(b[r.off:])
	if err != nil {
		return Subscriber{}, nil, err
	}
	sub.Certificates = certs
	if err := sub.validate(); err != nil {
		return Subscriber{}, nil, err
	}
	return sub, append([]byte(nil), uid...), nil
}

// PutSubscriber creates or replaces a subscriber. userID is the 6-digit
// User ID; only its HMAC is stored. An empty userID updates the other
// fields and keeps the stored User ID (ErrNotFound if there is none), so an
// administrator can change certificates without knowing the User ID.
func (s *Store) PutSubscriber(ctx context.Context, sub Subscriber, userID string) error {
	sub.Certificates = normalizeCertificates(sub.Certificates)
	if sub.State == SubscriberActive {
		sub.State = ""
	}
	if err := sub.validate(); err != nil {
		return err
	}
	ref := s.phone(sub.Phone)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if userID == "" {
		res, err := scriptPutKeepUID.Run(ctx, s.rdb, []string{ref.subscriberKey()},
			[]byte{recordVersion(&sub)}, appendSubscriberBody(nil, &sub)).Int()
		if err != nil {
			return storeErr("put subscriber", err)
		}
		if res == 0 {
			return storeErr("put subscriber", ErrNotFound)
		}
		return nil
	}
	if err := validUserID(userID); err != nil {
		return err
	}
	rec := encodeSubscriber(&sub, s.userIDMAC(sub.Phone, userID))
	return storeErr("put subscriber", s.rdb.Set(ctx, ref.subscriberKey(), rec, 0).Err())
}

// Subscriber returns the registry entry for phone.
func (s *Store) Subscriber(ctx context.Context, phone string) (Subscriber, error) {
	if err := validPhone(phone); err != nil {
		return Subscriber{}, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	rec, err := s.rdb.Get(ctx, s.phone(phone).subscriberKey()).Bytes()
	if err != nil {
		return Subscriber{}, storeErr("subscriber", err)
	}
	sub, _, err := decodeSubscriber(rec)
	return sub, err
}

// DeleteSubscriber removes a subscriber and its lockout state. Running
// sessions are left to finish or expire.
func (s *Store) DeleteSubscriber(ctx context.Context, phone string) error {
	if err := validPhone(phone); err != nil {
		return err
	}
	ref := s.phone(phone)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := scriptDelete.Run(ctx, s.rdb, []string{ref.subscriberKey(), ref.failKey()}).Int()
	if err != nil {
		return storeErr("delete subscriber", err)
	}
	if n == 0 {
		return storeErr("delete subscriber", ErrNotFound)
	}
	return nil
}

// CheckUserID checks a User ID for phone and returns the subscriber on a
// match. An unknown phone and a wrong User ID both give ErrBadUserID, cost
// the same single round trip and the same constant-time comparison, and
// both count against the phone's lockout. After Options.LockoutAttempts
// failures within LockoutWindow the phone is locked for LockoutDuration: a
// *LockedError (matching ErrLocked) with the remaining time, whatever the
// User ID.
//
// Every attempt is registered before it is judged, in the same atomic
// script that checks the lock, so concurrent guesses cannot exceed the
// limit; a match then removes its entry and clears the earlier failures, a
// mismatch turns it into a failure. A consequence: a check that would take
// the failures and the checks in flight for one phone past
// LockoutAttempts gets ErrOutstanding (not a lock: nothing failed yet)
// until the ones in flight are judged.
func (s *Store) CheckUserID(ctx context.Context, phone, userID string) (Subscriber, error) {
	if err := validPhone(phone); err != nil {
		return Subscriber{}, err
	}
	if err := validUserID(userID); err != nil {
		return Subscriber{}, err
	}
	ref := s.phone(phone)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	keys, args := s.attemptCall(ref)
	res, err := scriptAttempt.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return Subscriber{}, storeErr("check user id", err)
	}
	if err := s.judgeAttempt(ref, res, s.userIDMAC(phone, userID)); err != nil {
		s.attemptFailed(ctx, err, keys, args)
		return Subscriber{}, err
	}
	rec, err := scriptAttemptOK.Run(ctx, s.rdb, keys, args...).Text()
	if errors.Is(err, redis.Nil) { // deleted between the two calls
		return Subscriber{}, ErrBadUserID
	}
	if err != nil {
		return Subscriber{}, storeErr("check user id", err)
	}
	sub, _, err := decodeSubscriber([]byte(rec))
	return sub, err
}

// attemptCall lays out the KEYS and ARGV shared by scriptAttempt,
// scriptAttemptOK and scriptAttemptFail for one User ID check (the same
// now-ms in all, so the later ones find exactly the entry the first
// pushed). An entry still being judged after staleAttempt counts as a
// failure: its process died between the two calls.
func (s *Store) attemptCall(ref phoneRef) ([]string, []any) {
	now := strconv.FormatInt(ms(s.opts.Now()), 10)
	return []string{ref.subscriberKey(), ref.failKey()},
		[]any{now, durMS(s.opts.LockoutWindow), s.opts.LockoutAttempts, durMS(s.opts.LockoutDuration),
			durMS(s.opts.LockoutWindow + s.opts.LockoutDuration), durMS(s.staleAttempt())}
}

// staleAttempt is how long an attempt may be in judgement: both calls of
// a check, each bounded by OpTimeout, with room to spare.
func (s *Store) staleAttempt() time.Duration { return max(10*time.Second, 4*s.opts.OpTimeout) }

// attemptFailed records a User ID attempt that judgeAttempt refused with
// err as a failure; a lock or a busy answer pushed nothing. Should the
// call fail, the entry still counts once it is stale.
func (s *Store) attemptFailed(ctx context.Context, err error, keys []string, args []any) {
	if !errors.Is(err, ErrBadUserID) {
		return
	}
	if ferr := scriptAttemptFail.Run(ctx, s.rdb, keys, args...).Err(); ferr != nil {
		s.log.Warn("user id failure not recorded; it counts once stale", "err", ferr.Error())
	}
}

// judgeAttempt reads scriptAttempt's reply: nil when the stored HMAC
// equals want, a *LockedError or ErrBadUserID otherwise.
func (s *Store) judgeAttempt(ref phoneRef, res []any, want []byte) error {
	if len(res) == 1 && res[0] == "busy" {
		return fmt.Errorf("sessions: check user id: other checks of this phone are being judged: %w", ErrOutstanding)
	}
	if len(res) != 2 {
		return storeErr("check user id", errScriptReply)
	}
	if res[0] == "locked" {
		until, _ := strconv.ParseInt(toString(res[1]), 10, 64)
		retry := time.Duration(until-ms(s.opts.Now())) * time.Millisecond
		s.log.Info("user id check refused: phone locked", "msisdn_hash", ref.hash)
		return &LockedError{RetryAfter: max(retry, time.Second)}
	}
	// An unknown phone compares against a value no HMAC equals in practice,
	// with the same cost as a wrong User ID.
	stored := toString(res[1])
	if len(stored) != len(want) {
		stored = string(make([]byte, len(want)))
	}
	if subtle.ConstantTimeCompare([]byte(stored), want) != 1 {
		s.log.Info("user id check failed", "msisdn_hash", ref.hash)
		return ErrBadUserID
	}
	return nil
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// forEachShard runs fn on every master of a Cluster, or once on a single
// server or Sentinel-managed master.
func forEachShard(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, c redis.Cmdable) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, rdb)
}

// subscriberKeyPattern matches subscriber keys only ("{xxxx}s:<hash>").
const subscriberKeyPattern = "{????}s:*"

func isSubscriberKey(k string) bool {
	return len(k) > 8 && k[0] == '{' && k[5] == '}' && strings.HasPrefix(k[6:], "s:")
}

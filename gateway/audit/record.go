package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what a record attests.
type Kind string

// The kinds the gateway writes. Other kinds are allowed (lowercase letters,
// digits, '.' and '_', at most MaxKindLen) and counted as "other" in metrics.
const (
	KindSessionStart    Kind = "session.start"
	KindSessionComplete Kind = "session.complete"
	KindCallback        Kind = "callback.delivery"
	KindAdminCall       Kind = "admin.call"
	KindConfigReload    Kind = "config.reload"
	// KindCheckpoint records are written by the trail only: signed heads.
	KindCheckpoint Kind = "checkpoint"
	// KindChainStart is the first record of every chain: why it started
	// and what became of the writer's previous chain.
	KindChainStart Kind = "chain.start"
	// KindDropped records how many records the trail dropped (queue full).
	KindDropped Kind = "audit.dropped"
)

// Bounds of a record, so that one record stays well under MaxLineLen.
const (
	MaxKindLen        = 32
	MaxIDLen          = 128 // actor id, session id, certificate serial
	MaxRoleLen        = 32
	MaxRefLen         = 256
	MaxOutcomeLen     = 64
	MaxDetails        = 16
	MaxDetailKeyLen   = 32
	MaxDetailValueLen = 256
	// MaxLineLen bounds one line of an export, and so one record.
	MaxLineLen = 8 << 10
)

// Actor is who caused the event: a portal (ID = portal id, Role =
// "portal"), an admin principal with its role, or the gateway itself
// (Role "system").
type Actor struct {
	ID   string
	Role string
}

// Subject is what the event concerns. Empty fields are "not applicable".
type Subject struct {
	// Session is the session id.
	Session string
	// Cert is the certificate's serial number (hex).
	Cert string
	// SigSHA256 is the lowercase hex SHA-256 of the signature the card
	// returned: it identifies the signature without storing it.
	SigSHA256 string
	// Ref names anything else: an admin API path, a configuration file's
	// digest, a callback URL's host.
	Ref string
}

// Phone identifies a phone number without revealing it: an HMAC keyed by
// the audit phone key (so support can find a phone's records by computing
// the same HMAC, see PhoneHMAC) and a masked form to show support staff.
// Build it with Trail.Phone; a record never holds a phone in clear.
type Phone struct {
	HMAC   string // 32 lowercase hex digits, or ""
	Masked string // "+99450***4567", or ""
}

// Record is one audited event. Chain, Seq and Prev are set by the trail
// when it appends the record; Time defaults to the append time.
type Record struct {
	Chain   string
	Seq     uint64
	Time    time.Time
	Kind    Kind
	Actor   Actor
	Subject Subject
	Phone   Phone
	Outcome string
	// Details holds what else matters (result codes, durations, counts);
	// at most MaxDetails entries. Keys are lowercase [a-z0-9_.].
	Details map[string]string
	// Prev is the SHA-256 of the previous record's canonical bytes, or the
	// chain's genesis hash for the first record.
	Prev [32]byte
}

// Hash is the SHA-256 of the record's canonical bytes.
func (r *Record) Hash() [32]byte {
	return sha256.Sum256(r.AppendCanonical(make([]byte, 0, 512)))
}

// phoneKeyInfo separates the phone HMAC from any other use of the key.
const phoneKeyInfo = "imzagate/audit/v1/phone\n"

// PhoneHMAC is the Phone.HMAC of msisdn under key: the first 16 octets of
// HMAC-SHA256(key, "imzagate/audit/v1/phone\n" || msisdn), in hex. Support
// tools compute it to find a phone's records.
func PhoneHMAC(key []byte, msisdn string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(phoneKeyInfo))
	m.Write([]byte(msisdn))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// MaskPhone shows the country and network code and the last four digits
// of a number of at least ten digits ("+994501234567" → "+99450***4567"),
// only the last two of a shorter one, and nothing of what is not a number.
func MaskPhone(msisdn string) string {
	d := strings.TrimPrefix(msisdn, "+")
	if d == "" || strings.Trim(d, "0123456789") != "" || len(d) > 15 {
		return "***"
	}
	if len(d) >= 10 {
		return "+" + d[:5] + "***" + d[len(d)-4:]
	}
	if len(d) >= 4 {
		return "+***" + d[len(d)-2:]
	}
	return "***"
}

// validate checks a record against the bounds above; trail reports
// whether Chain, Seq and Prev (set by the trail) are checked too.
func (r *Record) validate(trail bool) error {
	if trail {
		if err := validChain(r.Chain); err != nil {
			return err
		}
		if r.Seq == 0 {
			return invalidf("seq 0 (sequences start at 1)")
		}
	}
	if r.Time.IsZero() || r.Time.Year() < 2000 || r.Time.Year() > 9999 {
		return invalidf("time %v outside 2000..9999", r.Time)
	}
	if !token(string(r.Kind), MaxKindLen, false) {
		return invalidf("kind %q: 1..%d of [a-z0-9._]", r.Kind, MaxKindLen)
	}
	if r.Actor.Role != "" && !token(r.Actor.Role, MaxRoleLen, true) {
		return invalidf("actor role %q: up to %d of [a-z0-9._-]", r.Actor.Role, MaxRoleLen)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"actor id", r.Actor.ID, MaxIDLen}, {"subject session", r.Subject.Session, MaxIDLen},
		{"subject cert", r.Subject.Cert, MaxIDLen}, {"subject ref", r.Subject.Ref, MaxRefLen},
		{"outcome", r.Outcome, MaxOutcomeLen},
	} {
		if err := freeText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if s := r.Subject.SigSHA256; s != "" && !lowerHex(s, 64) {
		return invalidf("subject sig_sha256 must be 64 lowercase hex digits")
	}
	if s := r.Phone.HMAC; s != "" && !lowerHex(s, 32) {
		return invalidf("phone hmac must be 32 lowercase hex digits (use Trail.Phone)")
	}
	if m := r.Phone.Masked; len(m) > 20 || strings.Trim(m, "+0123456789*") != "" || strings.Count(m, "*") < 3 && m != "" {
		return invalidf("phone masked form %q is not masked (use Trail.Phone)", m)
	}
	return validDetails(r.Details)
}

func validDetails(d map[string]string) error {
	if len(d) > MaxDetails {
		return invalidf("%d details, at most %d", len(d), MaxDetails)
	}
	for k, v := range d {
		if !token(k, MaxDetailKeyLen, false) {
			return invalidf("detail key %q: 1..%d of [a-z0-9._]", k, MaxDetailKeyLen)
		}
		switch k {
		case "phone", "msisdn", "user_id", "userid", "pin":
			return invalidf("detail key %q would hold personal data in clear", k)
		}
		if err := freeText("detail "+k, v, MaxDetailValueLen); err != nil {
			return err
		}
	}
	return nil
}

// freeText checks a caller's string: valid UTF-8, bounded, and free of
// anything that looks like a phone number in clear ('+' and nine digits
// or more), a last guard against personal data reaching the trail.
func freeText(name, v string, max int) error {
	if len(v) > max {
		return invalidf("%s of %d octets, at most %d", name, len(v), max)
	}
	if !utf8.ValidString(v) {
		return invalidf("%s is not valid UTF-8", name)
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '+' {
			continue
		}
		n := 0
		for j := i + 1; j < len(v) && v[j] >= '0' && v[j] <= '9'; j++ {
			n++
		}
		if n >= 9 {
			return invalidf("%s holds what looks like a phone number in clear", name)
		}
	}
	return nil
}

// token reports whether s is 1..max of [a-z0-9._] (and '-' when dash).
func token(s string, max int, dash bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || dash && c == '-') {
			return false
		}
	}
	return true
}

func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// MaxChainLen bounds a chain id.
const MaxChainLen = 96

// validChain: 1..MaxChainLen of [A-Za-z0-9._-], the charset the store
// accepts in key names (no hash tag braces).
func validChain(id string) error {
	if id == "" || len(id) > MaxChainLen {
		return invalidf("chain id of %d characters, 1..%d", len(id), MaxChainLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalidf("chain id has character %q", c)
		}
	}
	return nil
}

// Genesis is the Prev of a chain's first record: SHA-256 of
// "imzagate/audit/v1/genesis\n" || chain id, so a first record cannot be
// moved to the start of another chain.
func Genesis(chain string) [32]byte {
	return sha256.Sum256([]byte("imzagate/audit/v1/genesis\n" + chain))
}

// String returns the kind as written in records.
func (k Kind) String() string { return string(k) }

// describe names a record for messages: chain and seq only, never content.
func describe(chain string, seq uint64) string { return fmt.Sprintf("chain %s seq %d", chain, seq) }

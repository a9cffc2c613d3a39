package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// Canonical encoding (docs/audit.md has the full definition). A record is
// hashed, stored and exported as one JSON object with every field present,
// in this order, with no whitespace:
//
//	{"v":1,"chain":S,"seq":N,"time":T,"kind":S,"actor":{"id":S,"role":S},
//	 "subject":{"session":S,"cert":S,"sig_sha256":S,"ref":S},
//	 "phone":{"hmac":S,"masked":S},"outcome":S,"details":{K:S,…},"prev":H}
//
// N is a decimal integer without leading zeros; T is UTC with exactly three
// fraction digits ("2025-01-02T03:04:05.678Z"); H is 64 lowercase hex
// digits; details are sorted by key (bytewise). Strings are UTF-8 with only
// '"', '\' and the control characters U+0000..U+001F and U+007F escaped,
// the controls as \u00xx with lowercase hex; nothing else is escaped. An
// exported line is the same object with ,"hash":H before its closing brace.

// Version is the canonical encoding's version, the "v" of every line.
const Version = 1

// timeLayout is the canonical time format (always UTC, milliseconds).
const timeLayout = "2006-01-02T15:04:05.000Z"

// AppendCanonical appends the record's canonical bytes to dst.
func (r *Record) AppendCanonical(dst []byte) []byte {
	dst = append(dst, `{"v":1,"chain":`...)
	dst = appendString(dst, r.Chain)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, `","kind":`...)
	dst = appendString(dst, string(r.Kind))
	dst = append(dst, `,"actor":{"id":`...)
	dst = appendString(dst, r.Actor.ID)
	dst = append(dst, `,"role":`...)
	dst = appendString(dst, r.Actor.Role)
	dst = append(dst, `},"subject":{"session":`...)
	dst = appendString(dst, r.Subject.Session)
	dst = append(dst, `,"cert":`...)
	dst = appendString(dst, r.Subject.Cert)
	dst = append(dst, `,"sig_sha256":`...)
	dst = appendString(dst, r.Subject.SigSHA256)
	dst = append(dst, `,"ref":`...)
	dst = appendString(dst, r.Subject.Ref)
	dst = append(dst, `},"phone":{"hmac":`...)
	dst = appendString(dst, r.Phone.HMAC)
	dst = append(dst, `,"masked":`...)
	dst = appendString(dst, r.Phone.Masked)
	dst = append(dst, `},"outcome":`...)
	dst = appendString(dst, r.Outcome)
	dst = append(dst, `,"details":{`...)
	dst = appendDetails(dst, r.Details)
	dst = append(dst, `},"prev":"`...)
	dst = hex.AppendEncode(dst, r.Prev[:])
	return append(dst, `"}`...)
}

func appendDetails(dst []byte, d map[string]string) []byte {
	var small [MaxDetails]string
	keys := small[:0]
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, d[k])
	}
	return dst
}

// appendString appends s as a canonical JSON string.
func appendString(dst []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendLine appends the record's export line (canonical bytes with its
// hash), without the newline.
func (r *Record) AppendLine(dst []byte) []byte {
	start := len(dst)
	dst = r.AppendCanonical(dst)
	h := sha256.Sum256(dst[start:])
	return withHash(dst, h)
}

// withHash turns canonical bytes ending in '}' (at the end of dst) into a
// line: ,"hash":H goes before the closing brace.
func withHash(dst []byte, h [32]byte) []byte {
	dst = dst[:len(dst)-1]
	dst = append(dst, `,"hash":"`...)
	dst = hex.AppendEncode(dst, h[:])
	return append(dst, `"}`...)
}

// recordJSON is the shape of a record line for encoding/json, which does
// the unescaping; the strict check is the byte comparison that follows.
type recordJSON struct {
	V     int    `json:"v"`
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	Time  string `json:"time"`
	Kind  string `json:"kind"`
	Actor struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"actor"`
	Subject struct {
		Session   string `json:"session"`
		Cert      string `json:"cert"`
		SigSHA256 string `json:"sig_sha256"`
		Ref       string `json:"ref"`
	} `json:"subject"`
	Phone struct {
		HMAC   string `json:"hmac"`
		Masked string `json:"masked"`
	} `json:"phone"`
	Outcome string            `json:"outcome"`
	Details map[string]string `json:"details"`
	Prev    string            `json:"prev"`
	Hash    *string           `json:"hash"`
}

// ParseRecord decodes canonical record bytes (as stored, without a hash).
// Anything but the exact canonical encoding of a valid record is an error.
func ParseRecord(b []byte) (Record, error) {
	r, _, err := parseRecord(b, false)
	return r, err
}

// ParseLine decodes an export line (without its newline) and returns the
// record and the hash the line states. The line must be exactly the
// canonical encoding of a valid record plus a hash; the stated hash is not
// checked against the content (the verifier does that, to say which record
// changed).
func ParseLine(line []byte) (Record, [32]byte, error) {
	return parseRecord(line, true)
}

func parseRecord(b []byte, withHashField bool) (Record, [32]byte, error) {
	var stated [32]byte
	if len(b) > MaxLineLen {
		return Record{}, stated, invalidf("record of %d octets, at most %d", len(b), MaxLineLen)
	}
	var j recordJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Record{}, stated, invalidf("not a record: %v", err)
	}
	if dec.More() {
		return Record{}, stated, invalidf("data after the record")
	}
	if j.V != Version {
		return Record{}, stated, invalidf("version %d, want %d", j.V, Version)
	}
	t, err := time.Parse(timeLayout, j.Time)
	if err != nil {
		return Record{}, stated, invalidf("time %q is not canonical", j.Time)
	}
	r := Record{
		Chain: j.Chain, Seq: j.Seq, Time: t, Kind: Kind(j.Kind),
		Actor:   Actor{ID: j.Actor.ID, Role: j.Actor.Role},
		Subject: Subject{Session: j.Subject.Session, Cert: j.Subject.Cert, SigSHA256: j.Subject.SigSHA256, Ref: j.Subject.Ref},
		Phone:   Phone{HMAC: j.Phone.HMAC, Masked: j.Phone.Masked},
		Outcome: j.Outcome, Details: j.Details,
	}
	if !decodeHash(j.Prev, &r.Prev) {
		return Record{}, stated, invalidf("prev is not 64 lowercase hex digits")
	}
	if withHashField != (j.Hash != nil) {
		return Record{}, stated, invalidf("hash field present=%v, want %v", j.Hash != nil, withHashField)
	}
	if j.Hash != nil && !decodeHash(*j.Hash, &stated) {
		return Record{}, stated, invalidf("hash is not 64 lowercase hex digits")
	}
	if err := r.validate(true); err != nil {
		return Record{}, stated, err
	}
	var enc []byte
	if withHashField {
		enc = withHash(r.AppendCanonical(make([]byte, 0, len(b))), stated)
	} else {
		enc = r.AppendCanonical(make([]byte, 0, len(b)))
	}
	if !bytes.Equal(enc, b) {
		return Record{}, stated, invalidf("not in canonical form (field order, spacing, escaping or number format)")
	}
	return r, stated, nil
}

func decodeHash(s string, out *[32]byte) bool {
	if !lowerHex(s, 64) {
		return false
	}
	_, err := hex.Decode(out[:], []byte(s))
	return err == nil
}

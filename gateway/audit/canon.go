package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// ParseRecord decodes canonical record bytes (as stored, without a hash).
// Anything but the exact canonical encoding of a valid record is an error.
func ParseRecord(b []byte) (Record, error) {
	r, _, _, err := parseRecord(b, false)
	return r, err
}

// ParseLine decodes an export line (without its newline) and returns the
// record and the hash the line states. The line must be exactly the
// canonical encoding of a valid record plus a hash; the stated hash is not
// checked against the content (the verifier does that, to say which record
// changed).
func ParseLine(line []byte) (Record, [32]byte, error) {
	r, stated, _, err := parseRecord(line, true)
	return r, stated, err
}

// parseRecord decodes a record (with its stated hash when withHashField)
// and also returns the hash of its canonical bytes.
func parseRecord(b []byte, withHashField bool) (r Record, stated, computed [32]byte, err error) {
	if len(b) > MaxLineLen {
		return Record{}, stated, computed, invalidf("record of %d octets, at most %d", len(b), MaxLineLen)
	}
	r, err = scanRecord(b, withHashField, &stated)
	if err != nil {
		return Record{}, stated, computed, err
	}
	if err := r.validate(true); err != nil {
		return Record{}, stated, computed, err
	}
	// The scanner accepts the canonical escapes only; comparing with the
	// re-encoding rejects everything else that is not canonical (detail
	// order, duplicate keys).
	enc := r.AppendCanonical(make([]byte, 0, len(b)))
	computed = sha256.Sum256(enc)
	if withHashField {
		enc = withHash(enc, stated)
	}
	if !bytes.Equal(enc, b) {
		return Record{}, stated, computed, invalidf("not in canonical form (field order, spacing, escaping or number format)")
	}
	return r, stated, computed, nil
}

// scanner reads the canonical form: fixed literals between values.
type scanner struct {
	b   []byte
	n   int // length of the whole input, for offsets in errors
	err error
}

func (s *scanner) fail(what string) {
	if s.err == nil {
		s.err = invalidf("not in canonical form: %s at octet %d", what, s.n-len(s.b))
	}
}

func (s *scanner) lit(l string) {
	if s.err == nil && !bytes.HasPrefix(s.b, []byte(l)) {
		s.fail("expected " + l)
		return
	}
	if s.err == nil {
		s.b = s.b[len(l):]
	}
}

// str reads a string with the canonical escapes only.
func (s *scanner) str() string {
	s.lit(`"`)
	if s.err != nil {
		return ""
	}
	var out []byte
	for i := 0; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			v := string(append(out, s.b[:i]...))
			s.b = s.b[i+1:]
			return v
		case c < 0x20 || c == 0x7f:
			s.fail("unescaped control character")
			return ""
		case c == '\\':
			out = append(out, s.b[:i]...)
			rest := s.b[i+1:]
			switch {
			case len(rest) > 0 && (rest[0] == '"' || rest[0] == '\\'):
				out = append(out, rest[0])
				s.b = rest[1:]
			case len(rest) >= 5 && string(rest[:3]) == "u00" && lowerHex(string(rest[3:5]), 2):
				v, _ := strconv.ParseUint(string(rest[3:5]), 16, 8)
				if v >= 0x20 && v != 0x7f {
					s.fail("needless escape")
					return ""
				}
				out = append(out, byte(v))
				s.b = rest[5:]
			default:
				s.fail("escape")
				return ""
			}
			i = -1
		}
	}
	s.fail("unterminated string")
	return ""
}

func (s *scanner) uint() uint64 {
	if s.err != nil {
		return 0
	}
	n := 0
	for n < len(s.b) && n < 20 && s.b[n] >= '0' && s.b[n] <= '9' {
		n++
	}
	v, err := strconv.ParseUint(string(s.b[:n]), 10, 64)
	if err != nil || n > 1 && s.b[0] == '0' {
		s.fail("number")
		return 0
	}
	s.b = s.b[n:]
	return v
}

func (s *scanner) hash(out *[32]byte) {
	if h := s.str(); s.err == nil && !decodeHash(h, out) {
		s.fail("hash of 64 lowercase hex digits")
	}
}

func scanRecord(b []byte, withHashField bool, stated *[32]byte) (Record, error) {
	s := &scanner{b: b, n: len(b)}
	var r Record
	s.lit(`{"v":`)
	if v := s.uint(); s.err == nil && v != Version {
		return Record{}, invalidf("version %d, want %d", v, Version)
	}
	s.lit(`,"chain":`)
	r.Chain = s.str()
	s.lit(`,"seq":`)
	r.Seq = s.uint()
	s.lit(`,"time":`)
	if ts := s.str(); s.err == nil {
		t, err := time.Parse(timeLayout, ts)
		if err != nil {
			return Record{}, invalidf("time %q is not canonical", ts)
		}
		r.Time = t
	}
	s.lit(`,"kind":`)
	r.Kind = Kind(s.str())
	s.lit(`,"actor":{"id":`)
	r.Actor.ID = s.str()
	s.lit(`,"role":`)
	r.Actor.Role = s.str()
	s.lit(`},"subject":{"session":`)
	r.Subject.Session = s.str()
	s.lit(`,"cert":`)
	r.Subject.Cert = s.str()
	s.lit(`,"sig_sha256":`)
	r.Subject.SigSHA256 = s.str()
	s.lit(`,"ref":`)
	r.Subject.Ref = s.str()
	s.lit(`},"phone":{"hmac":`)
	r.Phone.HMAC = s.str()
	s.lit(`,"masked":`)
	r.Phone.Masked = s.str()
	s.lit(`},"outcome":`)
	r.Outcome = s.str()
	s.lit(`,"details":{`)
	for s.err == nil && len(s.b) > 0 && s.b[0] != '}' {
		if len(r.Details) > 0 {
			s.lit(",")
		}
		k := s.str()
		s.lit(":")
		v := s.str()
		if s.err == nil {
			if r.Details == nil {
				r.Details = map[string]string{}
			}
			if len(r.Details) >= MaxDetails {
				return Record{}, invalidf("more than %d details", MaxDetails)
			}
			r.Details[k] = v
		}
	}
	s.lit(`},"prev":`)
	s.hash(&r.Prev)
	if withHashField {
		s.lit(`,"hash":`)
		s.hash(stated)
	}
	s.lit("}")
	if s.err == nil && len(s.b) > 0 {
		return Record{}, invalidf("data after the record")
	}
	return r, s.err
}

func decodeHash(s string, out *[32]byte) bool {
	if !lowerHex(s, 64) {
		return false
	}
	_, err := hex.Decode(out[:], []byte(s))
	return err == nil
}

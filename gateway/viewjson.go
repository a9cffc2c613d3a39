package gateway

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The portal's view of a session is the answer of every poll, so it is
// written by hand rather than through encoding/json's reflection: the
// bytes are exactly those json.NewEncoder(w).Encode(j) would write (HTML
// characters escaped, invalid UTF-8 replaced, the trailing newline), which
// TestSessionJSONMatchesEncodingJSON and FuzzSessionJSON check. A field
// added to sessionJSON or the types it holds must be added here too; the
// test fails until it is.

// viewBufs recycles the buffers of written views.
var viewBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// writeSessionJSON answers with the view j, as writeJSON would.
func writeSessionJSON(w http.ResponseWriter, status int, j *sessionJSON) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	bp := viewBufs.Get().(*[]byte)
	b := appendSessionJSON((*bp)[:0], j)
	b = append(b, '\n')
	_, _ = w.Write(b)
	if cap(b) <= 64<<10 { // a huge one is left to the collector
		*bp = b
		viewBufs.Put(bp)
	}
}

// appendSessionJSON appends j as encoding/json marshals it.
func appendSessionJSON(b []byte, j *sessionJSON) []byte {
	b = append(b, `{"sessionId":`...)
	b = appendJSONString(b, j.SessionID)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, j.State)
	b = append(b, `,"operation":`...)
	b = appendJSONString(b, j.Operation)
	if j.Result != "" {
		b = append(b, `,"result":`...)
		b = appendJSONString(b, j.Result)
	}
	b = append(b, `,"verificationCode":`...)
	b = appendJSONString(b, j.VerificationCode)
	b = append(b, `,"expiresAt":`...)
	b = appendJSONTime(b, j.ExpiresAt)
	if j.Signature != nil {
		b = append(b, `,"signature":{"algorithm":`...)
		b = appendJSONString(b, j.Signature.Algorithm)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, j.Signature.Value)
		b = appendSignatureExtras(b, j.Signature)
		b = append(b, '}')
	}
	if j.Certificate != nil {
		b = append(b, `,"certificate":`...)
		b = appendCertificateJSON(b, j.Certificate)
	}
	if len(j.Certificates) > 0 {
		b = append(b, `,"certificates":[`...)
		for i := range j.Certificates {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCertificateJSON(b, &j.Certificates[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"stages":{`...)
	first := true
	for _, st := range [...]struct {
		name string
		t    *time.Time
	}{{"accepted", j.Stages.Accepted}, {"submitted", j.Stages.Submitted}, {"delivered", j.Stages.Delivered}, {"completed", j.Stages.Completed}} {
		if st.t == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, st.name...)
		b = append(b, `":`...)
		b = appendJSONTime(b, *st.t)
	}
	return append(b, "}}"...)
}

// appendSignatureExtras appends the signature's optional members (the
// DER form and the AdES container, addContainer).
func appendSignatureExtras(b []byte, sg *signatureJSON) []byte {
	for _, f := range [...]struct{ name, v string }{{"der", sg.DER}, {"format", sg.Format}, {"cades", sg.CAdES}, {"asicManifest", sg.ASiCManifest}} {
		if f.v != "" {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = appendJSONString(b, f.v)
		}
	}
	if sg.SigningTime != nil {
		b = append(b, `,"signingTime":`...)
		b = appendJSONTime(b, *sg.SigningTime)
	}
	return b
}

// appendCertificateJSON appends c as encoding/json marshals it.
func appendCertificateJSON(b []byte, c *CertificateInfo) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, c.Type)
	if c.TaxID != "" {
		b = append(b, `,"taxId":`...)
		b = appendJSONString(b, c.TaxID)
	}
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, c.Subject)
	b = append(b, `,"serialNumber":`...)
	b = appendJSONString(b, c.SerialNumber)
	b = append(b, `,"notBefore":`...)
	b = appendJSONTime(b, c.NotBefore)
	b = append(b, `,"notAfter":`...)
	b = appendJSONTime(b, c.NotAfter)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, c.Status)
	b = append(b, `,"renewalOpen":`...)
	b = strconv.AppendBool(b, c.RenewalOpen)
	b = append(b, `,"pem":`...)
	b = appendJSONString(b, c.PEM)
	if r := c.Revocation; r != nil {
		b = append(b, `,"revocation":{"status":`...)
		b = appendJSONString(b, r.Status)
		if r.Source != "" {
			b = append(b, `,"source":`...)
			b = appendJSONString(b, r.Source)
		}
		b = append(b, `,"checkedAt":`...)
		b = appendJSONTime(b, r.CheckedAt)
		if r.RevokedAt != nil {
			b = append(b, `,"revokedAt":`...)
			b = appendJSONTime(b, *r.RevokedAt)
		}
		if r.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendJSONString(b, r.Reason)
		}
		b = append(b, '}')
	}
	if len(c.Chain) > 0 {
		b = append(b, `,"chain":[`...)
		for i, p := range c.Chain {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, p)
		}
		b = append(b, ']')
	}
	if c.Refusal != "" {
		b = append(b, `,"refusal":`...)
		b = appendJSONString(b, c.Refusal)
	}
	return append(b, '}')
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds as needed).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString appends s quoted as encoding/json does by default: ", \
// and control characters escaped, <, > and & as \u003c etc., invalid
// UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexdig[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

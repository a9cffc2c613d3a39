package sessions

import (
	"encoding/binary"
	"time"
)

// Revocation statuses of a certificate (CertificateStatus.Status).
const (
	CertStatusGood    = "good"
	CertStatusRevoked = "revoked"
	CertStatusUnknown = "unknown"
)

// Sources of a revocation status (CertificateStatus.Source).
const (
	CertSourceOCSP        = "ocsp"
	CertSourceCRL         = "crl"
	CertSourceProvisioned = "provisioned"
)

// MaxChainLen bounds the certificates of a stored chain: the subscriber's
// and up to seven CAs above it.
const MaxChainLen = 8

// CertificateStatus is what the certification authority said about a
// session's certificate when the session completed: the revocation status,
// where it came from and when, and the validated chain. It is stored with
// the result, so every instance answers a poll with the status that
// decided it rather than with one it would look up again.
type CertificateStatus struct {
	Status    string    // good | revoked | unknown
	Source    string    // ocsp | crl | provisioned; "" with unknown
	CheckedAt time.Time // when the status was asked for; whole ms are kept
	RevokedAt time.Time // revoked only; zero when the source names no time
	Reason    int       // revoked only: RFC 5280 §5.3.1 CRLReason, 0..10 but 7
	Chain     [][]byte  // DER, the certificate first and the root last; may be empty
}

// The stored form of a CertificateStatus (session hash field cs): one
// string, fixed header then the chain.
//
//	version(1)=01 status(1) source(1) checked_ms(8) revoked_ms(8) reason(1)
//	count(1) count × { der_len(2) der }
//
// status is 'g', 'r' or 'u'; source 'o', 'c', 'p' or '-' (none); times are
// Unix milliseconds, big-endian, revoked_ms 0 when absent.
const (
	certStatusVersion   = 1
	certStatusHeaderLen = 1 + 1 + 1 + 8 + 8 + 1 + 1
)

var (
	statusCodes = map[string]byte{CertStatusGood: 'g', CertStatusRevoked: 'r', CertStatusUnknown: 'u'}
	sourceCodes = map[string]byte{CertSourceOCSP: 'o', CertSourceCRL: 'c', CertSourceProvisioned: 'p', "": '-'}
)

func codeName(m map[string]byte, c byte) (string, bool) {
	for k, v := range m {
		if v == c {
			return k, true
		}
	}
	return "", false
}

// validate checks a status against the rules of its stored form.
func (cs *CertificateStatus) validate() error {
	_, okStatus := statusCodes[cs.Status]
	_, okSource := sourceCodes[cs.Source]
	switch {
	case !okStatus:
		return invalidf("certificate status %q: want good, revoked or unknown", cs.Status)
	case !okSource:
		return invalidf("certificate status source %q: want ocsp, crl or provisioned", cs.Source)
	case (cs.Status == CertStatusUnknown) != (cs.Source == ""):
		return invalidf("certificate status %s with source %q: only an unknown status has none", cs.Status, cs.Source)
	case ms(cs.CheckedAt) <= 0:
		return invalidf("certificate status: checkedAt missing")
	case cs.Status != CertStatusRevoked && (!cs.RevokedAt.IsZero() || cs.Reason != 0):
		return invalidf("certificate status %s with a revocation time or reason", cs.Status)
	case !cs.RevokedAt.IsZero() && ms(cs.RevokedAt) <= 0:
		return invalidf("certificate status: revokedAt before 1970")
	case cs.Reason < 0 || cs.Reason > 10 || cs.Reason == 7:
		return invalidf("certificate status: reason %d is no CRLReason", cs.Reason)
	case len(cs.Chain) > MaxChainLen:
		return invalidf("certificate status: %d certificates in the chain, max %d", len(cs.Chain), MaxChainLen)
	}
	for i, der := range cs.Chain {
		if len(der) == 0 || len(der) > MaxDERLen {
			return invalidf("certificate status: chain[%d] of %d octets, want 1..%d", i, len(der), MaxDERLen)
		}
	}
	return nil
}

// appendCertStatus encodes a validated status.
func appendCertStatus(b []byte, cs *CertificateStatus) []byte {
	b = append(b, certStatusVersion, statusCodes[cs.Status], sourceCodes[cs.Source])
	b = binary.BigEndian.AppendUint64(b, uint64(ms(cs.CheckedAt)))
	var rev int64
	if !cs.RevokedAt.IsZero() {
		rev = ms(cs.RevokedAt)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(rev))
	b = append(b, byte(cs.Reason), byte(len(cs.Chain)))
	for _, der := range cs.Chain {
		b = binary.BigEndian.AppendUint16(b, uint16(len(der)))
		b = append(b, der...)
	}
	return b
}

// decodeCertStatus parses and checks a stored status.
func decodeCertStatus(b []byte) (*CertificateStatus, error) {
	if len(b) < certStatusHeaderLen || b[0] != certStatusVersion {
		return nil, invalidf("stored certificate status: bad header")
	}
	status, ok1 := codeName(statusCodes, b[1])
	source, ok2 := codeName(sourceCodes, b[2])
	if !ok1 || !ok2 {
		return nil, invalidf("stored certificate status: status %q source %q", b[1], b[2])
	}
	checked, revoked := int64(binary.BigEndian.Uint64(b[3:])), int64(binary.BigEndian.Uint64(b[11:]))
	if checked <= 0 || revoked < 0 {
		return nil, invalidf("stored certificate status: bad times")
	}
	cs := &CertificateStatus{Status: status, Source: source, CheckedAt: fromMS(checked), Reason: int(b[19])}
	if revoked > 0 {
		cs.RevokedAt = fromMS(revoked)
	}
	n := int(b[20])
	if n > MaxChainLen {
		return nil, invalidf("stored certificate status: %d certificates", n)
	}
	rest := b[certStatusHeaderLen:]
	for range n {
		if len(rest) < 2 {
			return nil, invalidf("stored certificate status: truncated chain")
		}
		l := int(binary.BigEndian.Uint16(rest))
		if l == 0 || len(rest) < 2+l {
			return nil, invalidf("stored certificate status: truncated chain")
		}
		cs.Chain = append(cs.Chain, rest[2:2+l:2+l])
		rest = rest[2+l:]
	}
	if len(rest) != 0 {
		return nil, invalidf("stored certificate status: %d trailing octets", len(rest))
	}
	if err := cs.validate(); err != nil {
		return nil, err
	}
	return cs, nil
}

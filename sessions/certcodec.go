package sessions

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Limits on a subscriber's certificates.
const (
	MaxCertificates = 16        // per SIM: key references 01..0F, with room for a renewal overlap
	MaxDERLen       = 16 * 1024 // an ML-DSA-44 certificate is about 4 KB
	TaxIDLen        = 10        // VÖEN: 10 digits
)

// Certificate types and statuses.
const (
	CertPersonal   = "personal"
	CertBusiness   = "business"
	CertGovernment = "government"
	StatusActive   = "active"
	StatusRevoked  = "revoked"
	// StatusSuspended: the CA put the certificate on hold; it may become
	// active again (RFC 5280 certificateHold).
	StatusSuspended = "suspended"
)

// MaxStatusReasonLen bounds Certificate.StatusReason.
const MaxStatusReasonLen = 128

var certTypeCode = map[string]byte{CertPersonal: 1, CertBusiness: 2, CertGovernment: 3}
var certTypeName = [...]string{1: CertPersonal, 2: CertBusiness, 3: CertGovernment}
var certStatusCode = map[string]byte{StatusActive: 1, StatusRevoked: 2, StatusSuspended: 3}
var certStatusName = [...]string{1: StatusActive, 2: StatusRevoked, 3: StatusSuspended}

// certBlobVersion is the first octet of the stored certificate list;
// certBlobVersion2 adds each certificate's status time and reason. A list
// is written in version 1 whenever none has them, so one list has one
// encoding.
const (
	certBlobVersion  = 1
	certBlobVersion2 = 2
)

// validateCertificate checks one certificate against the documented limits.
func validateCertificate(i int, c *Certificate) error {
	if _, ok := certTypeCode[c.Type]; !ok {
		return invalidf("certificates[%d].type %q: want authentication, personal, business or government", i, c.Type)
	}
	if _, ok := certStatusCode[c.Status]; !ok {
		return invalidf("certificates[%d].status %q: want active, revoked or suspended", i, c.Status)
	}
	if len(c.StatusReason) > MaxStatusReasonLen || !printable(c.StatusReason, true) {
		return invalidf("certificates[%d].status_reason: up to %d printable ASCII characters", i, MaxStatusReasonLen)
	}
	if !c.StatusAt.IsZero() && c.StatusAt.Unix() < 0 {
		return invalidf("certificates[%d].status_at before 1970", i)
	}
	switch {
	case c.TaxID != "" && (len(c.TaxID) != TaxIDLen || !isDigits(c.TaxID)):
		return invalidf("certificates[%d].tax_id: want %d digits", i, TaxIDLen)
	case c.Type == CertBusiness && c.TaxID == "":
		return invalidf("certificates[%d].tax_id: a business certificate needs the company's VÖEN", i)
	case c.KeyRef < 0x01 || c.KeyRef > 0x0F:
		return invalidf("certificates[%d].key_ref %d outside 1..15", i, c.KeyRef)
	case len(c.DER) == 0 || len(c.DER) > MaxDERLen:
		return invalidf("certificates[%d].der: %d octets, want 1..%d", i, len(c.DER), MaxDERLen)
	case c.NotBefore.IsZero() || c.NotAfter.IsZero() || !c.NotBefore.Before(c.NotAfter):
		return invalidf("certificates[%d]: validity must have not_before before not_after", i)
	case c.NotBefore.Unix() < 0 || c.NotAfter.Unix() < 0:
		return invalidf("certificates[%d]: validity before 1970", i)
	}
	return nil
}

// appendCertificates encodes the list compactly (the registry holds
// millions of rows, so no base64 or JSON):
//
//	version(1)=01 count(1)
//	per certificate: type(1) status(1) key_ref(1) tax_id_len(1) tax_id
//	                 not_before(8, unix seconds BE) not_after(8) der_len(2 BE) der
//
// Times keep whole seconds, like X.509 validity. Certificates must have been
// validated. Version 2 (when any certificate has a status time or reason)
// adds after key_ref: status_at(8, unix seconds BE, 0 = none) reason_len(1)
// reason.
func appendCertificates(b []byte, certs []Certificate) []byte {
	v2 := needsStatusDetail(certs)
	if v2 {
		b = append(b, certBlobVersion2, byte(len(certs)))
	} else {
		b = append(b, certBlobVersion, byte(len(certs)))
	}
	for _, c := range certs {
		b = append(b, certTypeCode[c.Type], certStatusCode[c.Status], c.KeyRef)
		if v2 {
			var at int64
			if !c.StatusAt.IsZero() {
				at = c.StatusAt.Unix()
			}
			b = binary.BigEndian.AppendUint64(b, uint64(at))
			b = append(b, byte(len(c.StatusReason)))
			b = append(b, c.StatusReason...)
		}
		b = append(b, byte(len(c.TaxID)))
		b = append(b, c.TaxID...)
		b = binary.BigEndian.AppendUint64(b, uint64(c.NotBefore.Unix()))
		b = binary.BigEndian.AppendUint64(b, uint64(c.NotAfter.Unix()))
		b = binary.BigEndian.AppendUint16(b, uint16(len(c.DER)))
		b = append(b, c.DER...)
	}
	return b
}

// needsStatusDetail reports whether any certificate has a status time or
// reason, which only version 2 of the list keeps.
func needsStatusDetail(certs []Certificate) bool {
	for _, c := range certs {
		if !c.StatusAt.IsZero() || c.StatusReason != "" {
			return true
		}
	}
	return false
}

// certReader is a bounds-checked cursor: the first failure sticks, so the
// decoder reads as a flat list of fields with one check at the end.
type certReader struct {
	b   []byte
	off int
	err error
}

func (r *certReader) fail(field string) {
	if r.err == nil {
		r.err = invalidf("certificate blob: %s at offset %d: truncated", field, r.off)
	}
}

func (r *certReader) bytes(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail(field)
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *certReader) u8(field string) byte {
	if v := r.bytes(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (r *certReader) u16(field string) int {
	if v := r.bytes(2, field); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *certReader) i64(field string) int64 {
	if v := r.bytes(8, field); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// decodeCertificates parses a blob written by appendCertificates and
// validates every certificate; trailing octets are an error.
func decodeCertificates(b []byte) ([]Certificate, error) {
	r := &certReader{b: b}
	v := r.u8("version")
	if r.err == nil && v != certBlobVersion && v != certBlobVersion2 {
		return nil, invalidf("certificate blob: version %d", v)
	}
	n := int(r.u8("count"))
	if r.err != nil {
		return nil, r.err
	}
	if n > MaxCertificates {
		return nil, invalidf("certificate blob: %d certificates, max %d", n, MaxCertificates)
	}
	var certs []Certificate // nil when there are none, as normalizeCertificates gives
	for i := range n {
		var c Certificate
		typ, st := r.u8("type"), r.u8("status")
		c.KeyRef = r.u8("key_ref")
		if v == certBlobVersion2 {
			if at := r.i64("status_at"); at != 0 {
				c.StatusAt = time.Unix(at, 0).UTC()
			}
			c.StatusReason = string(r.bytes(int(r.u8("reason_len")), "reason"))
		}
		c.TaxID = string(r.bytes(int(r.u8("tax_id_len")), "tax_id"))
		nb, na := r.i64("not_before"), r.i64("not_after")
		der := r.bytes(r.u16("der_len"), "der")
		if r.err != nil {
			return nil, r.err
		}
		if int(typ) >= len(certTypeName) || certTypeName[typ] == "" {
			return nil, invalidf("certificates[%d]: type code %d", i, typ)
		}
		if int(st) >= len(certStatusName) || certStatusName[st] == "" {
			return nil, invalidf("certificates[%d]: status code %d", i, st)
		}
		c.Type, c.Status = certTypeName[typ], certStatusName[st]
		c.NotBefore, c.NotAfter = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC()
		c.DER = append([]byte(nil), der...)
		if err := validateCertificate(i, &c); err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if r.off != len(b) {
		return nil, invalidf("certificate blob: %d trailing octets", len(b)-r.off)
	}
	if v == certBlobVersion2 && !needsStatusDetail(certs) {
		return nil, invalidf("certificate blob: version 2 without status details")
	}
	return certs, nil
}

// normalizeCertificates drops sub-second parts and locations, which the
// stored form does not keep, so a value read back equals the value written.
func normalizeCertificates(certs []Certificate) []Certificate {
	if len(certs) == 0 {
		return nil
	}
	out := make([]Certificate, len(certs))
	for i, c := range certs {
		c.NotBefore = time.Unix(c.NotBefore.Unix(), 0).UTC()
		c.NotAfter = time.Unix(c.NotAfter.Unix(), 0).UTC()
		if !c.StatusAt.IsZero() {
			c.StatusAt = time.Unix(c.StatusAt.Unix(), 0).UTC()
		}
		out[i] = c
	}
	return out
}

// String describes the certificate for logs and test failures without its
// DER, so a log line never carries the whole certificate.
func (c Certificate) String() string {
	return fmt.Sprintf("%s key_ref=%02X status=%s", c.Type, c.KeyRef, c.Status)
}

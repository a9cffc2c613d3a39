package ades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Bounds of what Verify reads: a container of this package is a few
// kilobytes (certificates dominate), so anything far larger is refused
// before parsing.
const (
	MaxCMSSize      = 256 << 10
	maxCertificates = 1 + MaxChain
	maxAttributes   = 16
)

// Expected is what the gateway knows independently of the container: the
// document's digest and the certificate of the key that signed.
type Expected struct {
	DigestAlg crypto.Hash
	Digest    []byte
	Signer    *x509.Certificate
}

// Verified is what a container that passed Verify states.
type Verified struct {
	SigningTime time.Time
	DigestAlg   crypto.Hash
}

// Verify checks a detached CAdES-B container against what the gateway
// expects: one signer identified by the expected certificate (its
// issuerAndSerialNumber, the certificate included, the signing-certificate-v2
// hash and issuerSerial), the message-digest attribute equal to the
// document's digest, content type id-data, and the ECDSA signature over the
// DER signed attributes with the certificate's key. The parser reads DER
// only, at most MaxCMSSize octets, and walks every structure once.
func Verify(der []byte, want Expected) (*Verified, error) {
	if len(der) > MaxCMSSize {
		return nil, fmt.Errorf("%w: CMS of %d octets, at most %d", ErrTooLarge, len(der), MaxCMSSize)
	}
	info, err := checkDigest(want.DigestAlg, want.Digest)
	if err != nil {
		return nil, err
	}
	if want.Signer == nil {
		return nil, fmt.Errorf("%w: no expected signer", ErrCertificate)
	}
	if err := CAdESSupported(want.Signer); err != nil {
		return nil, err
	}
	sd, err := parseContentInfo(der)
	if err != nil {
		return nil, err
	}
	if err := sd.checkAlgorithms(info); err != nil {
		return nil, err
	}
	if err := sd.checkSigner(want.Signer); err != nil {
		return nil, err
	}
	attrs, err := parseSignedAttrs(sd.si.attrs)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(want.Signer.PublicKey.(*ecdsa.PublicKey), want.DigestAlg, sd.si.attrs, sd.si.sig); err != nil {
		return nil, err
	}
	if err := attrs.check(want); err != nil {
		return nil, err
	}
	return &Verified{SigningTime: attrs.signingTime, DigestAlg: want.DigestAlg}, nil
}

// signedData holds the parts of a SignedData that Verify checks.
type signedData struct {
	digestAlg asn1.ObjectIdentifier
	certs     [][]byte
	si        signerInfo
}

type signerInfo struct {
	issuer, serial []byte // issuerAndSerialNumber: Name and INTEGER elements
	digestAlg      asn1.ObjectIdentifier
	attrs          []byte // signedAttrs element, tag A0
	sigAlg         asn1.ObjectIdentifier
	sig            []byte
}

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

var (
	tagContext0 = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagContext1 = cbasn1.Tag(1).ContextSpecific().Constructed()
	tagContext4 = cbasn1.Tag(4).ContextSpecific().Constructed()
)

func parseContentInfo(der []byte) (*signedData, error) {
	s := cryptobyte.String(der)
	var ci, content, body cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, malformed("ContentInfo is not one DER SEQUENCE")
	}
	if !ci.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSignedData) {
		return nil, malformed("content type is not signed-data")
	}
	if !ci.ReadASN1(&content, tagContext0) || !ci.Empty() || !content.ReadASN1(&body, cbasn1.SEQUENCE) || !content.Empty() {
		return nil, malformed("SignedData")
	}
	return parseSignedData(body)
}

func parseSignedData(s cryptobyte.String) (*signedData, error) {
	var sd signedData
	var version int64
	var algs, encap, signers, si cryptobyte.String
	var ctype asn1.ObjectIdentifier
	if !s.ReadASN1Integer(&version) || version != 1 {
		return nil, malformed("SignedData version is not 1")
	}
	if !s.ReadASN1(&algs, cbasn1.SET) || !readAlgorithm(&algs, &sd.digestAlg, true) || !algs.Empty() {
		return nil, malformed("digestAlgorithms is not one algorithm")
	}
	if !s.ReadASN1(&encap, cbasn1.SEQUENCE) || !encap.ReadASN1ObjectIdentifier(&ctype) || !ctype.Equal(oidData) {
		return nil, malformed("encapsulated content type is not id-data")
	}
	if !encap.Empty() {
		return nil, malformed("eContent present: not a detached signature")
	}
	certs, err := readCertificates(&s)
	if err != nil {
		return nil, err
	}
	sd.certs = certs
	if s.PeekASN1Tag(tagContext1) {
		return nil, malformed("revocation information is not part of this profile")
	}
	if !s.ReadASN1(&signers, cbasn1.SET) || !s.Empty() || !signers.ReadASN1(&si, cbasn1.SEQUENCE) || !signers.Empty() {
		return nil, malformed("signerInfos is not one SignerInfo")
	}
	if err := sd.si.parse(si); err != nil {
		return nil, err
	}
	return &sd, nil
}

// readCertificates reads the optional certificates [0] IMPLICIT SET OF,
// accepting X.509 certificates (SEQUENCEs) only, at most maxCertificates.
func readCertificates(s *cryptobyte.String) ([][]byte, error) {
	var set cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&set, &present, tagContext0) {
		return nil, malformed("certificates")
	}
	var certs [][]byte
	for !set.Empty() {
		var c cryptobyte.String
		if len(certs) == maxCertificates {
			return nil, fmt.Errorf("%w: more than %d certificates", ErrTooLarge, maxCertificates)
		}
		if !set.ReadASN1Element(&c, cbasn1.SEQUENCE) {
			return nil, malformed("certificate is not an X.509 certificate")
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func (si *signerInfo) parse(s cryptobyte.String) error {
	var version int64
	var sid, issuer, serial, sig cryptobyte.String
	if !s.ReadASN1Integer(&version) || version != 1 {
		return malformed("SignerInfo version is not 1 (issuerAndSerialNumber)")
	}
	if !s.ReadASN1(&sid, cbasn1.SEQUENCE) || !sid.ReadASN1Element(&issuer, cbasn1.SEQUENCE) ||
		!sid.ReadASN1Element(&serial, cbasn1.INTEGER) || !sid.Empty() {
		return malformed("issuerAndSerialNumber")
	}
	if !readAlgorithm(&s, &si.digestAlg, true) {
		return malformed("SignerInfo digestAlgorithm")
	}
	var attrs cryptobyte.String
	if !s.ReadASN1Element(&attrs, tagContext0) {
		return malformed("signedAttrs missing")
	}
	if !readAlgorithm(&s, &si.sigAlg, false) {
		return malformed("signatureAlgorithm (parameters must be absent)")
	}
	if !s.ReadASN1(&sig, cbasn1.OCTET_STRING) || !s.SkipOptionalASN1(tagContext1) || !s.Empty() {
		return malformed("signature")
	}
	si.issuer, si.serial, si.attrs, si.sig = issuer, serial, attrs, sig
	return nil
}

// readAlgorithm reads an AlgorithmIdentifier whose parameters are absent
// or, where nullOK (digest algorithms, RFC 5754 §2), NULL.
func readAlgorithm(s *cryptobyte.String, oid *asn1.ObjectIdentifier, nullOK bool) bool {
	var alg cryptobyte.String
	if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(oid) {
		return false
	}
	if nullOK && alg.PeekASN1Tag(cbasn1.NULL) {
		var null cryptobyte.String
		return alg.ReadASN1(&null, cbasn1.NULL) && null.Empty() && alg.Empty()
	}
	return alg.Empty()
}

func (sd *signedData) checkAlgorithms(info digestInfo) error {
	if !sd.digestAlg.Equal(info.oid) || !sd.si.digestAlg.Equal(info.oid) {
		return fmt.Errorf("%w: container digest algorithm %v, expected %v", ErrDigestAlgorithm, sd.si.digestAlg, info.oid)
	}
	if !sd.si.sigAlg.Equal(info.sigOID) {
		return malformed(fmt.Sprintf("signature algorithm %v, expected %v", sd.si.sigAlg, info.sigOID))
	}
	return nil
}

// checkSigner checks that the SignerInfo names the expected certificate and
// that the certificate is in the container.
func (sd *signedData) checkSigner(cert *x509.Certificate) error {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1BigInt(cert.SerialNumber)
	serial, err := b.Bytes()
	if err != nil {
		return fmt.Errorf("%w: serial number: %v", ErrCertificate, err)
	}
	if !bytes.Equal(sd.si.issuer, cert.RawIssuer) || !bytes.Equal(sd.si.serial, serial) {
		return fmt.Errorf("%w: signer identifier names another certificate", ErrCertificate)
	}
	for _, c := range sd.certs {
		if bytes.Equal(c, cert.Raw) {
			return nil
		}
	}
	return fmt.Errorf("%w: signer certificate not included", ErrCertificate)
}

// verifySignature checks the ECDSA signature over the DER of the signed
// attributes in their SET OF form (tag 31, RFC 5652 §5.4), hashed with the
// signer's digest algorithm.
func verifySignature(pub *ecdsa.PublicKey, alg crypto.Hash, attrs, sig []byte) error {
	if _, err := DERToRaw(sig); err != nil {
		return err
	}
	h := newHash(alg)
	h.Write([]byte{0x31})
	h.Write(attrs[1:])
	if !ecdsa.VerifyASN1(pub, h.Sum(nil), sig) {
		return ErrSignature
	}
	return nil
}

// signedAttrs holds the values of the CAdES-B attributes.
type signedAttrs struct {
	contentType   asn1.ObjectIdentifier
	messageDigest []byte
	signingTime   time.Time
	signingCert   []byte // SigningCertificateV2 element
	seen          uint8  // bits of the four attributes above, to refuse repeats
}

// parseSignedAttrs reads the signed attributes: DER order (which also
// rules out duplicates), each with one value, the four CAdES-B attributes
// present. Other attributes are allowed and ignored.
func parseSignedAttrs(elem []byte) (*signedAttrs, error) {
	s := cryptobyte.String(elem)
	var set cryptobyte.String
	if !s.ReadASN1(&set, tagContext0) {
		return nil, malformed("signedAttrs")
	}
	var a signedAttrs
	var prev []byte
	for n := 0; !set.Empty(); n++ {
		var attr cryptobyte.String
		if n == maxAttributes {
			return nil, fmt.Errorf("%w: more than %d signed attributes", ErrTooLarge, maxAttributes)
		}
		if !set.ReadASN1Element(&attr, cbasn1.SEQUENCE) {
			return nil, malformed("signed attribute")
		}
		if prev != nil && compareDER(prev, attr) >= 0 {
			return nil, malformed("signed attributes not in DER order")
		}
		prev = attr
		if err := a.add(attr); err != nil {
			return nil, err
		}
	}
	if a.contentType == nil || a.messageDigest == nil || a.signingTime.IsZero() || a.signingCert == nil {
		return nil, malformed("a CAdES-B signed attribute is missing (content-type, message-digest, signing-time, signing-certificate-v2)")
	}
	return &a, nil
}

func (a *signedAttrs) add(attr cryptobyte.String) error {
	var body, values, v cryptobyte.String
	var oid asn1.ObjectIdentifier
	var tag cbasn1.Tag
	if !attr.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1ObjectIdentifier(&oid) || !body.ReadASN1(&values, cbasn1.SET) ||
		!body.Empty() || !values.ReadAnyASN1Element(&v, &tag) || !values.Empty() {
		return malformed(fmt.Sprintf("attribute %v must have one value", oid))
	}
	var bit uint8
	ok := true
	switch {
	case oid.Equal(oidContentType):
		bit, ok = 1, v.ReadASN1ObjectIdentifier(&a.contentType)
	case oid.Equal(oidMessageDigest):
		bit, ok = 2, v.ReadASN1Bytes(&a.messageDigest, cbasn1.OCTET_STRING)
	case oid.Equal(oidSigningTime):
		bit = 4
		a.signingTime, ok = readTime(v)
	case oid.Equal(oidSigningCertificateV2):
		bit, a.signingCert, ok = 8, v, tag == cbasn1.SEQUENCE
	}
	if a.seen&bit != 0 {
		return malformed(fmt.Sprintf("attribute %v repeated", oid))
	}
	a.seen |= bit
	if !ok {
		return malformed(fmt.Sprintf("attribute %v value", oid))
	}
	return nil
}

// readTime reads Time as RFC 5652 §11.3 wants it: UTCTime YYMMDDHHMMSSZ for
// 1950 through 2049, GeneralizedTime YYYYMMDDHHMMSSZ otherwise.
func readTime(v cryptobyte.String) (time.Time, bool) {
	var raw cryptobyte.String
	var tag cbasn1.Tag
	if !v.ReadAnyASN1(&raw, &tag) || !v.Empty() {
		return time.Time{}, false
	}
	layout, utc := "20060102150405Z", false
	switch {
	case tag == cbasn1.UTCTime && len(raw) == 13:
		layout, utc = "060102150405Z", true
	case tag == cbasn1.GeneralizedTime && len(raw) == 15:
	default:
		return time.Time{}, false
	}
	t, err := time.Parse(layout, string(raw))
	if err != nil || t.Format(layout) != string(raw) {
		return time.Time{}, false
	}
	if utc && t.Year() >= 2050 { // UTCTime 50–99 are 1950–1999
		t = t.AddDate(-100, 0, 0)
	}
	if utc != (t.Year() >= 1950 && t.Year() < 2050) {
		return time.Time{}, false
	}
	return t, true
}

// check compares the attribute values with what the gateway expects.
func (a *signedAttrs) check(want Expected) error {
	if !a.contentType.Equal(oidData) {
		return malformed("content-type attribute is not id-data")
	}
	if !bytes.Equal(a.messageDigest, want.Digest) {
		return ErrMessageDigest
	}
	return checkSigningCertificate(a.signingCert, want.Signer)
}

// checkSigningCertificate checks that the first ESSCertIDv2 of a
// SigningCertificateV2 (RFC 5035 §3; EN 319 122-1 requires the first to be
// the signer's) holds the certificate's hash and, when issuerSerial is
// present, its issuer and serial number.
func checkSigningCertificate(elem []byte, cert *x509.Certificate) error {
	s := cryptobyte.String(elem)
	var scv2, certs, id, certHash cryptobyte.String
	if !s.ReadASN1(&scv2, cbasn1.SEQUENCE) || !scv2.ReadASN1(&certs, cbasn1.SEQUENCE) || !certs.ReadASN1(&id, cbasn1.SEQUENCE) {
		return malformed("signing-certificate-v2")
	}
	alg := crypto.SHA256 // the DEFAULT of ESSCertIDv2.hashAlgorithm
	if id.PeekASN1Tag(cbasn1.SEQUENCE) {
		var oid asn1.ObjectIdentifier
		if !readAlgorithm(&id, &oid, true) {
			return malformed("ESSCertIDv2 hashAlgorithm")
		}
		switch {
		case oid.Equal(oidSHA384):
			alg = crypto.SHA384
		case oid.Equal(oidSHA512):
			alg = crypto.SHA512
		case !oid.Equal(oidSHA256):
			return fmt.Errorf("%w: ESSCertIDv2 hash algorithm %v", ErrSigningCertificate, oid)
		}
	}
	if !id.ReadASN1(&certHash, cbasn1.OCTET_STRING) {
		return malformed("ESSCertIDv2 certHash")
	}
	h := newHash(alg)
	h.Write(cert.Raw)
	if !bytes.Equal(certHash, h.Sum(nil)) {
		return fmt.Errorf("%w: certificate hash differs", ErrSigningCertificate)
	}
	if id.Empty() {
		return nil
	}
	return checkIssuerSerial(id, cert)
}

// checkIssuerSerial checks IssuerSerial ::= SEQUENCE { issuer GeneralNames,
// serialNumber }: one of the names is the certificate's issuer as a
// directoryName, and the serial is the certificate's.
func checkIssuerSerial(id cryptobyte.String, cert *x509.Certificate) error {
	var is, names, serial cryptobyte.String
	if !id.ReadASN1(&is, cbasn1.SEQUENCE) || !id.Empty() || !is.ReadASN1(&names, cbasn1.SEQUENCE) ||
		!is.ReadASN1Element(&serial, cbasn1.INTEGER) || !is.Empty() {
		return malformed("ESSCertIDv2 issuerSerial")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1BigInt(cert.SerialNumber)
	want, err := b.Bytes()
	if err != nil || !bytes.Equal(serial, want) {
		return fmt.Errorf("%w: serial number differs", ErrSigningCertificate)
	}
	for n := 0; !names.Empty(); n++ {
		var name cryptobyte.String
		var tag cbasn1.Tag
		if n == maxAttributes || !names.ReadAnyASN1(&name, &tag) {
			return malformed("ESSCertIDv2 issuer names")
		}
		if tag == tagContext4 && bytes.Equal(name, cert.RawIssuer) {
			return nil
		}
	}
	return fmt.Errorf("%w: issuer differs", ErrSigningCertificate)
}

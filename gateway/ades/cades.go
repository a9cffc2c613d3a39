package ades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxChain bounds the certificates above the signer's (issuers up to the
// root) that a container carries.
const MaxChain = 8

// Request is what Prepare needs: the document's digest, the signer's
// certificate with its issuers, and the signing time the container will
// state.
type Request struct {
	// DigestAlg is SHA-256, SHA-384 or SHA-512. It is also the digest of
	// the signed attributes the SIM signs (RFC 5652 §5.4 has one
	// digestAlgorithm per signer for both).
	DigestAlg crypto.Hash
	// Digest is the document's digest with DigestAlg.
	Digest []byte
	// Signer is the certificate of the SIM key that will sign.
	Signer *x509.Certificate
	// Chain holds the signer's issuer first and the root last.
	Chain []*x509.Certificate
	// SigningTime is stated in the signing-time attribute, to the second.
	SigningTime time.Time
}

// Prepared is the state between the two phases. The gateway keeps
// SignedAttrs and DigestAlg with the session and rebuilds the rest from its
// certificates when the SIM answers, possibly on another instance.
type Prepared struct {
	// SignedAttrs is the DER SET OF Attribute (tag 31), in DER order.
	SignedAttrs []byte
	// Hash is the DigestAlg digest of SignedAttrs: the value sent to the
	// SIM (applet hash algorithm SHA-256/384/512 by its length).
	Hash []byte
	// DigestAlg is the request's digest algorithm.
	DigestAlg crypto.Hash
	// Signer and Chain are the request's certificates.
	Signer *x509.Certificate
	Chain  []*x509.Certificate
}

// Prepare builds the CAdES-B signed attributes for a detached signature of
// the document whose digest is given, and the hash the SIM must sign. Only
// ECDSA P-256 keys can make a CAdES signature with the applet; the others
// get ErrFormatNotSupported.
func Prepare(req Request) (*Prepared, error) {
	if _, err := checkDigest(req.DigestAlg, req.Digest); err != nil {
		return nil, err
	}
	if req.Signer == nil || len(req.Signer.Raw) == 0 || req.Signer.SerialNumber == nil || req.SigningTime.IsZero() {
		return nil, fmt.Errorf("%w: a parsed signer certificate and the signing time are required", ErrRequest)
	}
	if err := CAdESSupported(req.Signer); err != nil {
		return nil, err
	}
	if err := checkChain(req.Signer, req.Chain); err != nil {
		return nil, err
	}
	attrs, err := signedAttributes(req)
	if err != nil {
		return nil, err
	}
	h := newHash(req.DigestAlg)
	h.Write(attrs)
	return &Prepared{
		SignedAttrs: attrs,
		Hash:        h.Sum(nil),
		DigestAlg:   req.DigestAlg,
		Signer:      req.Signer,
		Chain:       slices.Clone(req.Chain),
	}, nil
}

// CAdESSupported tells whether a certificate's key can make a CAdES
// signature through the applet: ECDSA P-256 can; Ed25519 (RFC 8419) and
// ML-DSA-44 (RFC 9882) sign the DER signed attributes themselves in CMS,
// which the applet, signing a 32–64 octet hash value as the message, cannot
// do, so they get ErrFormatNotSupported.
func CAdESSupported(cert *x509.Certificate) error {
	if cert == nil {
		return fmt.Errorf("%w: no certificate", ErrRequest)
	}
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
		return fmt.Errorf("%w: ECDSA curve %s (the applet signs with P-256)", ErrFormatNotSupported, k.Curve.Params().Name)
	case ed25519.PublicKey:
		return fmt.Errorf("%w: Ed25519 in CMS signs the signed attributes themselves (RFC 8419, PureEdDSA only), the applet only a hash value", ErrFormatNotSupported)
	}
	if spkiAlgorithm(cert.RawSubjectPublicKeyInfo).Equal(oidMLDSA44) {
		return fmt.Errorf("%w: ML-DSA-44 in CMS signs the signed attributes themselves (RFC 9882, pure mode only), the applet only a hash value", ErrFormatNotSupported)
	}
	return fmt.Errorf("%w: %v key", ErrFormatNotSupported, cert.PublicKeyAlgorithm)
}

// spkiAlgorithm returns the algorithm OID of a subjectPublicKeyInfo, nil if
// it does not parse.
func spkiAlgorithm(spki []byte) asn1.ObjectIdentifier {
	s := cryptobyte.String(spki)
	var seq, alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil
	}
	return oid
}

// checkChain checks that each certificate names the next as its issuer and
// that the last is a self-issued root. It compares names only: the gateway
// has validated the chain's signatures when it accepted the certificate.
func checkChain(signer *x509.Certificate, chain []*x509.Certificate) error {
	if len(chain) == 0 || len(chain) > MaxChain {
		return fmt.Errorf("%w: chain of %d certificates, want 1 to %d up to the root", ErrCertificate, len(chain), MaxChain)
	}
	child := signer
	for i, c := range chain {
		if c == nil || !bytes.Equal(child.RawIssuer, c.RawSubject) {
			return fmt.Errorf("%w: chain certificate %d is not the issuer of the one before", ErrCertificate, i)
		}
		child = c
	}
	if !bytes.Equal(child.RawIssuer, child.RawSubject) {
		return fmt.Errorf("%w: chain does not end at a self-issued root", ErrCertificate)
	}
	return nil
}

// signedAttributes builds the four CAdES-B attributes (EN 319 122-1 §5.2)
// and returns their DER SET OF, sorted as DER requires (X.690 §11.6).
func signedAttributes(req Request) ([]byte, error) {
	certHash := sha256.Sum256(req.Signer.Raw)
	t := req.SigningTime.UTC().Truncate(time.Second)
	attrs := [4][]byte{
		attribute(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) }),
		attribute(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(req.Digest) }),
		attribute(oidSigningTime, func(b *cryptobyte.Builder) { addTime(b, t) }),
		attribute(oidSigningCertificateV2, func(b *cryptobyte.Builder) {
			addSigningCertificateV2(b, certHash[:], req.Signer)
		}),
	}
	for _, a := range attrs {
		if a == nil {
			return nil, fmt.Errorf("%w: signed attribute does not encode", ErrRequest)
		}
	}
	slices.SortFunc(attrs[:], compareDER)
	b := cryptobyte.NewBuilder(make([]byte, 0, 512))
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.Bytes()
}

// attribute encodes Attribute ::= SEQUENCE { attrType, attrValues SET OF }
// with one value; nil if the value does not encode.
func attribute(oid asn1.ObjectIdentifier, value cryptobyte.BuilderContinuation) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, 256))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1(cbasn1.SET, value)
	})
	out, err := b.Bytes()
	if err != nil {
		return nil
	}
	return out
}

// addTime writes Time (RFC 5652 §11.3): UTCTime for 1950 through 2049,
// GeneralizedTime otherwise, in UTC without fractions.
func addTime(b *cryptobyte.Builder, t time.Time) {
	if t.Year() >= 1950 && t.Year() < 2050 {
		b.AddASN1UTCTime(t)
		return
	}
	b.AddASN1GeneralizedTime(t)
}

// addSigningCertificateV2 writes SigningCertificateV2 (RFC 5035 §3) with
// one ESSCertIDv2: hashAlgorithm left out as the DEFAULT SHA-256 (DER
// omits a value equal to its default), the certificate's SHA-256, and
// issuerSerial with the issuer as a directoryName GeneralName. GeneralName
// is a CHOICE, so [4] is an EXPLICIT tag around the Name.
func addSigningCertificateV2(b *cryptobyte.Builder, certHash []byte, cert *x509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
				b.AddASN1OctetString(certHash)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerSerial
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
						b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							b.AddBytes(cert.RawIssuer)
						})
					})
					b.AddASN1BigInt(cert.SerialNumber)
				})
			})
		})
	})
}

// compareDER orders encodings as X.690 §11.6 sorts SET OF components: as
// octet strings, the shorter padded at its end with zero octets.
func compareDER(a, b []byte) int {
	n := min(len(a), len(b))
	if c := bytes.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	rest, sign := b[n:], -1
	if len(a) > len(b) {
		rest, sign = a[n:], 1
	}
	for _, x := range rest {
		if x != 0 {
			return sign
		}
	}
	return 0
}

// Assemble builds the DER ContentInfo of a detached CMS SignedData
// (RFC 5652 §5) around the SIM's raw ECDSA signature r ‖ s over p.Hash:
// version 1, the digest algorithm, id-data without eContent, the signer's
// certificate and chain, and one SignerInfo version 1 identified by
// issuerAndSerialNumber with the prepared signed attributes and
// ecdsa-with-SHA256/384/512 (RFC 5758 §3.2, parameters absent). Call Verify
// on the result before handing it out.
func (p *Prepared) Assemble(rawSignature []byte) ([]byte, error) {
	info, err := lookupDigest(p.DigestAlg)
	if err != nil {
		return nil, err
	}
	attrs := setContents(p.SignedAttrs)
	if p.Signer == nil || p.Signer.SerialNumber == nil || attrs == nil {
		return nil, fmt.Errorf("%w: prepared state lacks the signer or the signed attributes", ErrRequest)
	}
	sig, err := RawToDER(rawSignature)
	if err != nil {
		return nil, err
	}
	certs := make([][]byte, 0, 1+len(p.Chain))
	certs = append(certs, p.Signer.Raw)
	for _, c := range p.Chain {
		if c == nil {
			return nil, fmt.Errorf("%w: nil certificate in the chain", ErrRequest)
		}
		certs = append(certs, c.Raw)
	}
	slices.SortFunc(certs, compareDER) // CertificateSet is a SET OF
	size := len(p.SignedAttrs) + len(sig) + 256
	for _, c := range certs {
		size += len(c)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, size))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			addSignedData(b, info, certs, func(b *cryptobyte.Builder) {
				addSignerInfo(b, info, p.Signer, attrs, sig)
			})
		})
	})
	return b.Bytes()
}

func addAlgorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
}

func addSignedData(b *cryptobyte.Builder, info digestInfo, certs [][]byte, signer cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { addAlgorithm(b, info.oid) })
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo, detached
			b.AddASN1ObjectIdentifier(oidData)
		})
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			for _, c := range certs {
				b.AddBytes(c)
			}
		})
		b.AddASN1(cbasn1.SET, signer)
	})
}

func addSignerInfo(b *cryptobyte.Builder, info digestInfo, signer *x509.Certificate, attrs, sig []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
			b.AddBytes(signer.RawIssuer)
			b.AddASN1BigInt(signer.SerialNumber)
		})
		addAlgorithm(b, info.oid)
		// signedAttrs [0] IMPLICIT: the prepared SET OF with its tag
		// replaced; the SIM signed the SET OF form (RFC 5652 §5.4).
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddBytes(attrs)
		})
		addAlgorithm(b, info.sigOID)
		b.AddASN1OctetString(sig)
	})
}

// setContents returns the contents octets of a DER element (its value
// without tag and length); nil if it is not one well-formed element.
func setContents(der []byte) []byte {
	s := cryptobyte.String(der)
	var v cryptobyte.String
	if !s.ReadASN1(&v, cbasn1.SET) || !s.Empty() {
		return nil
	}
	return v
}

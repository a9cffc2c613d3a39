package ades

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
	"hash"
)

// Object identifiers (RFC 5652 §3, §11; RFC 5035; RFC 5754; RFC 5758).
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	// id-aa-signingCertificateV2 (RFC 5035 §3).
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}

	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}

	// id-ml-dsa-44 (NIST CSOR; RFC 9881), to recognise ML-DSA-44
	// certificates, which the standard library leaves unparsed.
	oidMLDSA44 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}
)

// digestInfo ties a supported digest algorithm to its identifiers.
type digestInfo struct {
	oid    asn1.ObjectIdentifier // digest algorithm (RFC 5754)
	sigOID asn1.ObjectIdentifier // ecdsa-with-SHAx (RFC 5758)
	xmlURI string                // ds:DigestMethod Algorithm (RFC 6931)
}

func lookupDigest(h crypto.Hash) (digestInfo, error) {
	switch h {
	case crypto.SHA256:
		return digestInfo{oidSHA256, oidECDSAWithSHA256, "http://www.w3.org/2001/04/xmlenc#sha256"}, nil
	case crypto.SHA384:
		return digestInfo{oidSHA384, oidECDSAWithSHA384, "http://www.w3.org/2001/04/xmldsig-more#sha384"}, nil
	case crypto.SHA512:
		return digestInfo{oidSHA512, oidECDSAWithSHA512, "http://www.w3.org/2001/04/xmlenc#sha512"}, nil
	}
	return digestInfo{}, fmt.Errorf("%w: %v", ErrDigestAlgorithm, h)
}

// checkDigest refuses an unsupported algorithm or a digest of the wrong
// length.
func checkDigest(h crypto.Hash, digest []byte) (digestInfo, error) {
	info, err := lookupDigest(h)
	if err != nil {
		return info, err
	}
	if len(digest) != h.Size() {
		return info, fmt.Errorf("%w: %d octets for %v", ErrDigestLength, len(digest), h)
	}
	return info, nil
}

// newHash returns a hash of a supported algorithm without going through
// crypto.Hash.New, whose registration the package does not rely on.
func newHash(h crypto.Hash) hash.Hash {
	switch h {
	case crypto.SHA384:
		return sha512.New384()
	case crypto.SHA512:
		return sha512.New()
	}
	return sha256.New()
}

// Sum returns the digest of data with h (SHA-256, SHA-384 or SHA-512), for
// callers that hold the bytes, such as an ASiC manifest.
func Sum(h crypto.Hash, data []byte) ([]byte, error) {
	if _, err := lookupDigest(h); err != nil {
		return nil, err
	}
	d := newHash(h)
	d.Write(data)
	return d.Sum(nil), nil
}

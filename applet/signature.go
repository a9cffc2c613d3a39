package applet

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
)

// ErrSignature reports a signature that does not verify against the
// certificate's key, or a key of another algorithm than announced.
var ErrSignature = errors.New("applet: signature does not verify")

// OIDMLDSA44 returns id-ml-dsa-44 (2.16.840.1.101.3.4.3.17, NIST CSOR;
// RFC 9881 for its use in X.509), the algorithm of an ML-DSA-44
// subjectPublicKeyInfo. The standard library does not parse these keys yet.
func OIDMLDSA44() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}
}

type spki struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// MLDSA44PublicKey extracts the ML-DSA-44 key of a certificate. RFC 9881
// §2 leaves the algorithm parameters absent and the key is exactly
// mldsa44.PublicKeySize octets; anything else is refused.
func MLDSA44PublicKey(cert *x509.Certificate) (*mldsa44.PublicKey, error) {
	var s spki
	rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &s)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("applet: subjectPublicKeyInfo: %v", err)
	}
	if !s.Algorithm.Algorithm.Equal(OIDMLDSA44()) || len(s.Algorithm.Parameters.FullBytes) != 0 {
		return nil, fmt.Errorf("%w: not an ML-DSA-44 key", ErrSignature)
	}
	if s.PublicKey.BitLength != 8*mldsa44.PublicKeySize {
		return nil, fmt.Errorf("%w: ML-DSA-44 key of %d bits", ErrSignature, s.PublicKey.BitLength)
	}
	var pk mldsa44.PublicKey
	if err := pk.UnmarshalBinary(s.PublicKey.Bytes); err != nil {
		return nil, err
	}
	return &pk, nil
}

// PublicKey is a certificate's subject public key, checked once against
// the applet's signature algorithms (tag 91), so that it can be kept and
// used for every reply the key signs. The zero value verifies nothing.
type PublicKey struct {
	alg SigAlg
	key any // *ecdsa.PublicKey on P-256, ed25519.PublicKey or *mldsa44.PublicKey
}

// ParsePublicKey takes the key out of a certificate. Only the applet's
// algorithms are accepted: ECDSA on P-256, Ed25519, and ML-DSA-44 as
// MLDSA44PublicKey reads it. Any other key is ErrSignature.
func ParsePublicKey(cert *x509.Certificate) (PublicKey, error) {
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name == "P-256" {
			return PublicKey{alg: SigECDSAP256, key: k}, nil
		}
	case ed25519.PublicKey:
		return PublicKey{alg: SigEd25519, key: k}, nil
	case nil:
		if pk, err := MLDSA44PublicKey(cert); err == nil {
			return PublicKey{alg: SigMLDSA44, key: pk}, nil
		}
	}
	return PublicKey{}, fmt.Errorf("%w: unsupported certificate key", ErrSignature)
}

// SigAlg is the algorithm the key signs with.
func (k PublicKey) SigAlg() SigAlg { return k.alg }

// Verify checks an applet signature over hash (docs/applet-protocol.md §4:
// ECDSA signs the hash as the digest, r ‖ s; Ed25519 and ML-DSA-44 sign it
// as the message, ML-DSA with an empty context). The reply's algorithm
// must be the key's and the signature exactly that algorithm's size.
func (k PublicKey) Verify(alg SigAlg, hash, sig []byte) error {
	if k.key == nil {
		return fmt.Errorf("%w: no key", ErrSignature)
	}
	if alg != k.alg {
		return fmt.Errorf("%w: reply says %v, certificate holds %v", ErrSignature, alg, k.alg)
	}
	if len(sig) != alg.SignatureSize() {
		return fmt.Errorf("%w: %d octets", ErrSignature, len(sig))
	}
	ok := false
	switch key := k.key.(type) {
	case *ecdsa.PublicKey:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		ok = ecdsa.Verify(key, hash, r, s)
	case ed25519.PublicKey:
		ok = ed25519.Verify(key, hash, sig)
	case *mldsa44.PublicKey:
		ok = mldsa44.Verify(key, hash, nil, sig)
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// CertificateSigAlg tells which applet signature algorithm a certificate's
// key belongs to.
func CertificateSigAlg(cert *x509.Certificate) (SigAlg, error) {
	k, err := ParsePublicKey(cert)
	if err != nil {
		return 0, err
	}
	return k.alg, nil
}

// VerifySignature checks an applet signature over hash against the
// certificate's public key; it is ParsePublicKey and Verify in one call,
// for a certificate whose key is used once.
func VerifySignature(cert *x509.Certificate, alg SigAlg, hash, sig []byte) error {
	k, err := ParsePublicKey(cert)
	if err != nil {
		return err
	}
	return k.Verify(alg, hash, sig)
}

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

// MLDSA44PublicKey extracts the ML-DSA-44 key of a certificate.
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

// CertificateSigAlg tells which applet signature algorithm a certificate's
// key belongs to.
func CertificateSigAlg(cert *x509.Certificate) (SigAlg, error) {
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name == "P-256" {
			return SigECDSAP256, nil
		}
	case ed25519.PublicKey:
		return SigEd25519, nil
	case nil:
		if _, err := MLDSA44PublicKey(cert); err == nil {
			return SigMLDSA44, nil
		}
	}
	return 0, fmt.Errorf("%w: unsupported certificate key", ErrSignature)
}

// VerifySignature checks an applet signature over hash against the
// certificate's public key (applet-protocol §4: ECDSA signs the hash as the
// digest, Ed25519 and ML-DSA-44 sign it as the message, empty context).
func VerifySignature(cert *x509.Certificate, alg SigAlg, hash, sig []byte) error {
	certAlg, err := CertificateSigAlg(cert)
	if err != nil {
		return err
	}
	if certAlg != alg {
		return fmt.Errorf("%w: reply says %v, certificate holds %v", ErrSignature, alg, certAlg)
	}
	if len(sig) != alg.SignatureSize() {
		return fmt.Errorf("%w: %d octets", ErrSignature, len(sig))
	}
	ok := false
	switch alg {
	case SigECDSAP256:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		ok = ecdsa.Verify(cert.PublicKey.(*ecdsa.PublicKey), hash, r, s)
	case SigEd25519:
		ok = ed25519.Verify(cert.PublicKey.(ed25519.PublicKey), hash, sig)
	case SigMLDSA44:
		pk, err := MLDSA44PublicKey(cert)
		if err != nil {
			return err
		}
		ok = mldsa44.Verify(pk, hash, nil, sig)
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

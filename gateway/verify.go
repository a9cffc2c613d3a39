package gateway

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
)

// Signature algorithm names used in the API (applet-protocol §4, tag 91).
const (
	SigECDSAP256 = "ECDSA_P256"
	SigEd25519   = "ED25519"
	SigMLDSA44   = "ML_DSA_44"
)

// oidMLDSA44 is id-ml-dsa-44 (NIST CSOR, 2.16.840.1.101.3.4.3.17; RFC 9881).
var oidMLDSA44 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}

// errSignature is any signature that does not verify.
var errSignature = errors.New("gateway: signature does not verify")

// publicKey returns the certificate's subject public key: *ecdsa.PublicKey,
// ed25519.PublicKey or *mldsa44.PublicKey. The standard library leaves
// ML-DSA keys unparsed, so their SubjectPublicKeyInfo is read here.
func publicKey(cert *x509.Certificate) (any, error) {
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return k, nil
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("gateway: malformed subject public key info")
	}
	if spki.Algorithm.Algorithm.Equal(oidMLDSA44) {
		var pk mldsa44.PublicKey
		if err := pk.UnmarshalBinary(spki.PublicKey.RightAlign()); err != nil {
			return nil, fmt.Errorf("gateway: ML-DSA-44 public key: %w", err)
		}
		return &pk, nil
	}
	return nil, fmt.Errorf("gateway: unsupported public key algorithm %v", spki.Algorithm.Algorithm)
}

// verifySignature checks sig over hash with the certificate's key as
// applet-protocol §4 says: ECDSA signs the hash as the digest (r‖s, 32
// octets each); Ed25519 and ML-DSA-44 sign the hash as the message (ML-DSA
// with an empty context). The algorithm must match the key.
func verifySignature(cert *x509.Certificate, alg string, hash, sig []byte) error {
	pub, err := publicKey(cert)
	if err != nil {
		return err
	}
	return verifyWithKey(pub, alg, hash, sig)
}

// verifyWithKey is verifySignature with the key already taken from the
// certificate (the certificate cache keeps it parsed).
func verifyWithKey(pub any, alg string, hash, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg != SigECDSAP256 || k.Curve != elliptic.P256() || len(sig) != 64 {
			return errSignature
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k, hash, r, s) {
			return errSignature
		}
	case ed25519.PublicKey:
		if alg != SigEd25519 || len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, hash, sig) {
			return errSignature
		}
	case *mldsa44.PublicKey:
		if alg != SigMLDSA44 || len(sig) != mldsa44.SignatureSize || !mldsa44.Verify(k, hash, nil, sig) {
			return errSignature
		}
	default:
		return errSignature
	}
	return nil
}

// keyAlgorithm names the signature algorithm a certificate's key implies.
func keyAlgorithm(cert *x509.Certificate) string {
	pub, err := publicKey(cert)
	if err != nil {
		return ""
	}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return SigECDSAP256
	case ed25519.PublicKey:
		return SigEd25519
	case *mldsa44.PublicKey:
		return SigMLDSA44
	}
	return ""
}

package trust

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The parts of ResponseData (RFC 6960 §4.2.1) that x/crypto/ocsp parses
// but does not return: the CertID's issuer hashes and the
// responseExtensions, where the nonce is echoed. The layout is the one
// x/crypto/ocsp itself unmarshals, so a response it accepted parses here.
type responseData struct {
	Version     int `asn1:"optional,explicit,tag:0,default:0"`
	ResponderID asn1.RawValue
	ProducedAt  time.Time `asn1:"generalized"`
	Responses   []singleResponse
	Extensions  []pkix.Extension `asn1:"optional,explicit,tag:1"`
}

type singleResponse struct {
	CertID     certID
	Status     asn1.RawValue
	ThisUpdate time.Time        `asn1:"generalized"`
	NextUpdate time.Time        `asn1:"generalized,explicit,tag:0,optional"`
	Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type certID struct {
	HashAlgorithm  pkix.AlgorithmIdentifier
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	SerialNumber   *big.Int
}

// details is what verifyResponse needs beyond ocsp.Response.
type details struct {
	nameHash, keyHash []byte
	nonce             []byte // the nonce extension's value, nil when absent
}

// responseDetails reads the signed ResponseData tbs for the single
// response about serial.
func responseDetails(tbs []byte, serial *big.Int) (details, error) {
	var rd responseData
	rest, err := asn1.Unmarshal(tbs, &rd)
	if err != nil {
		return details{}, fmt.Errorf("response data: %w", err)
	}
	if len(rest) != 0 {
		return details{}, errors.New("response data: trailing octets")
	}
	var d details
	found := false
	for _, r := range rd.Responses {
		if r.CertID.SerialNumber != nil && r.CertID.SerialNumber.Cmp(serial) == 0 {
			d.nameHash, d.keyHash, found = r.CertID.IssuerNameHash, r.CertID.IssuerKeyHash, true
			break
		}
	}
	if !found {
		return details{}, errors.New("response data: no response for the serial number")
	}
	for _, e := range rd.Extensions {
		if e.Id.Equal(oidOCSPNonce) {
			d.nonce = e.Value
		}
	}
	return d, nil
}

// names reports whether the CertID's hashes are those of issuer: the hash
// of its DER subject and of its public key's BIT STRING (RFC 6960 §4.1.1).
func (d details) names(issuer *x509.Certificate, h crypto.Hash) bool {
	if !h.Available() {
		return false
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	nh := h.New()
	nh.Write(issuer.RawSubject)
	kh := h.New()
	kh.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(nh.Sum(nil), d.nameHash) && bytes.Equal(kh.Sum(nil), d.keyHash)
}

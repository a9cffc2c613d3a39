package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/imzagate/imzagate/applet/testca"
)

// FuzzParsePEM: whatever the input, parsePEM either fails or returns
// certificates that encode back to PEM blocks of the input.
func FuzzParsePEM(f *testing.F) {
	ca, err := testca.New(testca.Options{Seed: []byte("fuzz")})
	if err != nil {
		f.Fatal(err)
	}
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})
	f.Add(one)
	f.Add(append(append([]byte("# ASXM root\n"), one...), one...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := parsePEM(data)
		if err != nil {
			if certs != nil {
				t.Fatal("certificates returned with an error")
			}
			return
		}
		if len(certs) == 0 || len(certs) > maxAnchors {
			t.Fatalf("%d certificates without an error", len(certs))
		}
		for _, c := range certs {
			if !bytes.Contains(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})[28:60]) && len(c.Raw) > 40 {
				// The block's base64 may be wrapped differently; parse it back instead.
				again, err := x509.ParseCertificate(c.Raw)
				if err != nil || !again.Equal(c) {
					t.Fatal("certificate does not round-trip")
				}
			}
		}
	})
}

// FuzzVerifyResponse feeds bytes through the whole verification path of an
// OCSP response. Only the seed signed by the issuing CA may verify; any
// other input, mutations of it included, must give no status (the
// signature covers everything verifyResponse reads).
func FuzzVerifyResponse(f *testing.F) {
	now := time.Now()
	root, err := testca.New(testca.Options{Seed: []byte("fuzz-root"), Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	inter, err := root.NewSubordinate(testca.Options{Seed: []byte("fuzz-inter")})
	if err != nil {
		f.Fatal(err)
	}
	leaf := issue(f, inter, testca.Personal, testca.Sign, false)
	rc, rk, err := inter.IssueResponder("Fuzz OCSP", true)
	if err != nil {
		f.Fatal(err)
	}
	good := ocspResponse(f, inter.Certificate(), rc, rk, leaf, ocsp.Good)
	direct := ocspResponse(f, inter.Certificate(), inter.Certificate(), inter.Key(), leaf, ocsp.Revoked)
	f.Add(good)
	f.Add(direct)
	f.Add(ocsp.TryLaterErrorResponse)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		st, err := verifyResponse(der, leaf, inter.Certificate(), now, nil, time.Minute, time.Minute)
		if err != nil {
			if _, ok := err.(*failure); !ok {
				t.Fatalf("error %T is not a *failure", err)
			}
			return
		}
		if st.state != StateGood && st.state != StateRevoked {
			t.Fatalf("state %q without an error", st.state)
		}
		resp, err := ocsp.ParseResponse(der, nil)
		if err != nil {
			t.Fatalf("verified but does not parse: %v", err)
		}
		signer := inter.Certificate()
		if resp.Certificate != nil && !resp.Certificate.Equal(signer) {
			signer = resp.Certificate
			if signer.CheckSignatureFrom(inter.Certificate()) != nil {
				t.Fatal("verified a response from a responder the CA did not issue")
			}
		}
		if resp.CheckSignatureFrom(signer) != nil {
			t.Fatal("verified a response whose signature does not check")
		}
	})
}

// FuzzResponseDetails: the ResponseData reader never panics, and what it
// returns is copied from its input.
func FuzzResponseDetails(f *testing.F) {
	ca, err := testca.New(testca.Options{Seed: []byte("fuzz-details")})
	if err != nil {
		f.Fatal(err)
	}
	leaf := issue(f, ca, testca.Personal, testca.Sign, false)
	resp, err := ocsp.ParseResponse(ocspResponse(f, ca.Certificate(), ca.Certificate(), ca.Key(), leaf, ocsp.Good), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp.TBSResponseData, leaf.SerialNumber.Int64())
	f.Add([]byte{0x30, 0x00}, int64(2))
	f.Fuzz(func(t *testing.T, tbs []byte, serial int64) {
		d, err := responseDetails(tbs, big.NewInt(serial))
		if err != nil {
			return
		}
		for _, part := range [][]byte{d.nameHash, d.keyHash, d.nonce} {
			if !bytes.Contains(tbs, part) {
				t.Fatalf("%x is not in the input", part)
			}
		}
	})
}

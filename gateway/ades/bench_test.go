package ades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"testing"
)

// BenchmarkSession measures the gateway's share of one signing session:
// Prepare when the session starts, Assemble and Verify when the SIM
// answers. The SIM's signature is made once beforehand: the signing time
// is fixed, so every iteration prepares the same hash.
func BenchmarkSession(b *testing.B) {
	p := newPKI(b)
	req := Request{DigestAlg: crypto.SHA256, Digest: sha256Of([]byte("bench")), Signer: p.signer, Chain: p.chain(), SigningTime: testSigningTime}
	prep, err := Prepare(req)
	if err != nil {
		b.Fatal(err)
	}
	sig := simSign(b, p.signerKey, prep.Hash)
	want := Expected{DigestAlg: crypto.SHA256, Digest: req.Digest, Signer: p.signer}
	der, err := prep.Assemble(sig)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Prepare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Prepare(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Prepare+Assemble", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			prep, err := Prepare(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := prep.Assemble(sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Verify(der, want); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The ECDSA verification alone, the floor under Verify.
	b.Run("ecdsa.VerifyASN1", func(b *testing.B) {
		b.ReportAllocs()
		derSig, _ := RawToDER(sig)
		for b.Loop() {
			if !ecdsa.VerifyASN1(&p.signerKey.PublicKey, prep.Hash, derSig) {
				b.Fatal("does not verify")
			}
		}
	})
	b.Run("Prepare+Assemble+Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			prep, err := Prepare(req)
			if err != nil {
				b.Fatal(err)
			}
			der, err := prep.Assemble(sig)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Verify(der, want); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkASiCE measures the manifest and the ZIP of a 10-document
// container (1 KiB each), without the signature.
func BenchmarkASiCE(b *testing.B) {
	p := newPKI(b)
	docs, _ := testDocuments(b, 10)
	manifest, p7s, _ := buildContainer(b, p, docs, freshParts(b, 10))
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Manifest(docs); err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if err := Pack(&buf, manifest, p7s, freshParts(b, 10)); err != nil {
			b.Fatal(err)
		}
	}
}

func freshParts(b testing.TB, n int) []Part {
	_, parts := testDocuments(b, n)
	return parts
}

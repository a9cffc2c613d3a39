package ades

import (
	"bytes"
	"crypto"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzManifest: for any two names and a MIME type, Manifest either refuses
// with one of its errors or writes XML that encoding/xml reads back to
// exactly the names, types and digests given.
func FuzzManifest(f *testing.F) {
	for _, s := range [][3]string{
		{"a.pdf", "b.txt", "application/pdf"},
		{"a&b<c>\"d'.txt", "ə/ş ğ.xml", "text/plain"},
		{"]]><!--", "%41%", "application/vnd.etsi.asic-e+zip"},
		{"\u202e.txt", "a\x00", "text/plain"},
		{strings.Repeat("ü", 200), "x", "a/b"},
		{"Mimetype", "META-INF/x", "text/plain"},
		{"same", "SAME", "text/plain"},
	} {
		f.Add(s[0], s[1], s[2], []byte("content"))
	}
	f.Fuzz(func(t *testing.T, name1, name2, mime string, content []byte) {
		d1, _ := Sum(crypto.SHA256, content)
		d2, _ := Sum(crypto.SHA512, content)
		docs := []Document{
			{Name: name1, MIMEType: mime, DigestAlg: crypto.SHA256, Digest: d1},
			{Name: name2, MIMEType: mime, DigestAlg: crypto.SHA512, Digest: d2},
		}
		m, err := Manifest(docs)
		if err != nil {
			if !errors.Is(err, ErrName) && !errors.Is(err, ErrMIMEType) {
				t.Fatalf("Manifest(%q, %q, %q): unexpected error %v", name1, name2, mime, err)
			}
			return
		}
		got := decodeTestManifest(t, m)
		if len(got.Refs) != 2 {
			t.Fatalf("%d references", len(got.Refs))
		}
		for i, r := range got.Refs {
			name, err := url.PathUnescape(r.URI)
			if err != nil || name != docs[i].Name || r.MimeType != mime || r.Value != b64(docs[i].Digest) {
				t.Fatalf("reference %d reads back as %q %q %q (%v), want %q", i, name, r.MimeType, r.Value, err, docs[i].Name)
			}
		}
		back, err := ParseManifest(m)
		if err != nil || len(back) != 2 || back[0].Name != name1 || back[1].Name != name2 || !bytes.Equal(back[1].Digest, d2) {
			t.Fatalf("ParseManifest of its own output: %+v, %v", back, err)
		}
	})
}

// FuzzParseManifest: any input is refused or parses to documents that
// Manifest writes and ParseManifest reads back the same.
func FuzzParseManifest(f *testing.F) {
	docs, _ := testDocuments(f, 3)
	good, err := Manifest(docs)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`<?xml version="1.0"?><ASiCManifest xmlns="http://uri.etsi.org/02918/v1.2.1#"/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := ParseManifest(data)
		if err != nil {
			return
		}
		again, err := Manifest(docs)
		if err != nil {
			t.Fatalf("Manifest refuses what ParseManifest accepted: %v", err)
		}
		back, err := ParseManifest(again)
		if err != nil || len(back) != len(docs) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range docs {
			if back[i].Name != docs[i].Name || back[i].MIMEType != docs[i].MIMEType || !bytes.Equal(back[i].Digest, docs[i].Digest) {
				t.Fatalf("document %d changed in the round trip", i)
			}
		}
	})
}

// FuzzVerify: the CMS parser never panics on any input, and whatever it
// accepts carries the signed attributes that were signed (other parts,
// such as unsigned attributes or the order of certificates, are not under
// the signature).
func FuzzVerify(f *testing.F) {
	p := newPKI(f)
	doc := []byte("fuzz")
	prep, der := signDocument(f, p, crypto.SHA256, doc, testSigningTime)
	f.Add(der)
	f.Add(der[:len(der)/2])
	f.Add(prep.SignedAttrs)
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	want := Expected{DigestAlg: crypto.SHA256, Digest: sha256Of(doc), Signer: p.signer}
	signed := setContents(prep.SignedAttrs)
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Verify(data, want); err == nil && !bytes.Contains(data, signed) {
			t.Fatalf("accepted a container without the signed attributes: %x", data)
		}
	})
}

// FuzzDERToRaw: any input is refused or is the one DER encoding of the
// raw value it gives.
func FuzzDERToRaw(f *testing.F) {
	for _, v := range ecdsaVectors {
		f.Add(mustHex(f, v.der))
	}
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, der []byte) {
		raw, err := DERToRaw(der)
		if err != nil {
			if !errors.Is(err, ErrSignatureValue) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		again, err := RawToDER(raw)
		if err != nil || !bytes.Equal(again, der) {
			t.Fatalf("DERToRaw(%x) = %x, which encodes as %x (%v)", der, raw, again, err)
		}
	})
}

// FuzzUnpack: the container reader never panics and stays within its
// bound on any input.
func FuzzUnpack(f *testing.F) {
	p := newPKI(f)
	docs, parts := testDocuments(f, 2)
	_, _, asice := buildContainer(f, p, docs, parts)
	f.Add(asice)
	f.Add(asice[:64])
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Unpack(bytes.NewReader(data), int64(len(data)), UnpackOptions{MaxSize: 1 << 20})
		if err != nil {
			return
		}
		total := len(c.Manifest) + len(c.Signature)
		for i, d := range c.Documents {
			total += len(c.Contents[i])
			if CheckName(d.Name) != nil {
				t.Fatalf("accepted name %q", d.Name)
			}
		}
		if total > 1<<20 {
			t.Fatalf("read %d octets past the bound", total)
		}
	})
}

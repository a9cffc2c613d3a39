package ades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"

	"github.com/imzagate/imzagate/applet/testca"
)

// TestOpenSSLVerifiesContainer runs the whole flow for each digest
// algorithm and has openssl verify the container against the root.
func TestOpenSSLVerifiesContainer(t *testing.T) {
	p := newPKI(t)
	doc := []byte("Müqavilə №17: the document a portal asks to sign.\n")
	for _, tc := range []struct {
		alg  crypto.Hash
		hash func([]byte) []byte
	}{
		{crypto.SHA256, func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }},
		{crypto.SHA384, func(b []byte) []byte { h := sha512.Sum384(b); return h[:] }},
		{crypto.SHA512, func(b []byte) []byte { h := sha512.Sum512(b); return h[:] }},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			prep, der := signDocument(t, p, tc.alg, doc, testSigningTime)
			if want := tc.hash(prep.SignedAttrs); !bytes.Equal(prep.Hash, want) {
				t.Fatalf("hash for the SIM = %x, want the %v of the DER signed attributes %x", prep.Hash, tc.alg, want)
			}
			if prep.SignedAttrs[0] != 0x31 {
				t.Fatalf("signed attributes start with %#x, want the SET OF tag 0x31", prep.SignedAttrs[0])
			}
			if out, ok := opensslVerify(t, p, der, doc); !ok || !strings.Contains(out, "Verification successful") {
				t.Fatalf("openssl cms -verify failed:\n%s", out)
			}
			v, err := Verify(der, Expected{DigestAlg: tc.alg, Digest: tc.hash(doc), Signer: p.signer})
			if err != nil {
				t.Fatal(err)
			}
			if !v.SigningTime.Equal(testSigningTime) || v.DigestAlg != tc.alg {
				t.Errorf("Verify = %+v", v)
			}
		})
	}
}

func TestTamperedDocument(t *testing.T) {
	p := newPKI(t)
	doc := []byte("pay 100 AZN")
	_, der := signDocument(t, p, crypto.SHA256, doc, testSigningTime)
	tampered := []byte("pay 900 AZN")
	if out, ok := opensslVerify(t, p, der, tampered); ok {
		t.Fatalf("openssl verified a tampered document:\n%s", out)
	}
	_, err := Verify(der, Expected{DigestAlg: crypto.SHA256, Digest: sha256Of(tampered), Signer: p.signer})
	if !errors.Is(err, ErrMessageDigest) {
		t.Fatalf("Verify(tampered) = %v, want ErrMessageDigest", err)
	}
}

// hexDumps collects the bytes of openssl's "0000 - 7b c8 ...-64 39" dump
// lines that follow the line containing marker, up to the next blank line.
func hexDump(out, marker string) []byte {
	_, rest, ok := strings.Cut(out, marker)
	if !ok {
		return nil
	}
	line := regexp.MustCompile(`^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -])+)`)
	var b []byte
	for _, l := range strings.Split(rest, "\n")[1:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		m := line.FindStringSubmatch(l + " ")
		if m == nil {
			continue
		}
		h, _ := hex.DecodeString(strings.NewReplacer(" ", "", "-", "").Replace(m[1]))
		b = append(b, h...)
	}
	return b
}

// TestOpenSSLPrintsAttributes has openssl decode the container and checks
// the four CAdES-B attributes in its words.
func TestOpenSSLPrintsAttributes(t *testing.T) {
	p := newPKI(t)
	doc := []byte("attributes")
	_, der := signDocument(t, p, crypto.SHA256, doc, testSigningTime)
	f := filepath.Join(t.TempDir(), "s.p7s")
	writeFile(t, f, der)
	out, ok := openssl(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", f)
	if !ok {
		t.Fatalf("openssl cms -print failed:\n%s", out)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"eContent: <ABSENT>",
		"object: contentType (1.2.840.113549.1.9.3)\n                    set:\n                      OBJECT:pkcs7-data (1.2.840.113549.1.7.1)",
		"object: signingTime (1.2.840.113549.1.9.5)\n                    set:\n                      UTCTIME:Mar 14 15:09:26 2026 GMT",
		"object: id-smime-aa-signingCertificateV2 (1.2.840.113549.1.9.16.2.47)",
		"OCTET STRING      [HEX DUMP]:" + strings.ToUpper(hex.EncodeToString(sha256Of(p.signer.Raw))),
		"cont [ 4 ]",
		"INTEGER           :" + strings.ToUpper(p.signer.SerialNumber.Text(16)),
		"signatureAlgorithm: \n                  algorithm: ecdsa-with-SHA256 (1.2.840.10045.4.3.2)\n                  parameter: <ABSENT>",
		"unsignedAttrs:\n                  <ABSENT>",
	} {
		if !strings.Contains(flat, strings.Join(strings.Fields(want), " ")) {
			t.Errorf("openssl output lacks %q", want)
		}
	}
	if got := hexDump(out, "object: messageDigest (1.2.840.113549.1.9.4)"); !bytes.Equal(got, sha256Of(doc)) {
		t.Errorf("openssl shows message digest %x, want %x", got, sha256Of(doc))
	}
	if n := strings.Count(out, "d.certificate:"); n != 3 {
		t.Errorf("container holds %d certificates, want signer, intermediate and root", n)
	}
}

// asn1Objects lists the OBJECT names of openssl asn1parse output.
func asn1Objects(out string) []string {
	var objs []string
	for _, l := range strings.Split(out, "\n") {
		if _, name, ok := strings.Cut(l, "prim: OBJECT            :"); ok {
			objs = append(objs, strings.TrimSpace(name))
		}
	}
	return objs
}

// TestASN1ParseStructure checks the container's layout with openssl
// asn1parse: detached id-data, the certificates, then the SignerInfo with
// its attributes in DER order and the signature algorithm.
func TestASN1ParseStructure(t *testing.T) {
	p := newPKI(t)
	prep, der := signDocument(t, p, crypto.SHA384, []byte("layout"), testSigningTime)
	dir := t.TempDir()
	cms, attrs := filepath.Join(dir, "s.p7s"), filepath.Join(dir, "attrs.der")
	writeFile(t, cms, der)
	writeFile(t, attrs, prep.SignedAttrs)
	out, ok := openssl(t, "asn1parse", "-inform", "DER", "-in", cms)
	if !ok {
		t.Fatalf("asn1parse failed:\n%s", out)
	}
	objs := asn1Objects(out)
	head := []string{"pkcs7-signedData", "sha384", "pkcs7-data"}
	tail := []string{"sha384", "contentType", "pkcs7-data", "signingTime", "messageDigest",
		"id-smime-aa-signingCertificateV2", "countryName", "organizationName", "commonName", "ecdsa-with-SHA384"}
	if len(objs) < len(head)+len(tail) || !slicesEqual(objs[:3], head) || !slicesEqual(objs[len(objs)-len(tail):], tail) {
		t.Fatalf("objects %v, want %v … %v", objs, head, tail)
	}
	// Detached: after eContentType comes the certificates [0] of the
	// SignedData (depth 3), not an eContent [0] inside encapContentInfo.
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, ":pkcs7-data") {
			if next := lines[i+1]; !strings.Contains(next, "d=3") || !strings.Contains(next, "cont [ 0 ]") {
				t.Fatalf("after eContentType: %q, want the certificates at depth 3", next)
			}
			break
		}
	}
	out, ok = openssl(t, "asn1parse", "-inform", "DER", "-in", attrs)
	if !ok || !strings.Contains(strings.Split(out, "\n")[0], "cons: SET") || strings.Count(out, "d=1  ") != 4 {
		t.Fatalf("signed attributes are not a SET of four:\n%s", out)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// TestSigningTimeEncoding checks the Time choice of RFC 5652 §11.3 with
// openssl asn1parse, and that Verify reads back the same instant.
func TestSigningTimeEncoding(t *testing.T) {
	p := newPKI(t)
	baku := time.FixedZone("Baku", 4*3600)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 3, 14, 19, 9, 26, 999_000_000, baku), "UTCTIME           :260314150926Z"},
		{time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), "UTCTIME           :500101000000Z"},
		{time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC), "UTCTIME           :491231235959Z"},
		{time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), "GENERALIZEDTIME   :20500101000000Z"},
		{time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC), "GENERALIZEDTIME   :19491231235959Z"},
	} {
		prep, der := signDocument(t, p, crypto.SHA256, []byte("time"), tc.at)
		f := filepath.Join(t.TempDir(), "attrs.der")
		writeFile(t, f, prep.SignedAttrs)
		if out, _ := openssl(t, "asn1parse", "-inform", "DER", "-in", f); !strings.Contains(out, tc.want) {
			t.Errorf("%v: asn1parse lacks %q:\n%s", tc.at, tc.want, out)
		}
		v, err := Verify(der, Expected{DigestAlg: crypto.SHA256, Digest: sha256Of([]byte("time")), Signer: p.signer})
		if err != nil || !v.SigningTime.Equal(tc.at.Truncate(time.Second)) {
			t.Errorf("%v: Verify = %+v, %v", tc.at, v, err)
		}
	}
}

// TestSignedAttributesIndependently decodes the signed attributes with
// encoding/asn1, not with the package's own parser.
func TestSignedAttributesIndependently(t *testing.T) {
	p := newPKI(t)
	digest := sha256Of([]byte("independent"))
	prep, err := Prepare(Request{DigestAlg: crypto.SHA256, Digest: digest, Signer: p.signer, Chain: p.chain(), SigningTime: testSigningTime})
	if err != nil {
		t.Fatal(err)
	}
	type attribute struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	var attrs []attribute
	if rest, err := asn1.UnmarshalWithParams(prep.SignedAttrs, &attrs, "set"); err != nil || len(rest) != 0 {
		t.Fatalf("signed attributes: %v", err)
	}
	got := map[string][]byte{}
	for _, a := range attrs {
		if len(a.Values) != 1 {
			t.Fatalf("attribute %v has %d values", a.Type, len(a.Values))
		}
		got[a.Type.String()] = a.Values[0].FullBytes
	}
	var ct asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(got["1.2.840.113549.1.9.3"], &ct); err != nil || !ct.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}) {
		t.Errorf("content-type = %v, %v", ct, err)
	}
	var md []byte
	if _, err := asn1.Unmarshal(got["1.2.840.113549.1.9.4"], &md); err != nil || !bytes.Equal(md, digest) {
		t.Errorf("message-digest = %x, %v", md, err)
	}
	var st time.Time
	if _, err := asn1.Unmarshal(got["1.2.840.113549.1.9.5"], &st); err != nil || !st.Equal(testSigningTime) {
		t.Errorf("signing-time = %v, %v", st, err)
	}
	var scv2 struct {
		Certs []struct {
			CertHash     []byte
			IssuerSerial struct {
				Issuer []asn1.RawValue
				Serial *big.Int
			}
		}
	}
	if rest, err := asn1.Unmarshal(got["1.2.840.113549.1.9.16.2.47"], &scv2); err != nil || len(rest) != 0 || len(scv2.Certs) != 1 {
		t.Fatalf("signing-certificate-v2: %v (hashAlgorithm must be absent for the SHA-256 default)", err)
	}
	id := scv2.Certs[0]
	if !bytes.Equal(id.CertHash, sha256Of(p.signer.Raw)) {
		t.Errorf("certHash = %x", id.CertHash)
	}
	if len(id.IssuerSerial.Issuer) != 1 || id.IssuerSerial.Issuer[0].Class != asn1.ClassContextSpecific ||
		id.IssuerSerial.Issuer[0].Tag != 4 || !bytes.Equal(id.IssuerSerial.Issuer[0].Bytes, p.signer.RawIssuer) {
		t.Errorf("issuer = %+v, want one directoryName with the certificate's issuer", id.IssuerSerial.Issuer)
	}
	if id.IssuerSerial.Serial.Cmp(p.signer.SerialNumber) != 0 {
		t.Errorf("serial = %v", id.IssuerSerial.Serial)
	}
}

// TestPreparedAcrossInstances rebuilds the prepared state from what a
// session keeps (the signed attributes and the digest algorithm) and the
// certificates, as another gateway instance would, and gets the same
// container.
func TestPreparedAcrossInstances(t *testing.T) {
	p := newPKI(t)
	prep, err := Prepare(Request{DigestAlg: crypto.SHA256, Digest: sha256Of([]byte("x")), Signer: p.signer, Chain: p.chain(), SigningTime: testSigningTime})
	if err != nil {
		t.Fatal(err)
	}
	sig := simSign(t, p.signerKey, prep.Hash)
	want, err := prep.Assemble(sig)
	if err != nil {
		t.Fatal(err)
	}
	kept := &Prepared{SignedAttrs: bytes.Clone(prep.SignedAttrs), DigestAlg: crypto.SHA256, Signer: p.signer, Chain: p.chain()}
	got, err := kept.Assemble(sig)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("rebuilt state gave another container: %v", err)
	}
}

func otherCerts(t *testing.T, p *pki) (ed, ml, p384 *x509.Certificate, caChain []*x509.Certificate) {
	t.Helper()
	ca, err := testca.New(testca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	holder := testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "1AB2C3D"}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	mlPub, _, err := mldsa44.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		pub crypto.PublicKey
		out **x509.Certificate
	}{{edPub, &ed}, {mlPub, &ml}} {
		if *k.out, err = ca.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign, Holder: holder, PublicKey: k.pub}); err != nil {
			t.Fatal(err)
		}
	}
	k384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384 = issue(t, signerTemplate("P-384 holder"), p.inter, &k384.PublicKey, p.interKey)
	return ed, ml, p384, []*x509.Certificate{ca.Certificate()}
}

func TestPrepareRefuses(t *testing.T) {
	p := newPKI(t)
	ed, ml, p384, caChain := otherCerts(t, p)
	good := Request{DigestAlg: crypto.SHA256, Digest: sha256Of([]byte("d")), Signer: p.signer, Chain: p.chain(), SigningTime: testSigningTime}
	for _, tc := range []struct {
		name   string
		change func(*Request)
		want   error
	}{
		{"31-octet SHA-256 digest", func(r *Request) { r.Digest = r.Digest[:31] }, ErrDigestLength},
		{"SHA-256 digest declared SHA-512", func(r *Request) { r.DigestAlg = crypto.SHA512 }, ErrDigestLength},
		{"SHA-1", func(r *Request) { r.DigestAlg, r.Digest = crypto.SHA1, make([]byte, 20) }, ErrDigestAlgorithm},
		{"Ed25519 key", func(r *Request) { r.Signer, r.Chain = ed, caChain }, ErrFormatNotSupported},
		{"ML-DSA-44 key", func(r *Request) { r.Signer, r.Chain = ml, caChain }, ErrFormatNotSupported},
		{"P-384 key", func(r *Request) { r.Signer = p384 }, ErrFormatNotSupported},
		{"no chain", func(r *Request) { r.Chain = nil }, ErrCertificate},
		{"chain without the root", func(r *Request) { r.Chain = r.Chain[:1] }, ErrCertificate},
		{"chain upside down", func(r *Request) { r.Chain = []*x509.Certificate{p.root, p.inter} }, ErrCertificate},
		{"no signing time", func(r *Request) { r.SigningTime = time.Time{} }, ErrRequest},
		{"no signer", func(r *Request) { r.Signer = nil }, ErrRequest},
		{"signing time past GeneralizedTime", func(r *Request) { r.SigningTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrRequest},
	} {
		req := good
		tc.change(&req)
		if _, err := Prepare(req); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := Formats(ed); len(got) != 1 || got[0] != FormatRaw {
		t.Errorf("Formats(Ed25519) = %v, want raw only", got)
	}
	if got := Formats(ml); len(got) != 1 || got[0] != FormatRaw {
		t.Errorf("Formats(ML-DSA-44) = %v, want raw only", got)
	}
	if got := Formats(p.signer); len(got) != 4 {
		t.Errorf("Formats(P-256) = %v, want all four", got)
	}
}

func TestAssembleRefusesBadSignatureValue(t *testing.T) {
	p := newPKI(t)
	prep, err := Prepare(Request{DigestAlg: crypto.SHA256, Digest: sha256Of(nil), Signer: p.signer, Chain: p.chain(), SigningTime: testSigningTime})
	if err != nil {
		t.Fatal(err)
	}
	for name, sig := range map[string][]byte{
		"DER instead of raw":       mustHex(t, "3006020101020101"),
		"64 zero octets":           make([]byte, 64),
		"an ML-DSA-44-sized value": make([]byte, 2420),
	} {
		if _, err := prep.Assemble(sig); !errors.Is(err, ErrSignatureValue) {
			t.Errorf("%s: err = %v, want ErrSignatureValue", name, err)
		}
	}
	if _, err := (&Prepared{DigestAlg: crypto.SHA256}).Assemble(make([]byte, 64)); !errors.Is(err, ErrRequest) {
		t.Errorf("empty state: err = %v, want ErrRequest", err)
	}
}

// assembleWith builds a container from hand-made signed attributes, for
// the cases Prepare never makes.
func assembleWith(t *testing.T, p *pki, attrs []byte) []byte {
	t.Helper()
	prep := &Prepared{SignedAttrs: attrs, DigestAlg: crypto.SHA256, Signer: p.signer, Chain: p.chain()}
	der, err := prep.Assemble(simSign(t, p.signerKey, sha256Of(attrs)))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerifyRefuses(t *testing.T) {
	p := newPKI(t)
	doc := []byte("verify")
	digest := sha256Of(doc)
	prep, der := signDocument(t, p, crypto.SHA256, doc, testSigningTime)
	want := Expected{DigestAlg: crypto.SHA256, Digest: digest, Signer: p.signer}

	// The same key in another certificate (another serial): the
	// signature verifies, the signing-certificate-v2 attribute does not.
	twinTmpl := signerTemplate("Leyla Məmmədova")
	twinTmpl.SerialNumber = big.NewInt(77)
	twin := issue(t, twinTmpl, p.inter, &p.signerKey.PublicKey, p.interKey)
	twinPrep := *prep
	twinPrep.Signer = twin
	twinDER, err := twinPrep.Assemble(simSign(t, p.signerKey, prep.Hash))
	if err != nil {
		t.Fatal(err)
	}
	stranger := issue(t, signerTemplate("Someone else"), p.inter, &newKey(t).PublicKey, p.interKey)

	wrongSig, err := prep.Assemble(simSign(t, p.signerKey, sha256Of([]byte("another hash"))))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := prep.Assemble(simSign(t, newKey(t), prep.Hash))
	if err != nil {
		t.Fatal(err)
	}
	unsorted := reorderAttributes(t, prep.SignedAttrs)

	for _, tc := range []struct {
		name    string
		der     []byte
		change  func(*Expected)
		want    error
		openssl bool // whether openssl must refuse it too
	}{
		{"signature over another hash", wrongSig, nil, ErrSignature, true},
		{"signature by another key", otherKey, nil, ErrSignature, true},
		{"another document", der, func(e *Expected) { e.Digest = sha256Of([]byte("other")) }, ErrMessageDigest, false},
		{"expected another signer", der, func(e *Expected) { e.Signer = stranger }, ErrCertificate, false},
		{"signing-certificate-v2 of another certificate", twinDER, func(e *Expected) { e.Signer = twin }, ErrSigningCertificate, false},
		{"expected SHA-384", der, func(e *Expected) { e.DigestAlg, e.Digest = crypto.SHA384, make([]byte, 48) }, ErrDigestAlgorithm, false},
		{"wrong digest length", der, func(e *Expected) { e.Digest = digest[:20] }, ErrDigestLength, false},
		{"unsupported digest", der, func(e *Expected) { e.DigestAlg = crypto.MD5 }, ErrDigestAlgorithm, false},
		// openssl hashes the attributes as received and accepts this;
		// a verifier that re-encodes them in DER would not, so the
		// gateway must never hand it out.
		{"attributes not in DER order", assembleWith(t, p, unsorted), nil, ErrMalformed, false},
		{"truncated", der[:len(der)-1], nil, ErrMalformed, true},
		{"trailing octet", append(bytes.Clone(der), 0), nil, ErrMalformed, false},
		{"too large", make([]byte, MaxCMSSize+1), nil, ErrTooLarge, false},
		{"SignedData version 3", replaceOnce(t, der, "a08207", "020101", "020103"), nil, ErrMalformed, false},
	} {
		e := want
		if tc.change != nil {
			tc.change(&e)
		}
		if _, err := Verify(tc.der, e); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if tc.openssl {
			if out, ok := opensslVerify(t, p, tc.der, doc); ok {
				t.Errorf("%s: openssl verified it:\n%s", tc.name, out)
			}
		}
	}
}

// replaceOnce replaces the first old after the first anchor (hex).
func replaceOnce(t *testing.T, der []byte, anchor, old, new string) []byte {
	t.Helper()
	h := hex.EncodeToString(der)
	i := strings.Index(h, anchor)
	j := strings.Index(h[i:], old)
	if i < 0 || j < 0 {
		t.Fatalf("%s … %s not found", anchor, old)
	}
	out, _ := hex.DecodeString(h[:i+j] + new + h[i+j+len(old):])
	return out
}

// reorderAttributes swaps the first two attributes of a DER SET OF, so
// that it is no longer in DER order.
func reorderAttributes(t *testing.T, set []byte) []byte {
	t.Helper()
	var raws []asn1.RawValue
	if _, err := asn1.UnmarshalWithParams(set, &raws, "set"); err != nil {
		t.Fatal(err)
	}
	raws[0], raws[1] = raws[1], raws[0]
	var body []byte
	for _, r := range raws {
		body = append(body, r.FullBytes...)
	}
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: body})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

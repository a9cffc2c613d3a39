package ades

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestManifestGolden(t *testing.T) {
	d1 := sha256.Sum256([]byte("a"))
	d2 := sha512.Sum512([]byte("b"))
	got, err := Manifest([]Document{
		{Name: "Müqavilə & <əlavə>.pdf", MIMEType: "application/pdf", DigestAlg: crypto.SHA256, Digest: d1[:]},
		{Name: "data/report 1.xml", MIMEType: "application/xml", DigestAlg: crypto.SHA512, Digest: d2[:]},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<asic:ASiCManifest xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <asic:SigReference URI="META-INF/signature.p7s" MimeType="application/x-pkcs7-signature"/>
  <asic:DataObjectReference URI="M%C3%BCqavil%C9%99%20%26%20%3C%C9%99lav%C9%99%3E.pdf" MimeType="application/pdf">
    <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
    <ds:DigestValue>ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=</ds:DigestValue>
  </asic:DataObjectReference>
  <asic:DataObjectReference URI="data/report%201.xml" MimeType="application/xml">
    <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/>
    <ds:DigestValue>` + b64(d2[:]) + `</ds:DigestValue>
  </asic:DataObjectReference>
</asic:ASiCManifest>
`
	if string(got) != want {
		t.Fatalf("manifest:\n%s\nwant:\n%s", got, want)
	}
}

func TestManifestRefuses(t *testing.T) {
	d := sha256Of(nil)
	doc := func(name string) Document {
		return Document{Name: name, MIMEType: "text/plain", DigestAlg: crypto.SHA256, Digest: d}
	}
	for _, name := range []string{
		"", "/etc/passwd", "a/../b", "..", "./a", "a/./b", "a//b", "a/", "a\\b", "mimetype", "MimeType",
		"META-INF/manifest.xml", "meta-inf/x", "a\x00b", "tab\there", "del\x7f", "c1\u0085", "exe.\u202efdp",
		strings.Repeat("n", MaxNameLength+1), "bad\xffutf8",
	} {
		if _, err := Manifest([]Document{doc(name)}); !errors.Is(err, ErrName) {
			t.Errorf("name %q: err = %v, want ErrName", name, err)
		}
	}
	if _, err := Manifest([]Document{doc("Report.pdf"), doc("report.PDF")}); !errors.Is(err, ErrName) {
		t.Errorf("names equal but for case: err = %v, want ErrName", err)
	}
	for _, m := range []string{"", "pdf", "application/", "/pdf", "text/plain; charset=utf-8", "text/pl ain", "a/b/c", "text/\"x\"", "-x/y"} {
		bad := doc("a.txt")
		bad.MIMEType = m
		if _, err := Manifest([]Document{bad}); !errors.Is(err, ErrMIMEType) {
			t.Errorf("MIME type %q: err = %v, want ErrMIMEType", m, err)
		}
	}
	short := doc("a.txt")
	short.Digest = d[:31]
	if _, err := Manifest([]Document{short}); !errors.Is(err, ErrDigestLength) {
		t.Errorf("short digest: err = %v", err)
	}
	if _, err := Manifest(nil); !errors.Is(err, ErrManifest) {
		t.Errorf("no documents: err = %v", err)
	}
	many := make([]Document, MaxDocuments+1)
	for i := range many {
		many[i] = doc(fmt.Sprintf("d%d", i))
	}
	if _, err := Manifest(many); !errors.Is(err, ErrManifest) {
		t.Errorf("%d documents: err = %v", len(many), err)
	}
	if _, err := Manifest([]Document{doc("Ünicode ok/ğ ş ç.txt"), doc("a&b'c\"d<e>f.txt")}); err != nil {
		t.Errorf("valid names refused: %v", err)
	}
}

// testManifest is the manifest as a reader other than this package sees
// it, for checking Manifest with encoding/xml.
type testManifest struct {
	XMLName xml.Name `xml:"http://uri.etsi.org/02918/v1.2.1# ASiCManifest"`
	Sig     struct {
		URI      string `xml:"URI,attr"`
		MimeType string `xml:"MimeType,attr"`
	} `xml:"http://uri.etsi.org/02918/v1.2.1# SigReference"`
	Refs []struct {
		URI      string `xml:"URI,attr"`
		MimeType string `xml:"MimeType,attr"`
		Method   struct {
			Algorithm string `xml:"Algorithm,attr"`
		} `xml:"http://www.w3.org/2000/09/xmldsig# DigestMethod"`
		Value string `xml:"http://www.w3.org/2000/09/xmldsig# DigestValue"`
	} `xml:"http://uri.etsi.org/02918/v1.2.1# DataObjectReference"`
}

func decodeTestManifest(t testing.TB, data []byte) testManifest {
	t.Helper()
	var m testManifest
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest is not well-formed XML: %v\n%s", err, data)
	}
	return m
}

var testDigestURIs = map[string]func([]byte) []byte{
	"http://www.w3.org/2001/04/xmlenc#sha256":       func(b []byte) []byte { h := sha256.Sum256(b); return h[:] },
	"http://www.w3.org/2001/04/xmldsig-more#sha384": func(b []byte) []byte { h := sha512.Sum384(b); return h[:] },
	"http://www.w3.org/2001/04/xmlenc#sha512":       func(b []byte) []byte { h := sha512.Sum512(b); return h[:] },
}

// testDocuments makes n documents with varied names, types and digests.
func testDocuments(t testing.TB, n int) ([]Document, []Part) {
	t.Helper()
	names := []string{"müqavilə.pdf", "a&b <c>.txt", "qovluq/alt qovluq/şəkil #1.png", "100% 'quoted' \"name\".xml"}
	types := []string{"application/pdf", "text/plain", "image/png", "application/xml"}
	algs := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}
	docs, parts := make([]Document, n), make([]Part, n)
	for i := range n {
		name := names[i%len(names)]
		if i >= len(names) {
			name = fmt.Sprintf("%d-%s", i, name)
		}
		content := bytes.Repeat([]byte(fmt.Sprintf("document %d; ", i)), 1+i*7)
		digest, err := Sum(algs[i%len(algs)], content)
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = Document{Name: name, MIMEType: types[i%len(types)], DigestAlg: algs[i%len(algs)], Digest: digest}
		parts[i] = Part{Name: name, Content: bytes.NewReader(content)}
	}
	return docs, parts
}

// buildContainer signs the manifest of docs as the gateway would and packs
// the container.
func buildContainer(t testing.TB, p *pki, docs []Document, parts []Part) (manifest, p7s, asice []byte) {
	t.Helper()
	manifest, err := Manifest(docs)
	if err != nil {
		t.Fatal(err)
	}
	_, p7s = signDocument(t, p, crypto.SHA256, manifest, testSigningTime)
	var buf bytes.Buffer
	if err := Pack(&buf, manifest, p7s, parts); err != nil {
		t.Fatal(err)
	}
	return manifest, p7s, buf.Bytes()
}

func TestASiCE(t *testing.T) {
	p := newPKI(t)
	for _, n := range []int{1, 2, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			docs, parts := testDocuments(t, n)
			_, _, asice := buildContainer(t, p, docs, parts)
			checkContainerIndependently(t, p, docs, asice)

			c, err := Unpack(bytes.NewReader(asice), int64(len(asice)), UnpackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Documents) != n || c.Documents[n-1].Name != docs[n-1].Name {
				t.Fatalf("Unpack gave %d documents", len(c.Documents))
			}
			if _, err := Verify(c.Signature, Expected{DigestAlg: crypto.SHA256, Digest: sha256Of(c.Manifest), Signer: p.signer}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// checkContainerIndependently reads the container with archive/zip and
// encoding/xml, checks the layout EN 319 162-1 requires and every digest,
// and has openssl verify the signature over the manifest.
func checkContainerIndependently(t *testing.T, p *pki, docs []Document, asice []byte) {
	t.Helper()
	le := binary.LittleEndian
	if le.Uint32(asice) != 0x04034b50 || le.Uint16(asice[8:]) != 0 || le.Uint32(asice[18:]) != uint32(len(MIMETypeASiCE)) ||
		le.Uint16(asice[28:]) != 0 || string(asice[30:38]) != "mimetype" || string(asice[38:38+len(MIMETypeASiCE)]) != MIMETypeASiCE {
		t.Fatalf("first local header: %q", asice[:70])
	}
	zr, err := zip.NewReader(bytes.NewReader(asice), int64(len(asice)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var order []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
		order = append(order, f.Name)
	}
	if f := zr.File[0]; f.Name != "mimetype" || f.Method != zip.Store || len(f.Extra) != 0 {
		t.Fatalf("first entry %q method %d extra %x", f.Name, f.Method, f.Extra)
	}
	wantOrder := []string{"mimetype"}
	for _, d := range docs {
		wantOrder = append(wantOrder, d.Name)
	}
	wantOrder = append(wantOrder, "META-INF/ASiCManifest.xml", "META-INF/signature.p7s")
	if !slicesEqual(order, wantOrder) {
		t.Fatalf("entries %q, want %q", order, wantOrder)
	}
	manifest := files["META-INF/ASiCManifest.xml"]
	m := decodeTestManifest(t, manifest)
	if m.Sig.URI != "META-INF/signature.p7s" || m.Sig.MimeType != "application/x-pkcs7-signature" || len(m.Refs) != len(docs) {
		t.Fatalf("manifest: %+v", m.Sig)
	}
	for i, r := range m.Refs {
		name, err := url.PathUnescape(r.URI)
		if err != nil || name != docs[i].Name || r.MimeType != docs[i].MIMEType {
			t.Fatalf("reference %d: %q %q (%v), want %q", i, r.URI, r.MimeType, err, docs[i].Name)
		}
		sum := testDigestURIs[r.Method.Algorithm]
		if sum == nil || r.Value != b64(sum(files[name])) {
			t.Fatalf("reference %q: %s %s does not match the entry", name, r.Method.Algorithm, r.Value)
		}
	}
	if out, ok := opensslVerify(t, p, files["META-INF/signature.p7s"], manifest); !ok {
		t.Fatalf("openssl cms -verify of the manifest signature:\n%s", out)
	}
}

// rezip copies the entries of a container into a new ZIP, changed by edit,
// for the cases Pack never writes.
func rezip(t *testing.T, asice []byte, edit func(zw *zip.Writer, f *zip.File) bool, extra func(zw *zip.Writer)) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(asice), int64(len(asice)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if edit != nil && edit(zw, f) {
			continue
		}
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	if extra != nil {
		extra(zw)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func addEntry(t *testing.T, zw *zip.Writer, name string, method uint16, data []byte) {
	t.Helper()
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
}

func TestUnpackRefuses(t *testing.T) {
	p := newPKI(t)
	docs, parts := testDocuments(t, 2)
	_, _, asice := buildContainer(t, p, docs, parts)
	if _, err := Unpack(bytes.NewReader(asice), int64(len(asice)), UnpackOptions{}); err != nil {
		t.Fatalf("the unchanged container: %v", err)
	}
	drop := func(name string) func(*zip.Writer, *zip.File) bool {
		return func(_ *zip.Writer, f *zip.File) bool { return f.Name == name }
	}
	for _, tc := range []struct {
		name string
		zip  []byte
		opts UnpackOptions
		want error
	}{
		{"not a ZIP", []byte("PK\x03\x04 but nothing more"), UnpackOptions{}, ErrContainer},
		{"mimetype deflated", rezip(t, asice, func(zw *zip.Writer, f *zip.File) bool {
			if f.Name == "mimetype" {
				addEntry(t, zw, "mimetype", zip.Deflate, []byte(MIMETypeASiCE))
				return true
			}
			return false
		}, nil), UnpackOptions{}, ErrContainer},
		{"mimetype not first", rezip(t, asice, drop("mimetype"), func(zw *zip.Writer) {
			addEntry(t, zw, "mimetype", zip.Store, []byte(MIMETypeASiCE))
		}), UnpackOptions{}, ErrContainer},
		{"an unsigned document", rezip(t, asice, nil, func(zw *zip.Writer) {
			addEntry(t, zw, "unsigned.txt", zip.Deflate, []byte("smuggled"))
		}), UnpackOptions{}, ErrContainer},
		{"another META-INF entry", rezip(t, asice, nil, func(zw *zip.Writer) {
			addEntry(t, zw, "META-INF/manifest.xml", zip.Deflate, []byte("<x/>"))
		}), UnpackOptions{}, ErrContainer},
		{"a document missing", rezip(t, asice, drop(docs[1].Name), nil), UnpackOptions{}, ErrContainer},
		{"a document changed", rezip(t, asice, func(zw *zip.Writer, f *zip.File) bool {
			if f.Name == docs[0].Name {
				addEntry(t, zw, f.Name, zip.Deflate, []byte("changed"))
				return true
			}
			return false
		}, nil), UnpackOptions{}, ErrManifest},
		{"a document twice", rezip(t, asice, nil, func(zw *zip.Writer) {
			addEntry(t, zw, strings.ToUpper(docs[0].Name), zip.Deflate, []byte("twin"))
		}), UnpackOptions{}, ErrContainer},
		{"no signature", rezip(t, asice, drop(SignatureName), nil), UnpackOptions{}, ErrContainer},
		{"above the size bound", asice, UnpackOptions{MaxSize: 200}, ErrTooLarge},
	} {
		if _, err := Unpack(bytes.NewReader(tc.zip), int64(len(tc.zip)), tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestPackRefuses(t *testing.T) {
	p := newPKI(t)
	docs, parts := testDocuments(t, 2)
	manifest, p7s, _ := buildContainer(t, p, docs, parts)
	fresh := func() []Part {
		_, ps := testDocuments(t, 2)
		return ps
	}
	swapped := fresh()
	swapped[0], swapped[1] = swapped[1], swapped[0]
	changed := fresh()
	changed[1].Content = strings.NewReader("not the signed content")
	for _, tc := range []struct {
		name     string
		manifest []byte
		p7s      []byte
		parts    []Part
		want     error
	}{
		{"parts in another order", manifest, p7s, swapped, ErrManifest},
		{"content not matching its digest", manifest, p7s, changed, ErrManifest},
		{"a part missing", manifest, p7s, fresh()[:1], ErrManifest},
		{"not a CMS signature", manifest, []byte("signature"), fresh(), ErrMalformed},
		{"not a manifest", []byte("<x/>"), p7s, fresh(), ErrManifest},
	} {
		if err := Pack(io.Discard, tc.manifest, tc.p7s, tc.parts); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestLargestManifest builds the largest manifest Manifest allows and
// reads it back.
func TestLargestManifest(t *testing.T) {
	docs := make([]Document, MaxDocuments)
	for i := range docs {
		name := fmt.Sprintf("%04d", i) + strings.Repeat("ə", (MaxNameLength-4)/2)
		docs[i] = Document{Name: name, MIMEType: strings.Repeat("a", 127) + "/" + strings.Repeat("b", 127), DigestAlg: crypto.SHA512, Digest: make([]byte, 64)}
	}
	m, err := Manifest(docs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseManifest(m)
	if err != nil || len(back) != MaxDocuments {
		t.Fatalf("ParseManifest of %d octets: %v", len(m), err)
	}
}

func TestParseManifestRefuses(t *testing.T) {
	docs := []Document{{Name: "müqavilə 1.pdf", MIMEType: "application/pdf", DigestAlg: crypto.SHA256, Digest: sha256Of(nil)}}
	good, err := Manifest(docs)
	if err != nil {
		t.Fatal(err)
	}
	uri := EscapeURI(docs[0].Name)
	for name, m := range map[string]string{
		"lower-case percent-encoding": strings.Replace(string(good), "%C3%BC", "%c3%bc", 1),
		"unencoded space":             strings.Replace(string(good), uri, strings.ReplaceAll(uri, "%20", " "), 1),
		"other signature":             strings.Replace(string(good), "META-INF/signature.p7s", "META-INF/other.p7s", 1),
		"unknown digest method":       strings.Replace(string(good), "xmlenc#sha256", "xmldsig#sha1", 1),
		"not XML":                     "<asic:ASiCManifest",
		"absolute name":               strings.Replace(string(good), uri, "/etc/passwd", 1),
	} {
		if _, err := ParseManifest([]byte(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseManifest(make([]byte, MaxManifestSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: err = %v", err)
	}
	got, err := ParseManifest(good)
	if err != nil || len(got) != 1 || got[0].Name != docs[0].Name || !bytes.Equal(got[0].Digest, docs[0].Digest) {
		t.Fatalf("ParseManifest = %+v, %v", got, err)
	}
}

// TestInfoZIPRecipe packs a container with the zip commands docs/ades.md
// gives portals and checks it with Unpack and Verify.
func TestInfoZIPRecipe(t *testing.T) {
	zipBin, err := exec.LookPath("zip")
	if err != nil {
		t.Fatalf("the test runs the documented zip commands: %v", err)
	}
	p := newPKI(t)
	content := []byte("%PDF-1.7 müqavilə")
	docs := []Document{{Name: "Müqavilə 1.pdf", MIMEType: "application/pdf", DigestAlg: crypto.SHA256, Digest: sha256Of(content)}}
	manifest, p7s, _ := buildContainer(t, p, docs, []Part{{Name: docs[0].Name, Content: bytes.NewReader(content)}})
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "META-INF"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "mimetype"), []byte(MIMETypeASiCE))
	writeFile(t, filepath.Join(dir, docs[0].Name), content)
	writeFile(t, filepath.Join(dir, ManifestName), manifest)
	writeFile(t, filepath.Join(dir, SignatureName), p7s)
	for _, args := range [][]string{
		{"-X", "-0", "-D", "container.asice", "mimetype"},
		{"-X", "-D", "-r", "container.asice", docs[0].Name, ManifestName, SignatureName},
	} {
		cmd := exec.Command(zipBin, append([]string{"-q"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("zip %v: %v\n%s", args, err, out)
		}
	}
	asice, err := os.ReadFile(filepath.Join(dir, "container.asice"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Unpack(bytes.NewReader(asice), int64(len(asice)), UnpackOptions{})
	if err != nil {
		t.Fatalf("Unpack of the zip-made container: %v", err)
	}
	if _, err := Verify(c.Signature, Expected{DigestAlg: crypto.SHA256, Digest: sha256Of(c.Manifest), Signer: p.signer}); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway/ades"

	"github.com/imzagate/imzagate/internal/testutil"
)

// asicParts makes what the gateway returns for an ASiC-E signature of the
// given documents (the manifest and the CAdES signature over it, made as
// the gateway makes it around an ECDSA key) and writes the documents, the
// manifest (raw XML), the signature (base64, as in the JSON answer) and
// the CA's root into dir.
func asicParts(t *testing.T, dir string, docs map[string]string) (manifest, sig, root string) {
	t.Helper()
	ca, err := testca.New(testca.Options{Seed: []byte("asic-cli")})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := ca.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign,
		Holder: testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "1ABC234"}, PublicKey: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	var list []ades.Document
	for _, name := range []string{"Müqavilə.pdf", "əlavə/cədvəl.csv"} {
		content, ok := docs[name]
		if !ok {
			continue
		}
		sum := sha256.Sum256([]byte(content))
		list = append(list, ades.Document{Name: name, MIMEType: "application/octet-stream", DigestAlg: crypto.SHA256, Digest: sum[:]})
		path := filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := ades.Manifest(list)
	if err != nil {
		t.Fatal(err)
	}
	md := sha256.Sum256(m)
	p, err := ades.Prepare(ades.Request{DigestAlg: crypto.SHA256, Digest: md[:], Signer: leaf, Chain: []*x509.Certificate{ca.Certificate()}, SigningTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r, s, err := ecdsa.Sign(rand.Reader, key, p.Hash)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64)
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	der, err := p.Assemble(raw)
	if err != nil {
		t.Fatal(err)
	}
	manifest, sig, root = filepath.Join(dir, "manifest.xml"), filepath.Join(dir, "signature.b64"), filepath.Join(dir, "root.pem")
	for f, data := range map[string][]byte{manifest: m, sig: []byte(base64.StdEncoding.EncodeToString(der) + "\n"),
		root: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return manifest, sig, root
}

// imzagate asic pack writes a container that an outside ZIP reader and
// openssl accept: mimetype first and stored, every document under its
// manifest name with its digest, the CMS verifying over the manifest
// against the root.
func TestASiCPack(t *testing.T) {
	dir := t.TempDir()
	docs := map[string]string{"Müqavilə.pdf": "%PDF-1.7 contract", "əlavə/cədvəl.csv": "a,b\n1,2\n"}
	manifest, sig, root := asicParts(t, dir, docs)
	out := filepath.Join(dir, "out.asice")
	code, stdout, stderr := runCmd("asic", "pack", "--manifest", manifest, "--signature", sig, "--out", out,
		filepath.Join(dir, "Müqavilə.pdf"), "əlavə/cədvəl.csv="+filepath.Join(dir, "cədvəl.csv"))
	if code != 0 || !strings.Contains(stdout, "wrote") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if f := zr.File[0]; f.Name != "mimetype" || f.Method != zip.Store || string(data[38:38+len(ades.MIMETypeASiCE)]) != ades.MIMETypeASiCE {
		t.Fatalf("first entry %q method %d", f.Name, f.Method)
	}
	entries := map[string][]byte{}
	for _, f := range zr.File[1:] {
		rc, _ := f.Open()
		entries[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	listed, err := ades.ParseManifest(entries[ades.ManifestName])
	if err != nil || len(entries) != len(docs)+2 {
		t.Fatalf("%d entries, manifest %v", len(entries), err)
	}
	for _, d := range listed {
		sum := sha256.Sum256(entries[d.Name])
		if string(entries[d.Name]) != docs[d.Name] || !bytes.Equal(sum[:], d.Digest) {
			t.Fatalf("entry %q does not match its manifest digest", d.Name)
		}
	}
	testutil.RequireTools(t, "openssl")
	m, p7s := filepath.Join(dir, "m.xml"), filepath.Join(dir, "s.p7s")
	_ = os.WriteFile(m, entries[ades.ManifestName], 0o600)
	_ = os.WriteFile(p7s, entries[ades.SignatureName], 0o600)
	cmd := exec.Command("openssl", "cms", "-verify", "-binary", "-content", m, "-inform", "DER", "-in", p7s, "-CAfile", root, "-purpose", "any", "-out", os.DevNull)
	if outp, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(outp), "Verification successful") {
		t.Fatalf("openssl cms -verify: %v\n%s", err, outp)
	}
}

// A document that is not the one signed, a missing or an extra document
// stop the pack before anything is written under --out; usage errors exit 2.
func TestASiCPackRefuses(t *testing.T) {
	dir := t.TempDir()
	manifest, sig, _ := asicParts(t, dir, map[string]string{"Müqavilə.pdf": "signed version"})
	doc := filepath.Join(dir, "Müqavilə.pdf")
	out := filepath.Join(dir, "out.asice")
	other := filepath.Join(dir, "other.txt")
	_ = os.WriteFile(other, []byte("x"), 0o600)
	changed := filepath.Join(dir, "changed.pdf")
	_ = os.WriteFile(changed, []byte("another version"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"changed document", []string{"Müqavilə.pdf=" + changed}, 1, "not the one the manifest lists"},
		{"missing document", []string{other}, 1, "not among the documents given"},
		{"extra document", []string{doc, other}, 1, "not in the manifest"},
		{"no documents", nil, 2, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"asic", "pack", "--manifest", manifest, "--signature", sig, "--out", out}, tc.args...)
			code, _, stderr := runCmd(args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, %q; want %d with %q", code, stderr, tc.code, tc.msg)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("%s exists after a refused pack", out)
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".asice-*"))
			if len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
	if code, _, _ := runCmd("asic", "unpack"); code != 2 {
		t.Fatalf("unknown action: exit %d", code)
	}
}

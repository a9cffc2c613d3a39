package gateway_test

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/ades"
	"github.com/imzagate/imzagate/gateway/trust/trusttest"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// Cards of the AdES end-to-end farm, one per scenario that reaches a SIM.
const (
	adesRaw = iota
	adesCAdES256
	adesCAdES384
	adesCAdES512
	adesASiC1
	adesASiC2
	adesASiC100
	adesWrongHash
	adesEd25519
	adesCards
)

// startAdESWorld starts two gateway instances on one redis-server and one
// SMSC account, with simulated SIMs whose certificates the stack's served
// test CA issued (e2eProfile: personal ECDSA P-256 in slot 02, business
// Ed25519 in slot 03, government ML-DSA-44 in slot 04); the containers
// carry the path trust validation found, and the CA's root is written out
// for openssl. It returns
// an env per instance, their registries and the root's PEM file.
func startAdESWorld(t *testing.T) (*env, *env, [2]*prometheus.Registry, string) {
	redistest.RequireBinaries(t)
	trusttest.RequireOpenSSL(t)
	srv := redistest.Start(t)
	st := startStack(t, multiInstance(simstack.Options{
		Redis: simstack.Redis{Addrs: []string{srv.Addr}},
		SIMs:  adesCards, Seed: "ades-e2e", Prefixes: []string{"99450"},
		Behaviour: func(int) simcard.Behaviour {
			return simcard.Behaviour{Action: simcard.Approve, Delay: 20 * time.Millisecond}
		},
		Profile: e2eProfile,
		Faults: func(i int) simcard.Faults {
			return simcard.Faults{WrongHash: i == adesWrongHash}
		},
		Pepper: bytes.Repeat([]byte{5}, 32), ShutdownTimeout: 5 * time.Second,
		Server:    gateway.ServerOptions{UserTimeout: 10 * time.Second, DeliveryGrace: 20 * time.Second},
		SimLogger: testLogger(t),
	}))
	a, regA := startInstance(t, st, "a", nil)
	b, regB := startInstance(t, st, "b", nil)
	records := records(t, st)
	waitReady(t, a, b)
	root := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: st.Root().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ea := &env{base: "http://" + a.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}
	eb := &env{base: "http://" + b.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}
	return ea, eb, [2]*prometheus.Registry{regA, regB}, root
}

// openssl runs openssl with args and returns its standard output, failing
// the test when it exits non-zero.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command("openssl", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// cmsVerify checks a detached CMS signature over content as a portal
// would, against the root only, and returns `openssl cms -cmsout -print`.
func cmsVerify(t *testing.T, root string, p7s, content []byte) string {
	t.Helper()
	dir := t.TempDir()
	sig, doc := filepath.Join(dir, "signature.p7s"), filepath.Join(dir, "content")
	_ = os.WriteFile(sig, p7s, 0o600)
	_ = os.WriteFile(doc, content, 0o600)
	out := openssl(t, "cms", "-verify", "-binary", "-content", doc, "-inform", "DER", "-in", sig, "-CAfile", root, "-purpose", "any", "-out", os.DevNull)
	if !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl cms -verify: %s", out)
	}
	return openssl(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", sig)
}

// checkAttributes asserts the CAdES-B attributes openssl prints: the four
// of them, the message digest, and a signing time near now.
func checkAttributes(t *testing.T, printed string, digest []byte, signingTime string) {
	t.Helper()
	for _, want := range []string{"contentType", "messageDigest", "signingTime", "signingCertificateV2", "ecdsa-with-SHA"} {
		if !strings.Contains(printed, want) {
			t.Fatalf("openssl print lacks %s:\n%s", want, printed)
		}
	}
	// openssl dumps the message digest in rows of 16 octets: "0000 - 2c 26 b4 6b ...".
	flat := strings.Join(strings.Fields(hexDumpOctets(printed)), "")
	if !strings.Contains(flat, hex.EncodeToString(digest)) {
		t.Fatalf("message digest %x not in:\n%s", digest, printed)
	}
	when, err := time.Parse(time.RFC3339, signingTime)
	if err != nil || time.Since(when) > time.Minute || time.Until(when) > time.Minute {
		t.Fatalf("signing time %q", signingTime)
	}
	if !strings.Contains(printed, when.UTC().Format("Jan _2 15:04:05 2006")) && !strings.Contains(printed, when.UTC().Format("060102150405Z")) {
		t.Fatalf("signing time %s not in the container:\n%s", when, printed)
	}
}

// hexDumpOctets keeps the hex octets of openssl's dump rows.
func hexDumpOctets(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		_, rest, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(strings.ReplaceAll(rest, "-", " ")) {
			if len(f) == 2 {
				if _, err := hex.DecodeString(f); err == nil {
					b.WriteString(f)
				}
			}
		}
	}
	return b.String()
}

func field(t *testing.T, m map[string]any, name string) []byte {
	t.Helper()
	s, _ := m[name].(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("%s: %q is not base64 (%v)", name, s, m)
	}
	return b
}

func digestOf(typ string, data []byte) []byte {
	switch typ {
	case "SHA384":
		h := sha512.Sum384(data)
		return h[:]
	case "SHA512":
		h := sha512.Sum512(data)
		return h[:]
	}
	h := sha256.Sum256(data)
	return h[:]
}

// signStart posts a signature request for card's personal certificate on
// e, with the extra members, expecting 201; the session is finished on
// the other instance.
func signStart(t *testing.T, e *env, card int, extra map[string]any) string {
	t.Helper()
	req := map[string]any{"phoneNumber": "+" + e.records[card].MSISDN, "userId": e.records[card].UserID,
		"certificate": map[string]any{"type": "personal"}}
	for k, v := range extra {
		req[k] = v
	}
	st, m, _ := e.do(t, "p1", "POST", "/v1/signatures", req)
	if st != 201 {
		t.Fatalf("start: %d %v", st, m)
	}
	return m["sessionId"].(string)
}

// TestAdESEndToEnd runs raw, DER, CAdES and ASiC-E signatures through the
// real system (HTTP, redis-server, SMPP, simulated SIMs) on two gateway
// instances, starting each session on one and reading it on the other,
// and checks every container with openssl against the CA's root only.
// ML-DSA-44 is covered by its refusal only: it, like Ed25519, cannot make
// a CMS signature through the applet.
func TestAdESEndToEnd(t *testing.T) {
	ea, eb, regs, root := startAdESWorld(t)
	t.Run("sessions", func(t *testing.T) { adesSessions(t, ea, eb, root) })
	// Both instances completed replies, so containers were assembled from
	// state the other instance stored when it started the session.
	for i, reg := range regs {
		if n := metricSum(t, reg, "imzagate_mo_received_total", "reply"); n == 0 {
			t.Errorf("instance %d handled no reply", i)
		}
	}
}

// adesSessions runs one session per scenario, in parallel, each on its
// own card.
func adesSessions(t *testing.T, ea, eb *env, root string) {
	pair := func(card int) (*env, *env) { // alternate the starting instance
		if card%2 == 0 {
			return ea, eb
		}
		return eb, ea
	}
	t.Run("raw and DER ECDSA", func(t *testing.T) {
		t.Parallel()
		on, other := pair(adesRaw)
		doc := []byte("raw document")
		id := signStart(t, on, adesRaw, map[string]any{"hash": base64.StdEncoding.EncodeToString(digestOf("SHA256", doc)), "hashType": "SHA256"})
		got := other.finish(t, "p1", id)
		sig := got["signature"].(map[string]any)
		if got["result"] != sessions.ResultOK || len(field(t, sig, "value")) != 64 || sig["cades"] != nil || sig["format"] != nil {
			t.Fatalf("answer %v", got)
		}
		dir := t.TempDir()
		certPEM := filepath.Join(dir, "signer.pem")
		_ = os.WriteFile(certPEM, []byte(got["certificate"].(map[string]any)["pem"].(string)), 0o600)
		pub := openssl(t, "x509", "-in", certPEM, "-pubkey", "-noout")
		_ = os.WriteFile(filepath.Join(dir, "pub.pem"), []byte(pub), 0o600)
		_ = os.WriteFile(filepath.Join(dir, "hash.bin"), digestOf("SHA256", doc), 0o600)
		_ = os.WriteFile(filepath.Join(dir, "sig.der"), field(t, sig, "der"), 0o600)
		out := openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", filepath.Join(dir, "pub.pem"),
			"-in", filepath.Join(dir, "hash.bin"), "-sigfile", filepath.Join(dir, "sig.der"))
		if !strings.Contains(out, "Signature Verified Successfully") {
			t.Fatalf("DER value: %s", out)
		}
	})
	for _, tc := range []struct {
		card     int
		hashType string
	}{{adesCAdES256, "SHA256"}, {adesCAdES384, "SHA384"}, {adesCAdES512, "SHA512"}} {
		t.Run("CAdES "+tc.hashType, func(t *testing.T) {
			t.Parallel()
			on, other := pair(tc.card)
			doc := []byte(fmt.Sprintf("Müqavilə no. %d\n", tc.card))
			digest := digestOf(tc.hashType, doc)
			id := signStart(t, on, tc.card, map[string]any{"hash": base64.StdEncoding.EncodeToString(digest), "hashType": tc.hashType, "format": "CAdES"})
			got := other.finish(t, "p1", id)
			if got["result"] != sessions.ResultOK {
				t.Fatalf("result %v", got)
			}
			sig := got["signature"].(map[string]any)
			if sig["format"] != "CAdES" || sig["asicManifest"] != nil {
				t.Fatalf("signature %v", sig)
			}
			printed := cmsVerify(t, root, field(t, sig, "cades"), doc)
			checkAttributes(t, printed, digest, sig["signingTime"].(string))
		})
	}
	for _, tc := range []struct {
		card, n int
	}{{adesASiC1, 1}, {adesASiC2, 2}, {adesASiC100, 100}} {
		t.Run(fmt.Sprintf("ASiC-E %d documents", tc.n), func(t *testing.T) {
			t.Parallel()
			on, other := pair(tc.card)
			names, contents, docs := asicDocuments(tc.n)
			id := signStart(t, on, tc.card, map[string]any{"format": "ASiC-E", "documents": docs})
			got := other.finish(t, "p1", id)
			if got["result"] != sessions.ResultOK {
				t.Fatalf("result %v", got)
			}
			sig := got["signature"].(map[string]any)
			manifest, p7s := field(t, sig, "asicManifest"), field(t, sig, "cades")
			checkContainer(t, root, manifest, p7s, names, contents, sig["signingTime"].(string))
		})
	}
	t.Run("card signs another hash", func(t *testing.T) {
		t.Parallel()
		on, other := pair(adesWrongHash)
		id := signStart(t, on, adesWrongHash, map[string]any{"hash": hashOf("SHA256", "x"), "hashType": "SHA256", "format": "CAdES"})
		got := other.finish(t, "p1", id)
		if got["result"] != sessions.ResultSignatureInvalid || got["signature"] != nil {
			t.Fatalf("answer %v", got)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		refusals(t, ea)
	})
}

// refusals: the formats that cannot be made, and bad requests, through the
// real HTTP API.
func refusals(t *testing.T, e *env) {
	rec := e.records[adesEd25519]
	base := func(cert map[string]any, extra map[string]any) map[string]any {
		r := map[string]any{"phoneNumber": "+" + rec.MSISDN, "userId": rec.UserID, "certificate": cert}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	cades := map[string]any{"hash": hashOf("SHA256", "d"), "hashType": "SHA256", "format": "CAdES"}
	_, _, oneDoc := asicDocuments(1)
	asic := map[string]any{"format": "ASiC-E", "documents": oneDoc}
	_, _, many := asicDocuments(101)
	short := []map[string]any{{"name": "a.txt", "mimeType": "text/plain", "digest": base64.StdEncoding.EncodeToString(make([]byte, 20)), "digestType": "SHA256"}}
	business := map[string]any{"type": "business", "taxId": bizVOEN}
	government := map[string]any{"type": "government"}
	personal := map[string]any{"type": "personal"}
	tests := []struct {
		name, path string
		req        map[string]any
		status     int
		code       string
	}{
		{"Ed25519 CAdES", "/v1/signatures", base(business, cades), 422, gateway.CodeFormatNotSupported},
		{"Ed25519 ASiC-E", "/v1/signatures", base(business, asic), 422, gateway.CodeFormatNotSupported},
		{"ML-DSA-44 CAdES", "/v1/signatures", base(government, cades), 422, gateway.CodeFormatNotSupported},
		{"ML-DSA-44 ASiC-E", "/v1/signatures", base(government, asic), 422, gateway.CodeFormatNotSupported},
		{"document digest of the wrong length", "/v1/signatures", base(personal, map[string]any{"format": "ASiC-E", "documents": short}), 400, gateway.CodeInvalidRequest},
		{"101 documents", "/v1/signatures", base(personal, map[string]any{"format": "ASiC-E", "documents": many}), 400, gateway.CodeTooManyDocuments},
		{"unknown format", "/v1/signatures", base(personal, map[string]any{"hash": hashOf("SHA256", "d"), "hashType": "SHA256", "format": "PAdES"}), 400, gateway.CodeInvalidRequest},
		{"CAdES on a login", "/v1/authentications", map[string]any{"phoneNumber": "+" + rec.MSISDN, "userId": rec.UserID,
			"hash": hashOf("SHA256", "d"), "hashType": "SHA256", "format": "CAdES"}, 400, gateway.CodeInvalidRequest},
	}
	for _, tt := range tests {
		st, m, _ := e.do(t, "p1", "POST", tt.path, tt.req)
		if st != tt.status || m["code"] != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, st, m, tt.status, tt.code)
		}
	}
	// The card's raw Ed25519 signature is still there for the asking.
	st, m, _ := e.do(t, "p1", "POST", "/v1/signatures", base(business, map[string]any{"hash": hashOf("SHA256", "d"), "hashType": "SHA256"}))
	if st != 201 {
		t.Fatalf("raw Ed25519: %d %v", st, m)
	}
	got := e.finish(t, "p1", m["sessionId"].(string))
	sig, _ := got["signature"].(map[string]any)
	if got["result"] != sessions.ResultOK || sig["algorithm"] != applet.SigEd25519.String() || sig["der"] != nil || sig["cades"] != nil {
		t.Fatalf("raw Ed25519 answer %v", got)
	}
}

// asicDocuments makes n documents (one with a non-ASCII name and one with
// a SHA-512 digest when n > 1) and their API form.
func asicDocuments(n int) (names []string, contents [][]byte, docs []map[string]any) {
	for i := range n {
		name, typ := fmt.Sprintf("sənədlər/doc-%03d.txt", i), "SHA256"
		if i == 1 {
			name, typ = "Müqavilə 1.pdf", "SHA512"
		}
		content := []byte(fmt.Sprintf("document %d of %d\n", i, n))
		names, contents = append(names, name), append(contents, content)
		docs = append(docs, map[string]any{"name": name, "mimeType": "text/plain", "digestType": typ,
			"digest": base64.StdEncoding.EncodeToString(digestOf(typ, content))})
	}
	return names, contents, docs
}

// checkContainer packs the returned parts with the documents (ades.Pack),
// reads the ZIP back with archive/zip as an outside reader would, checks
// the mimetype entry and every manifest digest, and verifies the CMS over
// the manifest with openssl.
func checkContainer(t *testing.T, root string, manifest, p7s []byte, names []string, contents [][]byte, signingTime string) {
	t.Helper()
	parts := make([]ades.Part, len(names))
	for i := range names {
		parts[i] = ades.Part{Name: names[i], Content: bytes.NewReader(contents[i])}
	}
	var buf bytes.Buffer
	if err := ades.Pack(&buf, manifest, p7s, parts); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if f := zr.File[0]; f.Name != "mimetype" || f.Method != zip.Store || string(readZip(t, f)) != ades.MIMETypeASiCE ||
		string(buf.Bytes()[38:38+len(ades.MIMETypeASiCE)]) != ades.MIMETypeASiCE {
		t.Fatalf("first entry %q (method %d)", f.Name, f.Method)
	}
	entries := map[string][]byte{}
	for _, f := range zr.File[1:] {
		entries[f.Name] = readZip(t, f)
	}
	listed, err := ades.ParseManifest(entries[ades.ManifestName])
	if err != nil || len(listed) != len(names) || len(entries) != len(names)+2 {
		t.Fatalf("manifest lists %d documents (%v), container holds %d entries", len(listed), err, len(entries))
	}
	for i, d := range listed {
		got, err := ades.Sum(d.DigestAlg, entries[d.Name])
		if err != nil || d.Name != names[i] || !bytes.Equal(got, d.Digest) {
			t.Fatalf("document %q: digest %x, manifest %x", d.Name, got, d.Digest)
		}
	}
	mdigest, _ := ades.Sum(crypto.SHA256, entries[ades.ManifestName])
	printed := cmsVerify(t, root, entries[ades.SignatureName], entries[ades.ManifestName])
	checkAttributes(t, printed, mdigest, signingTime)
}

func readZip(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

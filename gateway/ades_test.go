package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway/ades"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// adesWorld is a subscriber whose certificates a test CA issued (slot 02
// personal ECDSA, slot 03 business Ed25519) and a server over memStore
// that knows the CA, with the card's side played by the test: sealed
// commands are captured, replies are handed to the correlator.
type adesWorld struct {
	t    *testing.T
	ca   *testca.CA
	key  *ecdsa.PrivateKey
	st   *memStore
	s    *Server
	cmd  *applet.Command // the last command sealed
	open applet.MO       // what the next MO opens to
}

func newAdESWorld(t *testing.T, mod ...func(*ServerOptions)) *adesWorld {
	ca, err := testca.New(testca.Options{Seed: []byte("ades-gateway")})
	if err != nil {
		t.Fatal(err)
	}
	w := &adesWorld{t: t, ca: ca}
	w.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	holder := testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "1ABC234", Organization: "Demo MMC", VOEN: "1234567891"}
	u := testUser{keys: map[byte]*ecdsa.PrivateKey{2: w.key}}
	u.sub = sessions.Subscriber{Phone: "+994501234567", ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell"}
	for _, c := range []struct {
		ref  byte
		kind testca.Kind
		pub  crypto.PublicKey
	}{{2, testca.Personal, &w.key.PublicKey}, {3, testca.Business, edKey.Public()}} {
		cert, err := ca.Issue(testca.Request{Kind: c.kind, Usage: testca.Sign, Holder: holder, PublicKey: c.pub})
		if err != nil {
			t.Fatal(err)
		}
		sc := sessions.Certificate{Type: c.kind.String(), KeyRef: c.ref, DER: cert.Raw,
			NotBefore: testNow.AddDate(-1, 0, 0), NotAfter: testNow.AddDate(2, 0, 0), Status: sessions.StatusActive}
		if c.kind == testca.Business {
			sc.TaxID = holder.VOEN
		}
		u.sub.Certificates = append(u.sub.Certificates, sc)
	}
	w.st = newMemStore(u)
	codec := &fakeOTA{
		SealFn: func(_ string, _ uint64, cmd *applet.Command, _ byte) ([][]byte, error) {
			w.cmd = cmd
			return [][]byte{{1}}, nil
		},
		OpenFn: func(string, []byte) (applet.MO, error) { return w.open, nil },
	}
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m1"}, nil }}
	opts := append([]func(*ServerOptions){func(o *ServerOptions) {
		o.AdES.CACertificates = []*x509.Certificate{ca.Certificate()}
	}}, mod...)
	w.s, _ = newTestServer(t, &w.st.fakeStore, snd, codec, opts...)
	return w
}

// start posts a signature request with extra JSON members.
func (w *adesWorld) start(extra string) (*http.Response, map[string]any) {
	w.t.Helper()
	return call(w.t, w.s.Handler(), "POST", "/v1/signatures", key1, body("+994501234567", "123456", `,"certificate":{"type":"personal"}`+extra))
}

// reply has the card answer OK with an ECDSA signature of hash.
func (w *adesWorld) reply(sess sessions.Session, hash []byte) {
	w.t.Helper()
	w.open = applet.MO{Kind: applet.MOReply, Counter: uint64(time.Now().UnixNano()) & 0xFFFFFFFF,
		Response: applet.Response{TxnID: sess.TxnID, Status: applet.StatusOK, PINTriesLeft: 3, SigAlg: applet.SigECDSAP256, Signature: signECDSA(w.t, w.key, hash)}}
	if err := w.s.corr.HandleMO(w.t.Context(), smpp.MO{Source: "994501234567", DataCoding: 0xF6, UserData: []byte{2, 0x70, 0}}); err != nil {
		w.t.Fatal(err)
	}
}

// answer reads the session as the portal does.
func (w *adesWorld) answer(id string) map[string]any {
	w.t.Helper()
	resp, m := call(w.t, w.s.Handler(), "GET", "/v1/sessions/"+id, key1, "")
	if resp.StatusCode != 200 {
		w.t.Fatalf("GET: %d %v", resp.StatusCode, m)
	}
	return m
}

func b64(t testing.TB, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("not base64: %v", v)
	}
	return b
}

// A CAdES session: the card gets the hash of the signed attributes (not
// the portal's digest) and the code derives from it; the answer carries a
// container that verifies against the portal's digest, the DER value and
// the signing time.
func TestCAdESSession(t *testing.T) {
	w := newAdESWorld(t)
	resp, m := w.start(`,"format":"CAdES","displayText":"Müqavilə"`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %d %v", resp.StatusCode, m)
	}
	sess := w.st.only(t)
	st, err := decodeAdESState(sess.AdES)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := base64.StdEncoding.DecodeString(validHash)
	attrsHash := sha256.Sum256(st.signedAttrs)
	switch {
	case !bytes.Equal(w.cmd.Hash, attrsHash[:]) || !bytes.Equal(sess.Hash, attrsHash[:]) || bytes.Equal(w.cmd.Hash, doc):
		t.Fatalf("card got %x, want the signed attributes' hash %x", w.cmd.Hash, attrsHash)
	case m["verificationCode"] != applet.FormatVerificationCode(applet.VerificationCode(attrsHash[:])) || w.cmd.VerificationCode != applet.VerificationCode(attrsHash[:]):
		t.Fatalf("verification code %v does not derive from the hash the card signs", m["verificationCode"])
	case w.cmd.DisplayText != "e-taxes: Müqavilə" || w.cmd.HashAlg != applet.HashSHA256:
		t.Fatalf("command %+v", w.cmd)
	case st.kind != stateCAdES || !bytes.Equal(st.digest, doc) || !st.signingTime.Equal(testNow) || len(st.chain) != 1:
		t.Fatalf("state %+v", st)
	}
	w.reply(sess, w.cmd.Hash)
	got := w.answer(sess.ID)
	if got["result"] != sessions.ResultOK {
		t.Fatalf("result %v", got)
	}
	sig := got["signature"].(map[string]any)
	p7s := b64(t, sig["cades"])
	t.Logf("stored state %d octets (signed attributes %d), container %d octets", len(sess.AdES), len(st.signedAttrs), len(p7s))
	signer, _ := x509.ParseCertificate(w.st.user.sub.Certificates[0].DER)
	v, err := ades.Verify(p7s, ades.Expected{DigestAlg: crypto.SHA256, Digest: doc, Signer: signer})
	if err != nil || !v.SigningTime.Equal(testNow) {
		t.Fatalf("container: %v %+v", err, v)
	}
	wantDER, _ := ades.RawToDER(b64(t, sig["value"]))
	if !bytes.Equal(b64(t, sig["der"]), wantDER) || sig["format"] != formatCAdES || sig["signingTime"] != testNow.Format(time.RFC3339) || sig["asicManifest"] != nil {
		t.Fatalf("signature %v", sig)
	}
}

// An ASiC-E session signs the manifest of the documents with one PIN2;
// the phone's text says how many, written by the gateway.
func TestASiCESession(t *testing.T) {
	w := newAdESWorld(t)
	docs := []ades.Document{
		{Name: "Müqavilə 1.pdf", MIMEType: "application/pdf", DigestAlg: crypto.SHA256, Digest: bytes.Repeat([]byte{1}, 32)},
		{Name: "əlavə/cədvəl.xlsx", MIMEType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", DigestAlg: crypto.SHA512, Digest: bytes.Repeat([]byte{2}, 64)},
	}
	var list []string
	for _, d := range docs {
		alg := map[crypto.Hash]string{crypto.SHA256: "SHA256", crypto.SHA512: "SHA512"}[d.DigestAlg]
		list = append(list, fmt.Sprintf(`{"name":%q,"mimeType":%q,"digest":%q,"digestType":%q}`, d.Name, d.MIMEType, base64.StdEncoding.EncodeToString(d.Digest), alg))
	}
	reqBody := `{"phoneNumber":"+994501234567","userId":"123456","certificate":{"type":"personal"},"format":"ASiC-E","documents":[` + strings.Join(list, ",") + `]}`
	resp, m := call(t, w.s.Handler(), "POST", "/v1/signatures", key1, reqBody)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %d %v", resp.StatusCode, m)
	}
	if w.cmd.DisplayText != "e-taxes: sign 2 documents" {
		t.Fatalf("display text %q", w.cmd.DisplayText)
	}
	sess := w.st.only(t)
	w.reply(sess, w.cmd.Hash)
	sig := w.answer(sess.ID)["signature"].(map[string]any)
	manifest := b64(t, sig["asicManifest"])
	if parsed, err := ades.ParseManifest(manifest); err != nil || !reflect.DeepEqual(parsed, docs) {
		t.Fatalf("manifest lists %+v (%v), want %+v", parsed, err, docs)
	}
	mdigest := sha256.Sum256(manifest)
	signer, _ := x509.ParseCertificate(w.st.user.sub.Certificates[0].DER)
	if _, err := ades.Verify(b64(t, sig["cades"]), ades.Expected{DigestAlg: crypto.SHA256, Digest: mdigest[:], Signer: signer}); err != nil {
		t.Fatalf("signature over the manifest: %v", err)
	}
	if sig["format"] != formatASiCE {
		t.Fatalf("format %v", sig["format"])
	}
}

// A container that does not verify is never handed out: the session ends
// SIGNATURE_INVALID and the answer has no signature.
func TestContainerCheckedOnTheWayOut(t *testing.T) {
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		mess func(w *adesWorld, id string) // before the reply
		hash func(w *adesWorld) []byte     // what the card signs
	}{
		{"card signed the portal's digest", nil, func(*adesWorld) []byte {
			d, _ := base64.StdEncoding.DecodeString(validHash)
			return d
		}},
		{"stored document digest differs from the signed message digest", func(w *adesWorld, id string) {
			s := w.st.sessions[id]
			st, _ := decodeAdESState(s.AdES)
			st.digest = bytes.Repeat([]byte{9}, 32)
			s.AdES = st.encode()
			w.st.sessions[id] = s
		}, nil},
		{"certificate replaced in the registry", func(w *adesWorld, _ string) {
			cert, _ := w.ca.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign,
				Holder: testca.Holder{GivenName: "A", Surname: "B", FIN: "7ZZZ777"}, PublicKey: &other.PublicKey})
			w.st.user.sub.Certificates[0].DER = cert.Raw
		}, nil},
		{"stored state unreadable", func(w *adesWorld, id string) {
			s := w.st.sessions[id]
			s.AdES = s.AdES[:len(s.AdES)-1]
			w.st.sessions[id] = s
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newAdESWorld(t)
			if resp, m := w.start(`,"format":"CAdES"`); resp.StatusCode != http.StatusCreated {
				t.Fatalf("start: %d %v", resp.StatusCode, m)
			}
			sess := w.st.only(t)
			if tt.mess != nil {
				w.st.mu.Lock()
				tt.mess(w, sess.ID)
				w.st.mu.Unlock()
			}
			hash := w.cmd.Hash
			if tt.hash != nil {
				hash = tt.hash(w)
			}
			w.reply(sess, hash)
			got := w.answer(sess.ID)
			if got["result"] != sessions.ResultSignatureInvalid || got["signature"] != nil {
				t.Fatalf("answer %v", got)
			}
		})
	}
}

// CAdES and ASiC-E need an ECDSA certificate and a known chain; a raw
// signature needs neither.
func TestFormatRefusedAtStart(t *testing.T) {
	docs := `,"documents":[{"name":"a.pdf","mimeType":"application/pdf","digest":"` + validHash + `","digestType":"SHA256"}]`
	business := `,"certificate":{"type":"business"}`
	t.Run("Ed25519", func(t *testing.T) {
		w := newAdESWorld(t)
		for _, b := range []string{
			body("+994501234567", "123456", business+`,"format":"CAdES"`),
			`{"phoneNumber":"+994501234567","userId":"123456","format":"ASiC-E"` + business + docs + `}`,
		} {
			resp, m := call(t, w.s.Handler(), "POST", "/v1/signatures", key1, b)
			if resp.StatusCode != http.StatusUnprocessableEntity || m["code"] != CodeFormatNotSupported || !strings.Contains(m["detail"].(string), "ECDSA P-256") {
				t.Fatalf("%d %v", resp.StatusCode, m)
			}
		}
		if len(w.st.sessions) != 0 {
			t.Fatal("a refused start left a session")
		}
		if resp, m := call(t, w.s.Handler(), "POST", "/v1/signatures", key1, body("+994501234567", "123456", business)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("raw Ed25519 signature refused: %d %v", resp.StatusCode, m)
		}
	})
	t.Run("no chain", func(t *testing.T) {
		w := newAdESWorld(t, func(o *ServerOptions) { o.AdES.CACertificates = nil })
		resp, m := w.start(`,"format":"CAdES"`)
		if resp.StatusCode != http.StatusUnprocessableEntity || m["code"] != CodeChainUnavailable {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
	})
}

// Every malformed container request is refused before anything starts,
// naming its field.
func TestFormatBadInput(t *testing.T) {
	w := newAdESWorld(t, func(o *ServerOptions) { o.AdES.MaxDocuments = 3 })
	doc := func(name, mime, digest, typ string) string {
		return fmt.Sprintf(`{"name":%q,"mimeType":%q,"digest":%q,"digestType":%q}`, name, mime, digest, typ)
	}
	ok := func(name string) string { return doc(name, "application/pdf", validHash, "SHA256") }
	asic := func(docs ...string) string {
		return `{"phoneNumber":"+994501234567","userId":"123456","certificate":{"type":"personal"},"format":"ASiC-E","documents":[` + strings.Join(docs, ",") + `]}`
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	tests := []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"unknown format", "/v1/signatures", body("+994501234567", "123456", `,"certificate":{"type":"personal"},"format":"XAdES"`), 400, CodeInvalidRequest, "format"},
		{"format in another case", "/v1/signatures", body("+994501234567", "123456", `,"certificate":{"type":"personal"},"format":"cades"`), 400, CodeInvalidRequest, "format"},
		{"CAdES on a login", "/v1/authentications", body("+994501234567", "123456", `,"format":"CAdES"`), 400, CodeInvalidRequest, "format"},
		{"documents on a login", "/v1/authentications", body("+994501234567", "123456", `,"documents":[]`), 400, CodeInvalidRequest, "documents"},
		{"documents without ASiC-E", "/v1/signatures", body("+994501234567", "123456", `,"certificate":{"type":"personal"},"format":"CAdES","documents":[`+ok("a")+`]`), 400, CodeInvalidRequest, "documents"},
		{"hash with ASiC-E", "/v1/signatures", strings.Replace(asic(ok("a")), `"format"`, `"hash":"`+validHash+`","format"`, 1), 400, CodeInvalidRequest, "hash"},
		{"display text with ASiC-E", "/v1/signatures", strings.Replace(asic(ok("a")), `"format"`, `"displayText":"x","format"`, 1), 400, CodeInvalidRequest, "displayText"},
		{"no documents", "/v1/signatures", asic(), 400, CodeInvalidRequest, "documents"},
		{"too many documents", "/v1/signatures", asic(ok("a"), ok("b"), ok("c"), ok("d")), 400, CodeTooManyDocuments, "documents"},
		{"digest of the wrong length", "/v1/signatures", asic(ok("a"), doc("b", "text/plain", short, "SHA256")), 400, CodeInvalidRequest, "documents[1].digest"},
		{"SHA-256 digest named SHA-384", "/v1/signatures", asic(doc("a", "text/plain", validHash, "SHA384")), 400, CodeInvalidRequest, "documents[0].digest"},
		{"unknown digest type", "/v1/signatures", asic(doc("a", "text/plain", validHash, "MD5")), 400, CodeInvalidRequest, "documents[0].digestType"},
		{"duplicate name", "/v1/signatures", asic(ok("A.pdf"), ok("a.PDF")), 400, CodeInvalidRequest, "documents[1].name"},
		{"path traversal", "/v1/signatures", asic(ok("../etc/passwd")), 400, CodeInvalidRequest, "documents[0].name"},
		{"reserved name", "/v1/signatures", asic(ok("META-INF/x.xml")), 400, CodeInvalidRequest, "documents[0].name"},
		{"bidirectional control", "/v1/signatures", asic(ok("fdp\u202e.exe")), 400, CodeInvalidRequest, "documents[0].name"},
		{"MIME type with parameters", "/v1/signatures", asic(ok("a"), doc("b", "text/plain; charset=utf-8", validHash, "SHA256")), 400, CodeInvalidRequest, "documents[1].mimeType"},
		{"unknown document field", "/v1/signatures", asic(`{"name":"a","mimeType":"a/b","digest":"` + validHash + `","digestType":"SHA256","size":3}`), 400, CodeInvalidRequest, "size"},
		{"body above the documents' allowance", "/v1/signatures", asic(ok(strings.Repeat("x", int(bodyLimit(3))))), 413, CodeRequestTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := call(t, w.s.Handler(), "POST", tt.path, key1, tt.body)
			if resp.StatusCode != tt.status || m["code"] != tt.code || (tt.field != "" && m["field"] != tt.field) {
				t.Fatalf("%d %v, want %d %s on %q", resp.StatusCode, m, tt.status, tt.code, tt.field)
			}
		})
	}
	if len(w.st.sessions) != 0 {
		t.Fatal("a refused start left a session")
	}
}

// The phone's text for an ASiC-E signature shortens when the portal's
// name leaves no room, and is refused when even that does not fit.
func TestDocumentsText(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"e-taxes", 1, "e-taxes: sign 1 document"},
		{"e-taxes", 100, "e-taxes: sign 100 documents"},
		{strings.Repeat("n", 40), 100, strings.Repeat("n", 40) + ": sign 100 documents"}, // 60 characters
		{strings.Repeat("n", 45), 100, strings.Repeat("n", 45) + ": 100 documents"},
		{strings.Repeat("n", 50), 100, ""},
		{"Vergilər", 3, "Vergilər: sign 3 documents"}, // UCS-2: at most 30 characters
		{"Vergilər Nazirliyi", 1, "Vergilər Nazirliyi: 1 document"},
	} {
		got, err := documentsText(tc.name, tc.n)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("documentsText(%q, %d) = %q, %v; want %q", tc.name, tc.n, got, err, tc.want)
		}
	}
}

// TestAdESStateGolden pins the stored layout of docs/data-model.md §4
// (field ad) octet for octet.
func TestAdESStateGolden(t *testing.T) {
	st := &adesState{kind: stateASiCE, digestAlg: applet.HashSHA256, signingTime: time.Unix(0x6a2b3c4d, 0).UTC(),
		signer: [32]byte{0xAA}, chain: [][32]byte{{0xBB}, {0xCC}}, digest: bytes.Repeat([]byte{0x11}, 32),
		signedAttrs: []byte{0x31, 0x00}, manifest: []byte("<m/>")}
	want := "01" + "02" + "01" + "000000006a2b3c4d" + "aa" + strings.Repeat("00", 31) +
		"02" + "bb" + strings.Repeat("00", 31) + "cc" + strings.Repeat("00", 31) +
		"20" + strings.Repeat("11", 32) + "0002" + "3100" + "00000004" + hex.EncodeToString([]byte("<m/>"))
	got := st.encode()
	if hex.EncodeToString(got) != want {
		t.Fatalf("encoded\n%x\nwant\n%s", got, want)
	}
	back, err := decodeAdESState(got)
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	for _, bad := range []func([]byte) []byte{
		func(b []byte) []byte { b[0] = 2; return b },                            // version
		func(b []byte) []byte { b[1] = 3; return b },                            // kind
		func(b []byte) []byte { b[2] = 4; return b },                            // digest algorithm
		func(b []byte) []byte { return b[:len(b)-1] },                           // truncated
		func(b []byte) []byte { return append(b, 0) },                           // trailing
		func(b []byte) []byte { b[1] = stateCAdES; return b },                   // CAdES with a manifest
		func(b []byte) []byte { b[43] = 0; return b },                           // no chain
		func(b []byte) []byte { b[43+1+64] = 48; return b },                     // digest length not SHA-256's
		func(b []byte) []byte { clear(b[3:11]); return b },                      // signing time zero
		func(b []byte) []byte { b[43+1+64+33], b[43+1+64+34] = 0, 0; return b }, // no signed attributes
	} {
		if _, err := decodeAdESState(bad(bytes.Clone(got))); err == nil {
			t.Fatalf("accepted %x", bad(bytes.Clone(got)))
		}
	}
}

// FuzzDecodeAdESState: decoding never panics, and what decodes encodes to
// the same octets.
func FuzzDecodeAdESState(f *testing.F) {
	st := &adesState{kind: stateCAdES, digestAlg: applet.HashSHA384, signingTime: testNow, chain: [][32]byte{{1}},
		digest: make([]byte, 48), signedAttrs: []byte{0x31, 0x03, 0x02, 0x01, 0x01}}
	f.Add(st.encode())
	st.kind, st.manifest = stateASiCE, []byte("<x/>")
	f.Add(st.encode())
	f.Add([]byte{1, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeAdESState(b)
		if err != nil {
			return
		}
		if again := st.encode(); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, was %x", again, b)
		}
	})
}

// FuzzDocuments fuzzes the documents list of an ASiC-E request: checking
// never panics, and a list it accepts makes a manifest that reads back
// as the same documents.
func FuzzDocuments(f *testing.F) {
	f.Add([]byte(`[{"name":"a.pdf","mimeType":"application/pdf","digest":"` + validHash + `","digestType":"SHA256"}]`))
	f.Add([]byte(`[{"name":"Müqavilə 1.pdf","mimeType":"application/pdf","digest":"` + validHash + `","digestType":"SHA256"},` +
		`{"name":"x/y z%.txt","mimeType":"text/plain","digest":"` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `","digestType":"SHA512"}]`))
	f.Add([]byte(`[{"name":"A","mimeType":"a/b","digest":"` + validHash + `","digestType":"SHA256"},{"name":"a","mimeType":"a/b","digest":"` + validHash + `","digestType":"SHA256"}]`))
	f.Add([]byte(`[{"name":"../x","mimeType":"a/b;c=d","digest":"AAAA","digestType":"SHA384"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var docs []documentJSON
		if json.Unmarshal(data, &docs) != nil || len(docs) > ades.MaxDocuments {
			return
		}
		list, err := parseDocuments(docs)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error", err)
			}
			return
		}
		manifest, err := ades.Manifest(list)
		if err != nil {
			if _, ok := manifestError(list, err).(*Error); !ok {
				t.Fatal("manifest error not mapped")
			}
			return
		}
		back, err := ades.ParseManifest(manifest)
		if err != nil || !reflect.DeepEqual(back, list) {
			t.Fatalf("manifest of %+v reads back as %+v (%v)", list, back, err)
		}
	})
}

// NewCAChains links a certificate to its issuers up to the root and
// refuses CA sets that do not lead to a root.
func TestCAChains(t *testing.T) {
	root, err := testca.New(testca.Options{Seed: []byte("root")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := root.NewSubordinate(testca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	holder := testca.Holder{GivenName: "A", Surname: "B", FIN: "1ABC234"}
	leaf, err := sub.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign, Holder: holder, PublicKey: &k.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	chains, err := NewCAChains([]*x509.Certificate{root.Certificate(), sub.Certificate()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := chains.ChainFor(leaf)
	if err != nil || len(got) != 2 || got[0] != sub.Certificate() || got[1] != root.Certificate() {
		t.Fatalf("chain %v, %v", got, err)
	}
	if _, err := NewCAChains([]*x509.Certificate{sub.Certificate()}); err == nil {
		t.Fatal("an intermediate without its root was accepted")
	}
	if _, err := NewCAChains([]*x509.Certificate{root.Certificate(), leaf}); err == nil {
		t.Fatal("a leaf certificate was accepted as a CA")
	}
	alone, _ := NewCAChains([]*x509.Certificate{root.Certificate()})
	if _, err := alone.ChainFor(leaf); err == nil {
		t.Fatal("a chain was found without the issuing CA")
	}
	none, _ := NewCAChains(nil)
	if _, err := none.ChainFor(leaf); err == nil {
		t.Fatal("a chain was found with no CA at all")
	}
}

// The configuration's ades section: the CA files are read as PEM, and a
// file that is missing or holds no certificate is an error naming it.
func TestConfigAdES(t *testing.T) {
	ca, err := testca.New(testca.Options{Seed: []byte("config")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, empty := dir+"/root.pem", dir+"/empty.pem"
	_ = os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}), 0o600)
	_ = os.WriteFile(empty, []byte("no certificate here\n"), 0o600)
	certs, err := LoadCertificates([]string{good})
	if err != nil || len(certs) != 1 || !certs[0].Equal(ca.Certificate()) {
		t.Fatalf("LoadCertificates = %v, %v", certs, err)
	}
	for _, f := range []string{empty, dir + "/missing.pem"} {
		if _, err := LoadCertificates([]string{f}); err == nil || !strings.Contains(err.Error(), "ades.caFiles") {
			t.Fatalf("%s: %v", f, err)
		}
	}
	c, err := ParseConfig(strings.NewReader("ades:\n  maxDocuments: 7\n  caFiles: [" + good + "]\n"))
	if err != nil || c.AdES.MaxDocuments != 7 || len(c.AdES.CAFiles) != 1 {
		t.Fatalf("%+v %v", c.AdES, err)
	}
	o := ServerOptions{AdES: AdESOptions{MaxDocuments: ades.MaxDocuments + 1}}
	if err := o.AdES.validate(); err == nil {
		t.Fatal("MaxDocuments above the package's bound accepted")
	}
}

// BenchmarkAdESSession measures the gateway's own work for a CAdES
// session beyond a plain one: prepare at the start (chain, signed
// attributes, state encoding) and seal at the reply (state decoding,
// certificate and chain checks, Assemble, Verify). The signing time is
// fixed, so the card's signature is made once.
func BenchmarkAdESSession(b *testing.B) {
	ca, err := testca.New(testca.Options{Seed: []byte("bench")})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := ca.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign,
		Holder: testca.Holder{GivenName: "A", Surname: "B", FIN: "1ABC234"}, PublicKey: &key.PublicKey})
	if err != nil {
		b.Fatal(err)
	}
	chains, err := NewCAChains([]*x509.Certificate{ca.Certificate()})
	if err != nil {
		b.Fatal(err)
	}
	a := &adesSigner{chains: chains, maxDocuments: defaultMaxDocuments}
	cert := sessions.Certificate{KeyRef: 2, DER: leaf.Raw}
	sub := sessions.Subscriber{Certificates: []sessions.Certificate{cert}}
	doc := sha256.Sum256([]byte("bench"))
	in := &startInput{Format: formatCAdES, HashAlg: applet.HashSHA256, Hash: doc[:]}
	state, hash, err := a.prepare(in, cert, testNow)
	if err != nil {
		b.Fatal(err)
	}
	resp := applet.Response{Status: applet.StatusOK, SigAlg: applet.SigECDSAP256, Signature: signECDSA(b, key, hash)}
	sess := sessions.Session{KeyRef: 2, AdES: state}
	b.Run("prepare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := a.prepare(in, cert, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.seal(sub, sess, resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

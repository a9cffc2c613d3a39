package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI answers the portal API the way the gateway does, with a key of
// its own that really signs, and knobs for each way a smoke test fails.
type fakeAPI struct {
	key       *ecdsa.PrivateKey
	certPEM   string
	startCode int    // 0: 201
	result    string // "": OK
	badSig    bool   // sign something else than the hash
	mu        sync.Mutex
	hashes    map[string][]byte
	auth      []string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Leyla Məmmədova"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeAPI{key: key, certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), hashes: map[string][]byte{}}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost {
		if f.startCode != 0 {
			w.WriteHeader(f.startCode)
			_, _ = w.Write([]byte(`{"code":"UNAUTHORIZED","detail":"send a valid API key"}`))
			return
		}
		var body struct{ Hash string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		h, _ := base64.StdEncoding.DecodeString(body.Hash)
		id := "s" + string(rune('0'+len(f.hashes)))
		f.hashes[id] = h
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"sessionId": id, "verificationCode": "1234"})
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/v1/sessions/")
	h := f.hashes[id]
	if f.badSig {
		h = make([]byte, 32)
	}
	rr, ss, _ := ecdsa.Sign(rand.Reader, f.key, h)
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	result := f.result
	if result == "" {
		result = "OK"
	}
	now := time.Now().UTC()
	_ = json.NewEncoder(w).Encode(map[string]any{"sessionId": id, "state": "COMPLETE", "result": result,
		"signature":   map[string]string{"algorithm": "ECDSA_P256", "value": base64.StdEncoding.EncodeToString(sig)},
		"certificate": map[string]string{"type": "personal", "subject": "CN=Leyla Məmmədova", "pem": f.certPEM},
		"stages":      map[string]any{"accepted": now.Add(-3 * time.Second), "submitted": now.Add(-2900 * time.Millisecond), "completed": now}})
}

// TestSmokeExitStatus: each way a smoke run can end has its own exit
// status, and the signature really is verified.
func TestSmokeExitStatus(t *testing.T) {
	t.Setenv("IMZAGATE_API_KEY", "env-key")
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + closed.Addr().String()
	closed.Close()
	tests := []struct {
		name  string
		setup func(f *fakeAPI)
		args  []string
		code  int
		out   string // in stdout
		err   string // in stderr
	}{
		{"login and signature verified", nil, []string{"--sign"}, smokeOK, "smoke: OK (login and signature verified)", ""},
		{"login only", nil, nil, smokeOK, "login signature  ECDSA_P256 verified against the personal certificate", ""},
		{"start refused", func(f *fakeAPI) { f.startCode = 401 }, nil, smokeRefused, "", "401 UNAUTHORIZED: send a valid API key. The API key is refused"},
		{"result not OK", func(f *fakeAPI) { f.result = "TIMEOUT" }, nil, smokeNotOK, "login completed  +3s  result TIMEOUT", "is smscsim running with --sims"},
		{"signature invalid", func(f *fakeAPI) { f.badSig = true }, nil, smokeBadSignature, "", "does not verify against the returned certificate"},
		{"unreachable", nil, []string{"--url", deadURL}, smokeUnreachable, "", "cannot be reached"},
		{"usage", nil, []string{"--phone", ""}, smokeUsage, "", "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			args := append([]string{"smoke", "--url", srv.URL, "--phone", "+994501000000", "--user-id", "437234"}, tt.args...)
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Fatalf("stdout %q (want %q), stderr %q (want %q)", out.String(), tt.out, errb.String(), tt.err)
			}
			for _, a := range f.auth {
				if a != "Bearer env-key" {
					t.Fatalf("Authorization %q, want the key from IMZAGATE_API_KEY", a)
				}
			}
		})
	}
}

// TestSmokeKeySources: --api-key works with a warning, since command lines
// are visible to other users; without any key the run does not start.
func TestSmokeKeySources(t *testing.T) {
	f := newFakeAPI(t)
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("IMZAGATE_API_KEY", "")
	var out, errb bytes.Buffer
	base := []string{"smoke", "--url", srv.URL, "--phone", "+994501000000", "--user-id", "437234"}
	if code := run(base, &out, &errb); code != smokeUsage || !strings.Contains(errb.String(), "set IMZAGATE_API_KEY") {
		t.Fatalf("no key: exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run(append(base, "--api-key", "flag-key"), &out, &errb); code != smokeOK || !strings.Contains(errb.String(), "visible to other users") {
		t.Fatalf("flag key: exit %d, %s", code, errb.String())
	}
	if got := f.auth[len(f.auth)-1]; got != "Bearer flag-key" {
		t.Fatalf("Authorization %q", got)
	}
}

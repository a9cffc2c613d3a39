package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// adminGateway starts a gateway with the audit trail and the admin API on
// a real redis-server; it returns the admin URL and the audit public key.
func adminGateway(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	sm := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "secret"}})
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{srv.Addr}, ""))
	t.Cleanup(func() { rdb.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	gw, err := gateway.Start(t.Context(), gateway.Options{
		// The registry's word on certificates is what these tests change.
		Trust:    trust.Options{Mode: trust.ModeProvisionedOnly},
		HTTPAddr: "127.0.0.1:0", AdminAddr: "off", Redis: rdb, Pepper: []byte(testPepper),
		Operators: []smpp.Operator{{Name: "azercell", Prefixes: []string{"99450"},
			Binds: []smpp.BindConfig{{Addr: sm.Addr(), SystemID: "gw", Password: "secret"}}}},
		Server: gateway.ServerOptions{Portals: []gateway.Portal{{ID: "p1", APIKeySHA256: gateway.HashAPIKey("k")}}},
		Audit:  gateway.AuditOptions{SigningKey: priv, PhoneKey: bytes.Repeat([]byte{3}, 32), Instance: "cli", SyncReplicas: -1},
		AdminAPI: gateway.AdminAPIOptions{Addr: "127.0.0.1:0", Principals: []gateway.AdminPrincipal{
			{ID: "ca1", Roles: []string{gateway.RoleCA}, TokenSHA256: gateway.HashAPIKey("tok-ca")},
			{ID: "desk1", Roles: []string{gateway.RoleSupport}, TokenSHA256: gateway.HashAPIKey("tok-support")},
			{ID: "aud1", Roles: []string{gateway.RoleAuditor}, TokenSHA256: gateway.HashAPIKey("tok-auditor")},
		}},
		ShutdownTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return "http://" + gw.AdminAPIAddr(), pub
}

// writeCert writes a self-signed certificate as PEM and returns its path
// and serial (hex).
func writeCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x4a5b), Subject: pkix.Name{CommonName: "Test Citizen"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(2, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "auth.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, "4a5b"
}

// cli runs `imzagate admin args` with env and stdin.
func cli(env map[string]string, stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := adminMain(args, &out, &errb, adminEnv{stdin: strings.NewReader(stdin), getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

// TestAdminCLI drives `imzagate admin` as an operator would, through every
// exit code.
func TestAdminCLI(t *testing.T) {
	url, pub := adminGateway(t)
	dir := t.TempDir()
	certFile, serial := writeCert(t, dir)
	as := func(tok string) map[string]string {
		return map[string]string{envAdminURL: url, envAdminToken: tok}
	}
	ca, support, auditor := as("tok-ca"), as("tok-support"), as("tok-auditor")
	const phone = "+994501112233"

	steps := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		code  int
		out   string // in stdout (or stderr when the code is not 0)
	}{
		{"no command", ca, "", nil, exitUsage, "usage: imzagate admin"},
		{"unknown command", ca, "", []string{"subscriber", "delete", phone}, exitUsage, `unknown command "subscriber delete"`},
		{"missing argument", ca, "", []string{"subscriber", "get"}, exitUsage, "want PHONE"},
		{"no url", map[string]string{}, "", []string{"whoami"}, exitUsage, "IMZAGATE_ADMIN_URL is not set"},
		{"wrong token", as("nope"), "", []string{"whoami"}, exitAuth, "UNAUTHORIZED (401)"},
		{"whoami", ca, "", []string{"whoami"}, exitOK, "ca1"},
		{"register", ca, "654321\n", []string{"subscriber", "register", "--phone", phone, "--iccid", "8999401234567890123",
			"--operator", "azercell", "--user-id-stdin", "--cert", certFile + ",authentication"}, exitOK, "+99450***2233"},
		{"register again", ca, "", []string{"subscriber", "register", "--phone", phone, "--iccid", "8999401234567890123", "--operator", "azercell"}, exitConflict, "SUBSCRIBER_EXISTS"},
		{"register as support", support, "", []string{"subscriber", "register", "--phone", "+994501112234", "--iccid", "8999401234567890123", "--operator", "azercell"}, exitForbidden, "ADMIN_FORBIDDEN"},
		{"bad iccid", support, "", []string{"subscriber", "swap-sim", phone, "--iccid", "123"}, exitRejected, "iccid: the ICCID is 19 or 20 digits"},
		{"get", support, "", []string{"subscriber", "get", phone}, exitOK, "authentication"},
		{"get json", support, "", []string{"subscriber", "get", phone, "--json"}, exitOK, `"state":"active"`},
		{"unknown phone", support, "", []string{"subscriber", "get", "+994509999999"}, exitNotFound, "SUBSCRIBER_NOT_FOUND"},
		{"suspend", support, "", []string{"subscriber", "suspend", phone, "--reason", "lost SIM"}, exitOK, "suspended"},
		{"suspend again", support, "", []string{"subscriber", "suspend", phone}, exitConflict, "CONFLICT"},
		{"resume", support, "", []string{"subscriber", "resume", phone}, exitOK, "active"},
		{"user id reset", support, "", []string{"userid", "reset", phone}, exitOK, "userId:"},
		{"lockout reset", support, "", []string{"lockout", "reset", phone}, exitOK, "failuresCleared:"},
		{"swap sim", support, "", []string{"subscriber", "swap-sim", phone, "--iccid", "8999401234567890136"}, exitOK, "0136"},
		{"cert list", ca, "", []string{"cert", "list", phone}, exitOK, serial},
		{"cert suspend", ca, "", []string{"cert", "suspend", phone, serial, "--reason", "certificateHold"}, exitOK, "suspended"},
		{"cert resume", ca, "", []string{"cert", "resume", phone, serial}, exitOK, "active"},
		{"cert revoke", ca, "", []string{"cert", "revoke", phone, serial, "--reason", "keyCompromise"}, exitOK, "revoked"},
		{"cert revoke again", ca, "", []string{"cert", "resume", phone, serial}, exitConflict, "final"},
		{"cert add replace", ca, "", []string{"cert", "add", phone, "--file", certFile, "--type", "authentication"}, exitConflict, "already registered"},
		{"change number", support, "", []string{"subscriber", "change-number", phone, "--new-phone", "+994501112299"}, exitOK, "userId:"},
		{"session", support, "", []string{"session", "get", "nosuchsession0000000000000000000000a"}, exitNotFound, "SESSION_NOT_FOUND"},
		{"close", support, "", []string{"subscriber", "close", "+994501112299"}, exitOK, "closed"},
		{"usage csv", auditor, "", []string{"usage", "export", "--format", "csv"}, exitOK, "day,portal,operator,operation,result,count"},
		{"audit verify", auditor, "", []string{"--json", "audit", "verify"}, exitOK, `"ok":true`},
		{"server down", map[string]string{envAdminURL: "http://127.0.0.1:1", envAdminToken: "x"}, "", []string{"whoami"}, exitServer, "no answer from the admin API"},
	}
	for _, s := range steps {
		code, out, errOut := cli(s.env, s.stdin, s.args...)
		text := out
		if s.code != exitOK {
			text = errOut
		}
		if code != s.code || !strings.Contains(text, s.out) {
			t.Fatalf("%s: exit %d, want %d; stdout %q stderr %q; want %q", s.name, code, s.code, out, errOut, s.out)
		}
		if strings.Contains(out+errOut, "654321") {
			t.Fatalf("%s: the User ID appears in the output", s.name)
		}
	}

	// The credentials file works like the environment.
	cred := filepath.Join(dir, "creds")
	_ = os.WriteFile(cred, []byte("# auditor\nIMZAGATE_ADMIN_URL="+url+"\nIMZAGATE_ADMIN_TOKEN=tok-auditor\n"), 0o600)
	export := filepath.Join(dir, "trail.jsonl")
	if code, _, e := cli(nil, "", "--credentials", cred, "audit", "export", "--out", export); code != exitOK {
		t.Fatalf("export: %d %s", code, e)
	}
	// The export verifies offline with the public key only, and a changed
	// byte is found.
	var out, errb bytes.Buffer
	if code := run([]string{"audit", "verify", "--public-key", hex.EncodeToString(pub), export}, &out, &errb); code != exitOK {
		t.Fatalf("offline verify: %d %s %s", code, out.String(), errb.String())
	}
	b, _ := os.ReadFile(export)
	tampered := bytes.Replace(b, []byte(`"subscriber.suspend"`), []byte(`"subscriber.resume"`), 1)
	_ = os.WriteFile(export, tampered, 0o600)
	out.Reset()
	if code := run([]string{"audit", "verify", "--public-key", hex.EncodeToString(pub), export}, &out, &errb); code != exitBroken || !strings.Contains(out.String(), "FAILED") {
		t.Fatalf("tampered export: exit %d\n%s", code, out.String())
	}
}

// TestAdminCLIProcess runs the built binary (this test binary re-run as
// imzagate) with the credentials in its environment.
func TestAdminCLIProcess(t *testing.T) {
	url, _ := adminGateway(t)
	cmd, out, errb := child(t, []string{envAdminURL + "=" + url, envAdminToken + "=tok-support"}, "admin", "subscriber", "get", "+994501112233")
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != exitNotFound || !strings.Contains(errb.String(), "SUBSCRIBER_NOT_FOUND") {
		t.Fatalf("exit %d (%v) stdout %q stderr %q", cmd.ProcessState.ExitCode(), err, out, errb)
	}
}

// TestProvisionPepperCanary: the first import stores the canary, an import
// with another pepper stops before its first line.
func TestProvisionPepperCanary(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	file := filepath.Join(t.TempDir(), "subs.jsonl")
	sample, err := os.ReadFile("../../docs/provisioning.sample.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(file, sample, 0o600)
	provision := func(pepper string) (int, string, string) {
		t.Setenv("IMZAGATE_PEPPER", pepper)
		var out, errb bytes.Buffer
		code := run([]string{"provision", "--redis", "redis://" + srv.Addr, file}, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, e := provision(testPepper); code != 0 || !strings.Contains(out, "3 subscribers imported") || !strings.Contains(e, "pepper canary stored") {
		t.Fatalf("first import: %d %q %q", code, out, e)
	}
	if code, out, e := provision("another-pepper-0123456789abcdefgh"); code != 1 || !strings.Contains(e, "does not match") || !strings.Contains(e, "nothing was imported") || strings.Contains(out, "imported") {
		t.Fatalf("wrong pepper: %d %q %q", code, out, e)
	}
	_ = os.WriteFile(file, append(sample, []byte(`{"phone":"+994501234567","iccid":"1","user_id":"123456","key_version":1}`+"\n")...), 0o600)
	if code, _, e := provision(testPepper); code != 1 || !strings.Contains(e, "line 4: iccid: want 19 or 20 digits") || !strings.Contains(e, "docs/provisioning.md") {
		t.Fatalf("bad line: %d %q", code, e)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"provision", "--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "docs/provisioning.schema.json") {
		t.Fatalf("help: %d %q", code, errb.String())
	}
}

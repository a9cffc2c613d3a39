package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// TestHelperProcess is not a test: the tests below re-run the test binary
// with IMZAGATE_HELPER=1 to run imzagate's main in a child process.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("IMZAGATE_HELPER") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// child starts imzagate with args in a child process.
func child(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(append(os.Environ(), "IMZAGATE_HELPER=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &out, &errb
}

const testPepper = "0123456789abcdef0123456789abcdef"

// TestServeGracefulShutdown runs `imzagate serve` from a configuration
// file against a real redis-server and the test SMSC, waits for /readyz,
// calls the API, then sends SIGTERM and expects a clean exit in time.
func TestServeGracefulShutdown(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	sm := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "smpp-pw"}})
	httpPort, _ := redistest.FreePort()
	adminPort, _ := redistest.FreePort()
	cfg := fmt.Sprintf(`
trust: {roots: [%q]}
http: {addr: "127.0.0.1:%d"}
metrics: {addr: "127.0.0.1:%d"}
redis: {addrs: [%q]}
sessions: {userTimeout: 30s}
shutdownTimeout: 5s
operators:
  - name: azercell
    prefixes: ["99450"]
    binds: [{addr: %q, systemId: gw, passwordEnv: TEST_SMPP_PW, sourceAddr: "9944000"}]
portals:
  - {id: p1, displayName: Test, apiKeySHA256: %s}
`, testRoot(t), httpPort, adminPort, srv.Addr, sm.Addr(), gateway.HashAPIKey("key-1"))
	path := filepath.Join(t.TempDir(), "imzagate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"IMZAGATE_PEPPER=" + testPepper, "TEST_SMPP_PW=smpp-pw",
		"IMZAGATE_MASTER_KIC=" + strings.Repeat("11", 16), "IMZAGATE_MASTER_KID=" + strings.Repeat("22", 16),
		"IMZAGATE_MASTER_KIC_MO=" + strings.Repeat("33", 16), "IMZAGATE_MASTER_KID_MO=" + strings.Repeat("44", 16)}
	cmd, out, errb := child(t, env, "serve", "--config", path)
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v\n%s\n%s", err, out, errb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	body := `{"phoneNumber":"+994501112233","userId":"123456","hash":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","hashType":"SHA256"}`
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/v1/authentications", httpPort), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer key-1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != 422 || p["code"] != gateway.CodeUserUnknown {
		t.Fatalf("unknown user: %d %v", resp.StatusCode, p)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, errb)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	logs := out.String()
	if !strings.Contains(logs, `"msg":"gateway stopped"`) || strings.Contains(logs, "994501112233") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// TestProvision imports simulated cards with `imzagate provision` and
// checks the store then knows them (User ID hashed under the same pepper).
func TestProvision(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	farm, err := simcard.New(simcard.Options{Cards: 3, Seed: []byte("provision")})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	var recs []simcard.Record
	for i := range 3 {
		rec, err := farm.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		var certs []map[string]any
		for _, c := range rec.Certificates {
			certs = append(certs, map[string]any{"type": c.Kind.String(), "tax_id": c.VOEN, "key_ref": c.KeyRef, "der": c.DER,
				"not_before": "2025-01-01T00:00:00Z", "not_after": "2028-01-01T00:00:00Z", "status": "active"})
		}
		line, _ := json.Marshal(map[string]any{"phone": "+" + rec.MSISDN, "iccid": rec.ICCID, "user_id": rec.UserID,
			"key_version": 1, "operator": "azercell", "certificates": certs})
		file.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "subscribers.jsonl")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IMZAGATE_PEPPER", testPepper)
	var out, errb bytes.Buffer
	if code := run([]string{"provision", "--redis", "redis://" + srv.Addr + "/0", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "3 subscribers imported") {
		t.Fatalf("output %q", out.String())
	}
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{srv.Addr}, ""))
	defer rdb.Close()
	st, err := sessions.New(rdb, sessions.Options{Pepper: []byte(testPepper)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sub, err := st.CheckUserID(context.Background(), "+"+recs[2].MSISDN, recs[2].UserID)
	if err != nil || sub.ICCID != recs[2].ICCID || len(sub.Certificates) != len(recs[2].Certificates) {
		t.Fatalf("provisioned subscriber %+v: %v", sub, err)
	}
	// Usage errors.
	for _, args := range [][]string{{"provision"}, {"provision", "--redis", "redis://" + srv.Addr}, {"provision", "--redis", "::", path}} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "imzagate ") {
		t.Fatalf("exit %d, %q", code, out.String())
	}
	if code := run([]string{"version", "extra"}, &out, &errb); code != 2 {
		t.Fatalf("extra argument: exit %d", code)
	}
}

func TestServeUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"serve"}, {"serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, {"demo", "extra"}} {
		if code := run(args, &out, &errb); code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
}

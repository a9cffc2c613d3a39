package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// TestSecretsGenerate: every secret in its own owner-only file, the hash
// matching the key, the master keys readable by the gateway's parser, and
// a second run refusing to replace anything.
func TestSecretsGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	var out, errb bytes.Buffer
	if code := run([]string{"secrets", "generate", "--out", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	read := func(name string) string {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b))
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", fi.Mode())
	}
	if p := read("pepper"); len(p) != 64 || gateway.CheckPepper([]byte(p)) != nil {
		t.Fatalf("pepper of %d characters", len(p))
	}
	if key, sum := read("api-key"), read("api-key.sha256"); gateway.HashAPIKey(key) != sum || len(key) < 40 {
		t.Fatalf("api-key.sha256 is not the key's hash")
	}
	if m, err := applet.ParseMasterKeys([]byte(read("master-keys"))); err != nil || m.KIc == m.KID {
		t.Fatalf("master keys: %v", err)
	}
	if pw := read("smpp-password"); len(pw) != 8 {
		t.Fatalf("SMPP password of %d characters", len(pw))
	}
	pepper := read("pepper")
	out.Reset()
	if code := run([]string{"secrets", "generate", "--out", dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "nothing was written") {
		t.Fatalf("second run: exit %d: %s", code, errb.String())
	}
	if read("pepper") != pepper {
		t.Fatal("the pepper was replaced")
	}
	if code := run([]string{"secrets", "generate"}, &out, &errb); code != 2 {
		t.Fatalf("no --out: exit %d", code)
	}
}

// TestConfigCheckAndServeRefusal: `config check` lists every problem with
// its line and fix and exits 1; `serve` refuses the same file with the
// same full list and starts nothing; a good file checks clean.
func TestConfigCheckAndServeRefusal(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`redis: {addrs: [127.0.0.1:6379]}
sessions: {userTimeout: 5s}
operators:
  - name: sim
    prefixes: ["994"]
    binds: [{addr: 127.0.0.1:2775, systemId: gw, passwordEnv: CHECK_TEST_SMPP_PW, windw: 5}]
portals:
  - {id: p, apiKeySHA256: REPLACE_WITH_API_KEY_SHA256}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IMZAGATE_PEPPER", "short")
	var out, errb bytes.Buffer
	if code := run([]string{"config", "check", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	report := out.String()
	for _, want := range []string{
		bad + ": 7 problems",
		"trust.roots: trust.roots is empty",
		"line 2, sessions.userTimeout: 5s is outside 10s–4m15s",
		`line 6, operators[0].binds[0].windw: unknown key "windw"`, `did you mean "window"`,
		"line 6, operators[0].binds[0].passwordEnv: the environment variable CHECK_TEST_SMPP_PW (the SMPP password) is not set",
		"line 8, portals[0].apiKeySHA256: apiKeySHA256 is not 64 hex digits",
		"secrets.pepperEnv: the pepper is 5 bytes long; at least 32 are required",
		"secrets.masterKeysEnvPrefix: the master keys' environment variables",
		"    fix: ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	out.Reset()
	if code := run([]string{"serve", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("serve exit %d", code)
	}
	if !strings.Contains(errb.String(), "nothing was started") || !strings.Contains(errb.String(), report[strings.Index(report, "\n")+1:]) {
		t.Fatalf("serve did not print the full list:\n%s", errb.String())
	}
	if code := run([]string{"config", "check"}, &out, &errb); code != 2 {
		t.Fatalf("usage: exit %d", code)
	}
}

// TestServeWarnsRedisUnreachable: a gateway whose Redis does not answer
// still starts, and its first lines say so with the address.
func TestServeWarnsRedisUnreachable(t *testing.T) {
	deadRedis, _ := redistest.FreePort()
	httpPort, _ := redistest.FreePort()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
http: {addr: "127.0.0.1:%d"}
metrics: {addr: "off"}
redis: {addrs: ["127.0.0.1:%d"]}
operators:
  - {name: sim, prefixes: ["994"], binds: [{addr: "127.0.0.1:%d", systemId: gw}]}
portals:
  - {id: p, apiKeySHA256: %s}
trust: {mode: provisioned-only}
`, httpPort, deadRedis, deadRedis, gateway.HashAPIKey("k"))
	path := filepath.Join(dir, "imzagate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"IMZAGATE_PEPPER=" + testPepper,
		"IMZAGATE_MASTER_KIC=" + strings.Repeat("11", 16), "IMZAGATE_MASTER_KID=" + strings.Repeat("22", 16),
		"IMZAGATE_MASTER_KIC_MO=" + strings.Repeat("33", 16), "IMZAGATE_MASTER_KID_MO=" + strings.Repeat("44", 16)}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "--", "serve", "--config", path)
	cmd.Env = append(append(os.Environ(), "IMZAGATE_HELPER=1"), env...)
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	want := fmt.Sprintf(`"msg":"redis unreachable at startup; requests fail with STORE_UNAVAILABLE until it answers","addrs":"127.0.0.1:%d"`, deadRedis)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), want) || !strings.Contains(out.String(), `"msg":"gateway started"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning naming the address:\n%s\n%s", out, errb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

package main

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// testRoot writes a test CA's root certificate as PEM and returns its path.
func testRoot(t *testing.T) string {
	t.Helper()
	ca, err := testca.New(testca.Options{Name: "Serve Test Root"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveConfig writes a configuration with the given trust section.
func serveConfig(t *testing.T, trust, redisAddr, smscAddr string, httpPort, adminPort int) string {
	t.Helper()
	cfg := fmt.Sprintf(`
%s
http: {addr: "127.0.0.1:%d"}
metrics: {addr: "127.0.0.1:%d"}
redis: {addrs: [%q]}
shutdownTimeout: 5s
operators:
  - name: azercell
    prefixes: ["99450"]
    binds: [{addr: %q, systemId: gw, passwordEnv: TEST_SMPP_PW, sourceAddr: "9944000"}]
portals:
  - {id: p1, displayName: Test, apiKeySHA256: %s}
`, trust, httpPort, adminPort, redisAddr, smscAddr, gateway.HashAPIKey("key-1"))
	path := filepath.Join(t.TempDir(), "imzagate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var serveEnv = []string{"IMZAGATE_PEPPER=" + testPepper, "TEST_SMPP_PW=smpp-pw",
	"IMZAGATE_MASTER_KIC=" + strings.Repeat("11", 16), "IMZAGATE_MASTER_KID=" + strings.Repeat("22", 16),
	"IMZAGATE_MASTER_KIC_MO=" + strings.Repeat("33", 16), "IMZAGATE_MASTER_KID_MO=" + strings.Repeat("44", 16)}

// TestServeTrust: `imzagate serve` without trust roots refuses to start and
// says what to configure; with trust.mode provisioned-only it starts,
// warns, and /readyz and /metrics say so.
func TestServeTrust(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	sm := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "smpp-pw"}})

	httpPort, _ := redistest.FreePort()
	adminPort, _ := redistest.FreePort()
	cmd, _, errb := child(t, serveEnv, "serve", "--config", serveConfig(t, "", srv.Addr, sm.Addr(), httpPort, adminPort))
	if err := cmd.Wait(); err == nil {
		t.Fatal("serve without trust roots started")
	}
	// serve's own check of the configuration finds it first.
	for _, want := range []string{"imzagate serve: the configuration has problems; nothing was started", "1 problem",
		"trust.roots: trust.roots is empty: name the certification authority's root certificates, or set mode provisioned-only"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("stderr %q\nlacks %q", errb.String(), want)
		}
	}

	httpPort, _ = redistest.FreePort()
	adminPort, _ = redistest.FreePort()
	cmd, out, errb := child(t, serveEnv, "serve", "--config",
		serveConfig(t, "trust: {mode: provisioned-only}", srv.Addr, sm.Addr(), httpPort, adminPort))
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	var ready string
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(admin + "/readyz"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ready = string(b); resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready (last %q)\n%s\n%s", ready, out, errb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ready != "ready (trust: provisioned-only)\n" {
		t.Fatalf("/readyz %q", ready)
	}
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "\nimzagate_trust_mode{mode=\"provisioned-only\"} 1\n") ||
		!strings.Contains(string(metrics), "\nimzagate_trust_mode{mode=\"verify\"} 0\n") {
		t.Fatal("/metrics does not report trust mode provisioned-only")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !strings.Contains(out.String(), `"level":"WARN","msg":"trust mode provisioned-only: certificates are not checked against the certification authority`) {
		t.Fatalf("no warning about provisioned-only in the log:\n%s", out)
	}
}

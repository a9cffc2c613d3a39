package gateway

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// adminConfig is a minimal configuration with extra YAML appended.
func adminConfig(t *testing.T, extra string) (Options, error) {
	t.Helper()
	base := `
http: {addr: "127.0.0.1:8080"}
redis: {addrs: ["127.0.0.1:6379"]}
secrets: {pepperEnv: P}
operators: [{name: azercell, prefixes: ["99450"], binds: [{addr: "127.0.0.1:2775", systemId: gw}]}]
portals: [{id: p1, apiKeySHA256: "` + HashAPIKey("k") + `"}]
` + extra
	c, err := ParseConfig(strings.NewReader(base))
	if err != nil {
		return Options{}, err
	}
	env := map[string]string{"P": strings.Repeat("p", 32), "AUDIT_PHONE": strings.Repeat("ab", 16),
		"AUDIT_KEY": strings.Repeat("11", 32), "IMZAGATE_MASTER_KIC": strings.Repeat("01", 16), "IMZAGATE_MASTER_KID": strings.Repeat("02", 16),
		"IMZAGATE_MASTER_KIC_MO": strings.Repeat("03", 16), "IMZAGATE_MASTER_KID_MO": strings.Repeat("04", 16)}
	o, err := c.Options(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if o.Redis != nil {
		o.Redis.Close()
	}
	return o, err
}

func TestAdminConfig(t *testing.T) {
	const audit = "audit: {signingKeyEnv: AUDIT_KEY, phoneKeyEnv: AUDIT_PHONE}\n"
	const api = "admin: {api: {addr: \"127.0.0.1:9443\", principals: [{id: ops, roles: [support], tokenSHA256: \"" + "%s" + "\"}]}}\n"
	apiYAML := strings.Replace(api, "%s", HashAPIKey("t"), 1)
	o, err := adminConfig(t, "admin: {addr: \"127.0.0.1:9191\"}\n")
	if err != nil || o.AdminAddr != "127.0.0.1:9191" {
		t.Fatalf("the old admin.addr still names the metrics listener: %q, %v", o.AdminAddr, err)
	}
	if o, err := adminConfig(t, "metrics: {addr: \"127.0.0.1:9292\"}\n"); err != nil || o.AdminAddr != "127.0.0.1:9292" {
		t.Fatalf("metrics.addr: %q, %v", o.AdminAddr, err)
	}
	if _, err := adminConfig(t, "metrics: {addr: \"127.0.0.1:9292\"}\nadmin: {addr: \"127.0.0.1:9191\"}\n"); err == nil || !strings.Contains(err.Error(), "keep only metrics.addr") {
		t.Fatalf("both: %v", err)
	}
	if _, err := adminConfig(t, apiYAML); err == nil || !strings.Contains(err.Error(), "needs the audit trail") {
		t.Fatalf("admin API without audit: %v", err)
	}
	if _, err := adminConfig(t, audit+strings.Replace(apiYAML, "127.0.0.1:9443", "127.0.0.1:8080", 1)); err == nil || !strings.Contains(err.Error(), "listener of its own") {
		t.Fatalf("admin API on the portal listener: %v", err)
	}
	if _, err := adminConfig(t, "audit: {signingKeyEnv: AUDIT_KEY}\n"); err == nil || !strings.Contains(err.Error(), "both the signing key and the phone key") {
		t.Fatalf("half an audit config: %v", err)
	}
	o, err = adminConfig(t, audit+apiYAML+"usage: {retention: 2400h}\n")
	if err != nil || o.AdminAPI.Addr != "127.0.0.1:9443" || len(o.Audit.SigningKey) != ed25519.PrivateKeySize ||
		len(o.Audit.PhoneKey) != 16 || o.UsageRetention.Hours() != 2400 || len(o.ConfigDigest) != 64 {
		t.Fatalf("full admin config: %+v, %v", o.AdminAPI, err)
	}
}

func TestParseAuditKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if k, err := ParseAuditKey(pemKey); err != nil || !bytes.Equal(k, priv) {
		t.Fatalf("PEM: %v", err)
	}
	if k, err := ParseAuditKey(hex.EncodeToString(priv.Seed())); err != nil || !bytes.Equal(k, priv) {
		t.Fatalf("seed: %v", err)
	}
	for _, bad := range []string{"", "abcd", "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"} {
		if _, err := ParseAuditKey(bad); err == nil {
			t.Errorf("ParseAuditKey(%q) accepted", bad)
		}
	}
	pder, _ := x509.MarshalPKIXPublicKey(pub)
	if k, err := ParseAuditPublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}))); err != nil || !bytes.Equal(k, pub) {
		t.Fatalf("public PEM: %v", err)
	}
	if k, err := ParseAuditPublicKey(hex.EncodeToString(pub)); err != nil || !bytes.Equal(k, pub) {
		t.Fatalf("public hex: %v", err)
	}
	// openssl's own key files work.
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.pem")
	if out, err := runOpenSSL("genpkey", "-algorithm", "ed25519", "-out", keyFile); err != nil {
		t.Skipf("openssl: %v %s", err, out)
	}
	b, _ := os.ReadFile(keyFile)
	if _, err := ParseAuditKey(string(b)); err != nil {
		t.Fatalf("openssl genpkey key: %v", err)
	}
}

// runOpenSSL runs the openssl tool.
func runOpenSSL(args ...string) ([]byte, error) {
	return exec.Command("openssl", args...).CombinedOutput()
}

package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway/trust"
)

// trustFiles are PEM files for the configuration's trust section: a good
// root and intermediate, a leaf, an expired root, an intermediate of
// another hierarchy, a private key.
type trustFiles struct {
	root, inter, leaf, expired, otherInter, key, missing string
}

func writeTrustFiles(t *testing.T) trustFiles {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert := func(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }
	root, err := testca.New(testca.Options{Name: "Config Root"})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewSubordinate(testca.Options{Name: "Config Issuing CA"})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().AddDate(-30, 0, 0)
	old, err := testca.New(testca.Options{Name: "Old Root", Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := testca.New(testca.Options{Name: "Unrelated Root"})
	otherInter, err := other.NewSubordinate(testca.Options{Name: "Unrelated Issuing CA"})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := inter.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign, PublicKey: &k.PublicKey,
		Holder: testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "5ABC7DE"}})
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return trustFiles{root: write("root.pem", cert(root.Certificate())), inter: write("inter.pem", cert(inter.Certificate())),
		leaf: write("leaf.pem", cert(leaf)), expired: write("old-root.pem", cert(old.Certificate())),
		otherInter: write("other-inter.pem", cert(otherInter.Certificate())),
		key:        write("root-with-key.pem", cert(root.Certificate()), &pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		missing:    filepath.Join(dir, "absent.pem")}
}

// trustConfigYAML is a whole configuration whose trust and ota sections
// are the test's (sections is appended at the top level).
func trustConfigYAML(sections, portalExtra string) string {
	return `
http: {addr: "127.0.0.1:0"}
admin: {addr: "127.0.0.1:0"}
redis: {addrs: ["127.0.0.1:1"]}
operators:
  - name: azercell
    prefixes: ["99450"]
    binds: [{addr: "127.0.0.1:1", systemId: gw}]
portals:
  - {id: p1, apiKeySHA256: ` + HashAPIKey("k") + portalExtra + `}
` + sections
}

func trustTestEnv(k string) (string, bool) {
	v, ok := map[string]string{"IMZAGATE_PEPPER": strings.Repeat("p", 32),
		"IMZAGATE_MASTER_KIC": strings.Repeat("01", 16), "IMZAGATE_MASTER_KID": strings.Repeat("02", 16),
		"IMZAGATE_MASTER_KIC_MO": strings.Repeat("03", 16), "IMZAGATE_MASTER_KID_MO": strings.Repeat("04", 16)}[k]
	return v, ok
}

// startFromConfig runs what `imzagate serve` runs up to the listeners:
// parse, resolve, build the gateway. It returns the first error.
func startFromConfig(t *testing.T, text string) error {
	t.Helper()
	c, err := ParseConfig(strings.NewReader(text))
	if err != nil {
		return err
	}
	o, err := c.Options(trustTestEnv, io.Discard)
	if err != nil {
		return err
	}
	defer o.Redis.Close()
	g, err := newGateway(t.Context(), o)
	if err != nil {
		return err
	}
	t.Error("the gateway was built")
	g.apiLn.Close()
	g.adminLn.Close()
	_ = g.core.done.close(t.Context())
	_ = g.store.Close()
	return nil
}

// TestTrustConfigRefused: every bad trust or ota setting stops the start
// with a message that names the setting (and the file) and says what is
// wanted.
func TestTrustConfigRefused(t *testing.T) {
	f := writeTrustFiles(t)
	roots := func(extra string) string {
		return "trust:\n  roots: [" + f.root + "]\n  intermediates: [" + f.inter + "]\n" + extra
	}
	tests := []struct {
		name, sections, portal, want string
	}{
		{"no trust section", "", "",
			"gateway: trust: invalid configuration: trust.roots is empty: name the certification authority's root certificates, or set mode provisioned-only"},
		{"unknown mode", "trust: {mode: trusting}", "",
			`config: trust: invalid configuration: trust.mode "trusting": want verify or provisioned-only`},
		{"unknown key", "trust: {rootz: [" + f.root + "]}", "", "field rootz not found"},
		{"missing file", "trust: {roots: [" + f.missing + "]}", "",
			"gateway: trust: invalid configuration: trust.roots: stat " + f.missing + ": no such file or directory"},
		{"leaf as root", "trust: {roots: [" + f.leaf + "]}", "",
			"trust.roots: Leyla Məmmədova (" + f.leaf + ") is not a CA certificate (basic constraints without cA)"},
		{"expired root", "trust: {roots: [" + f.expired + "]}", "", "trust.roots: Old Root (" + f.expired + ") expired on "},
		{"intermediate of another root", "trust: {roots: [" + f.root + "], intermediates: [" + f.otherInter + "]}", "",
			"trust.intermediates: Unrelated Issuing CA (" + f.otherInter + ") does not chain to a configured root"},
		{"private key beside the root", "trust: {roots: [" + f.key + "]}", "",
			"trust.roots: " + f.key + ": PEM block 2 is a private key; trust files hold certificates only"},
		{"provisioned-only with roots", "trust: {mode: provisioned-only, roots: [" + f.root + "]}", "",
			"mode provisioned-only takes no trust.roots or trust.intermediates"},
		{"OCSP hold too long", roots("  ocsp: {maxHold: 1m}\n"), "",
			"config: trust.ocsp.maxHold 1m0s above 30s: a revocation must show within seconds"},
		{"OCSP URL for an unknown CA", roots("  ocsp: {urls: {Nobody: \"http://127.0.0.1/ocsp\"}}\n"), "",
			`trust.ocsp.urls names "Nobody", which is not a configured root or intermediate`},
		{"CRL refreshed too often", roots("  crl: {refreshInterval: 1ms}\n"), "", "trust.crl.refreshInterval 1ms below 10ms"},
		{"unknown default policy", roots("  revocationPolicy: {sign: maybe}\n"), "",
			`config: trust.revocationPolicy.sign "maybe": want hard-fail or soft-fail`},
		{"unknown portal policy", roots(""), ", revocationPolicy: strict",
			`portal p1: revocationPolicy "strict": want hard-fail or soft-fail`},
		{"MO key version 16", roots("ota: {moKeyVersion: 16}\n"), "", "config: ota.moKeyVersion 16 outside 1..15"},
		{"one key version for both directions", roots("ota: {mtKeyVersion: 3, moKeyVersion: 3}\n"), "",
			"config: ota: applet: bad key version: MT and MO key versions are both 3; the directions need different key sets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := startFromConfig(t, trustConfigYAML(tt.sections, tt.portal))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestTrustConfigOptions: a full trust section becomes the checker's
// options and the default policies; ota the key versions.
func TestTrustConfigOptions(t *testing.T) {
	f := writeTrustFiles(t)
	c, err := ParseConfig(strings.NewReader(trustConfigYAML(`
trust:
  roots: [`+f.root+`]
  intermediates: [`+f.inter+`]
  skew: 1m
  ocsp: {urls: {"Config Issuing CA": "http://ocsp.example/"}, timeout: 2s, nonce: true, maxHold: 10s, maxCacheTTL: 30m}
  crl: {refreshInterval: 30s, timeout: 5s, maxBytes: 1048576, maxEntries: 5000}
  revocationPolicy: {authenticate: hard-fail, sign: soft-fail}
ota: {mtKeyVersion: 4, moKeyVersion: 7}
`, ", revocationPolicy: soft-fail")))
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Options(trustTestEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Redis.Close()
	tr := o.Trust
	if tr.Mode != trust.ModeVerify || tr.Roots[0] != f.root || tr.Intermediates[0] != f.inter || tr.Skew != time.Minute ||
		tr.OCSP.URLs["Config Issuing CA"] != "http://ocsp.example/" || tr.OCSP.Timeout != 2*time.Second || !tr.OCSP.Nonce ||
		tr.OCSP.MaxHold != 10*time.Second || tr.OCSP.MaxCacheTTL != 30*time.Minute || tr.CRL.RefreshInterval != 30*time.Second ||
		tr.CRL.Timeout != 5*time.Second || tr.CRL.MaxBytes != 1<<20 || tr.CRL.MaxEntries != 5000 {
		t.Fatalf("trust options %+v", tr)
	}
	if o.Server.RevocationPolicy != (RevocationPolicy{Authenticate: trust.PolicyHardFail, Sign: trust.PolicySoftFail}) {
		t.Fatalf("default policies %+v", o.Server.RevocationPolicy)
	}
	if o.OTAKeyVersions != (applet.KeyVersions{MT: 4, MO: 7}) {
		t.Fatalf("key versions %+v", o.OTAKeyVersions)
	}
	if o.Server.Portals[0].RevocationPolicy != "soft-fail" {
		t.Fatalf("portal policy %q", o.Server.Portals[0].RevocationPolicy)
	}
	// Without an ota section the versions are the defaults.
	c.OTA = OTAConfig{}
	if kv, err := c.OTA.keyVersions(); err != nil || kv != applet.DefaultKeyVersions {
		t.Fatalf("default key versions %+v, %v", kv, err)
	}
}

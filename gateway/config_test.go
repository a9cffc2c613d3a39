package gateway

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
)

// TestExampleConfig parses the shipped example and turns it into Options
// with secrets from a fake environment.
func TestExampleConfig(t *testing.T) {
	f, err := os.Open("../deploy/imzagate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"IMZAGATE_PEPPER": strings.Repeat("p", 32), "IMZAGATE_SMPP_AZERCELL": "a", "IMZAGATE_SMPP_BAKCELL": "b",
		"IMZAGATE_SMPP_NAR": "n", "IMZAGATE_CALLBACK_ETAXES": "cb",
		"IMZAGATE_MASTER_KIC": strings.Repeat("01", 16), "IMZAGATE_MASTER_KID": strings.Repeat("02", 16),
		"IMZAGATE_MASTER_KIC_MO": strings.Repeat("03", 16), "IMZAGATE_MASTER_KID_MO": strings.Repeat("04", 16),
		"IMZAGATE_REDIS_PASSWORD": "redis-secret",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := c.Options(lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Redis.Close()
	if o.Operators[0].SubmitTimeout != 5*time.Second || o.Operators[1].SubmitTimeout != 0 ||
		o.Server.Portals[1].UserIDBudget != (sessions.Budget{Failures: 100, Window: 10 * time.Minute, Block: 15 * time.Minute}) {
		t.Fatalf("submit timeouts %v %v, budget %+v", o.Operators[0].SubmitTimeout, o.Operators[1].SubmitTimeout, o.Server.Portals[1].UserIDBudget)
	}
	if len(o.Operators) != 3 || o.Operators[0].Binds[1].Password != "a" || o.Operators[1].Binds[0].TLS == nil ||
		o.MasterKeys.KIDMO[0] != 4 || len(o.Server.Portals) != 2 || o.Server.Portals[0].DisplayName != "e-taxes.gov.az" ||
		string(o.Pepper) != strings.Repeat("p", 32) {
		t.Fatalf("options %+v", o)
	}
	// Its trust section names the mounted CA files and the CA's URLs.
	if o.Trust.Roots[0] != "/etc/imzagate/trust/root.pem" || o.Trust.OCSP.MaxHold != 30*time.Second || !o.Trust.OCSP.Nonce ||
		o.Server.RevocationPolicy.Sign != trust.PolicyHardFail || o.Server.Portals[0].RevocationPolicy != "hard-fail" ||
		o.OTAKeyVersions != applet.DefaultKeyVersions {
		t.Fatalf("trust %+v, policies %+v, key versions %+v", o.Trust, o.Server.RevocationPolicy, o.OTAKeyVersions)
	}
	// The example names Sentinels: the client is a failover client with
	// the password from the environment.
	if rc, ok := o.Redis.(*redis.Client); !ok || rc.Options().Password != "redis-secret" {
		t.Fatalf("redis client %T", o.Redis)
	}
	// A missing secret names its variable.
	delete(env, "IMZAGATE_MASTER_KID_MO")
	if _, err := c.Options(lookup, io.Discard); err == nil || !strings.Contains(err.Error(), "IMZAGATE_MASTER_KID_MO") {
		t.Fatalf("missing key: %v", err)
	}
}

// TestRedisPassword: the Redis password is resolved like the pepper: from
// a file when one is named, else from the named variable, which must then
// be set; without either Redis gets no password.
func TestRedisPassword(t *testing.T) {
	file := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := Env(func(k string) (string, bool) { return "from-env", k == "REDIS_PW" })
	tests := []struct {
		name, yaml, want, err string
	}{
		{"passwordEnv", "redis: {addrs: [r:6379], passwordEnv: REDIS_PW}", "from-env", ""},
		{"passwordFile", "redis: {addrs: [r:6379], passwordFile: " + file + "}", "from-file", ""},
		{"file wins", "redis: {addrs: [r:6379], passwordEnv: REDIS_PW, passwordFile: " + file + "}", "from-file", ""},
		{"none", "redis: {addrs: [r:6379]}", "", ""},
		{"variable not set", "redis: {addrs: [r:6379], passwordEnv: OTHER_PW}", "", "OTHER_PW"},
		{"file missing", "redis: {addrs: [r:6379], passwordFile: /nonexistent/pw}", "", "redis password file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(strings.NewReader(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			ro, err := c.RedisOptions(env)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil || ro.Password != tt.want || len(ro.Addrs) != 1 || !ro.ContextTimeoutEnabled {
				t.Fatalf("options %+v, %v; want password %q", ro, err, tt.want)
			}
		})
	}
}

// TestPortalOperationsByName: a portal's operations are read by name;
// an unknown one is a configuration error.
func TestPortalOperationsByName(t *testing.T) {
	c, err := ParseConfig(strings.NewReader("portals: [{id: bank, operations: [AUTHENTICATE]}]"))
	if err != nil {
		t.Fatal(err)
	}
	if ops := c.Portals[0].Operations; len(ops) != 1 || ops[0] != applet.OpAuthenticate {
		t.Fatalf("operations %v", ops)
	}
	if _, err := ParseConfig(strings.NewReader("portals: [{id: bank, operations: [PAY]}]")); err == nil {
		t.Fatal("unknown operation accepted")
	}
}

func TestParseConfigRejectsUnknownKeys(t *testing.T) {
	tests := []struct{ name, in string }{
		{"unknown top-level key", "htp: {addr: x}\n"},
		{"secret in file", "secrets: {pepper: abc}\n"},
		{"wrong type", "sessions: {userTimeout: [1]}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseConfig(strings.NewReader(tt.in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

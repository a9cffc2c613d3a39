package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goTerms are words of the program, not of the operator: no message may
// contain them.
var goTerms = regexp.MustCompile(`\b(int|int64|uint32|uint8|float64|string|bool|struct|nil)\b|time\.Duration|gateway\.|applet\.|yaml\.v3|Options\.|Config\b|unmarshal|!!`)

// checkEnv is an environment with every secret the base configuration names.
func checkEnv(extra map[string]string) Env {
	env := map[string]string{
		"IMZAGATE_PEPPER":     strings.Repeat("p", MinPepperLen),
		"IMZAGATE_MASTER_KIC": strings.Repeat("01", 16), "IMZAGATE_MASTER_KID": strings.Repeat("02", 16),
		"IMZAGATE_MASTER_KIC_MO": strings.Repeat("03", 16), "IMZAGATE_MASTER_KID_MO": strings.Repeat("04", 16),
		"SMPP_PW": "pw",
	}
	for k, v := range extra {
		if v == "\x00unset" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// baseConfig is a valid configuration; cases replace or append to it.
const baseConfig = `redis:
  addrs: [127.0.0.1:6379]
operators:
  - name: sim
    prefixes: ["994"]
    binds:
      - addr: 127.0.0.1:2775
        systemId: imzagate
        passwordEnv: SMPP_PW
portals:
  - id: demo
    apiKeySHA256: 1111111111111111111111111111111111111111111111111111111111111111
`

// provisionedOnly ends the configurations of the cases that are not about
// trust, which would otherwise each also report the missing roots.
const provisionedOnly = "trust: {mode: provisioned-only}\n"

func TestCheckConfigBase(t *testing.T) {
	if probs := CheckConfig([]byte(baseConfig+provisionedOnly), checkEnv(nil)); len(probs) != 0 {
		t.Fatalf("valid configuration has problems: %v", probs)
	}
}

// TestCheckConfigTrust: serve needs the CA's roots, so the check reports
// their absence, and a root file that cannot be read, at trust.roots.
func TestCheckConfigTrust(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "root.pem")
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, yaml, what string }{
		{"no roots", "", "trust.roots is empty"},
		{"root file missing", "trust: {roots: [" + missing + "]}\n", "no such file"},
		{"root file not PEM", "trust: {roots: [" + notPEM + "]}\n", "junk.pem"},
		{"unknown mode", "trust: {mode: verify-later, roots: [" + missing + "]}\n", "verify-later"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probs := CheckConfig([]byte(baseConfig+tt.yaml), checkEnv(nil))
			if len(probs) != 1 || !strings.HasPrefix(probs[0].Path, "trust") || !strings.Contains(probs[0].What, tt.what) {
				t.Fatalf("problems %s; want one at trust saying %q", problemList(probs), tt.what)
			}
		})
	}
}

// TestCheckConfigProblems: each bad configuration yields exactly the
// problems listed, each at its key path and line, saying what is wrong and
// how to fix it, in the operator's words.
func TestCheckConfigProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shortPepper := write("short-pepper", "0123456789abcdef0123456789abcde\n") // 31 characters
	goodPepper := write("good-pepper", "0123456789abcdef0123456789abcdef\n")  // 32: the minimum
	badKeys := write("bad-keys", "KIc=00112233445566778899aabbccddeeff\nKID=0011\n")
	missingKeys := write("missing-keys", "KIc=00112233445566778899aabbccddeeff\nKID=00112233445566778899aabbccddeeff\n")
	noCA := write("no-ca.pem", "not a certificate\n")
	type want struct {
		path string
		line int
		what []string // substrings of What
		fix  string   // substring of Fix
	}
	tests := []struct {
		name string
		yaml string // appended to baseConfig unless it starts with "!"
		env  map[string]string
		want []want
	}{
		{"pepper variable not set (the default name)", "", map[string]string{"IMZAGATE_PEPPER": "\x00unset"},
			[]want{{"secrets.pepperEnv", 0, []string{"IMZAGATE_PEPPER", "not set"}, "export IMZAGATE_PEPPER"}}},
		{"pepper variable set but empty", "secrets: {pepperEnv: MY_PEPPER}\n", map[string]string{"MY_PEPPER": ""},
			[]want{{"secrets.pepperEnv", 13, []string{"MY_PEPPER", "set but empty"}, "at least 32 characters"}}},
		{"pepper shorter than 32 bytes", "secrets: {pepperFile: " + shortPepper + "}\n", nil,
			[]want{{"secrets.pepperFile", 13, []string{"31 bytes long", "at least 32", "not hex-decoded"}, "openssl rand -hex 32"}}},
		{"pepper of exactly 32 bytes", "secrets: {pepperFile: " + goodPepper + "}\n", nil, nil},
		{"pepper file missing", "secrets:\n  pepperFile: " + filepath.Join(dir, "nope") + "\n", nil,
			[]want{{"secrets.pepperFile", 14, []string{"does not exist", "the pepper"}, "correct the path"}}},
		{"pepper from two sources", "secrets:\n  pepperEnv: IMZAGATE_PEPPER\n  pepperFile: " + goodPepper + "\n", nil,
			[]want{{"secrets.pepperFile", 15, []string{"two sources", "IMZAGATE_PEPPER", goodPepper}, "keep one"}}},
		{"no Redis password named: none is needed", "", nil, nil},
		{"redis password variable named but not set", "!" + strings.Replace(baseConfig, "addrs: [127.0.0.1:6379]", "addrs: [127.0.0.1:6379]\n  passwordEnv: REDIS_PW", 1), nil,
			[]want{{"redis.passwordEnv", 3, []string{"REDIS_PW", "Redis password", "not set"}, "requirepass"}}},
		{"redis password from two sources", "!" + strings.Replace(baseConfig, "addrs: [127.0.0.1:6379]", "addrs: [127.0.0.1:6379]\n  passwordEnv: REDIS_PW\n  passwordFile: "+goodPepper, 1),
			map[string]string{"REDIS_PW": "x"},
			[]want{{"redis.passwordFile", 4, []string{"two sources", "Redis password"}, "remove passwordEnv or passwordFile"}}},
		{"master keys from two sources", "secrets: {masterKeysFile: " + missingKeys + ", masterKeysEnvPrefix: K_}\n", nil,
			[]want{{"secrets.masterKeysFile", 13, []string{"two sources", "K_*"}, "keep one"}}},
		{"master keys file malformed", "secrets: {masterKeysFile: " + badKeys + "}\n", nil,
			[]want{{"secrets.masterKeysFile", 13, []string{"line 2", "KID", "32 hex digits"}, "KIc=, KID=, KIc-MO=, KID-MO="}}},
		{"master keys file incomplete", "secrets: {masterKeysFile: " + missingKeys + "}\n", nil,
			[]want{{"secrets.masterKeysFile", 13, []string{"KIc-MO, KID-MO missing"}, "imzagate secrets generate"}}},
		{"master key variables not set", "", map[string]string{"IMZAGATE_MASTER_KID": "\x00unset", "IMZAGATE_MASTER_KID_MO": "\x00unset"},
			[]want{{"secrets.masterKeysEnvPrefix", 0, []string{"IMZAGATE_MASTER_KID, IMZAGATE_MASTER_KID_MO", "not set"}, "masterKeysFile"}}},
		{"master key variable not hex", "", map[string]string{"IMZAGATE_MASTER_KIC": "zz"},
			[]want{{"secrets.masterKeysEnvPrefix", 0, []string{"IMZAGATE_MASTER_KIC", "not 32 hex digits"}, "AES-128"}}},
		{"SMPP password variable not set", "", map[string]string{"SMPP_PW": "\x00unset"},
			[]want{{"operators[0].binds[0].passwordEnv", 9, []string{"SMPP_PW", "SMPP password", "not set"}, "export SMPP_PW"}}},
		{"SMPP password too long", "", map[string]string{"SMPP_PW": "123456789"},
			[]want{{"operators[0].binds[0].passwordEnv", 9, []string{"9 characters", "SMPP allows 8"}, "at most 8"}}},
		{"same API-key hash on two portals", "  - id: bank\n    apiKeySHA256: 1111111111111111111111111111111111111111111111111111111111111111\n", nil,
			[]want{{"portals[1].apiKeySHA256", 14, []string{"portals[0] (demo)", "same API-key hash"}, "its own API key"}}},
		{"API-key hash placeholder", "  - id: bank\n    apiKeySHA256: REPLACE_WITH_API_KEY_SHA256\n", nil,
			[]want{{"portals[1].apiKeySHA256", 14, []string{"not 64 hex digits"}, "sha256sum"}}},
		{"duplicate portal id", "  - id: demo\n    apiKeySHA256: 2222222222222222222222222222222222222222222222222222222222222222\n", nil,
			[]want{{"portals[1].id", 13, []string{`"demo"`, "portals[0]"}, "its own id"}}},
		{"unknown top-level key", "htp: {addr: 127.0.0.1:8080}\n", nil,
			[]want{{"htp", 13, []string{`unknown key "htp"`}, `did you mean "http"`}}},
		{"unknown nested key", "!" + strings.Replace(baseConfig, "systemId: imzagate", "systemId: imzagate\n        windw: 10", 1), nil,
			[]want{{"operators[0].binds[0].windw", 9, []string{`unknown key "windw"`}, `did you mean "window"`}}},
		{"a secret written into the file", "secrets: {pepper: abc}\n", nil,
			[]want{{"secrets.pepper", 13, []string{`unknown key "pepper"`}, "secrets never go in the file"}}},
		{"duplicate key", "log: {level: info, level: debug}\n", nil,
			[]want{{"log.level", 13, []string{`"level" appears twice`}, "keep one"}}},
		{"YAML syntax error", "log:\n  level: info\n format: json\n", nil,
			[]want{{"(file)", 14, []string{"not valid YAML", "line 14"}, "correct the syntax"}}},
		{"user timeout out of range", "sessions: {userTimeout: 5s, deliveryGrace: -1s}\n", nil,
			[]want{{"sessions.userTimeout", 13, []string{"5s is outside 10s–4m15s"}, "from 10s to 4m15s"},
				{"sessions.deliveryGrace", 13, []string{"-1s is outside"}, "30s"}}},
		{"duration without a unit", "shutdownTimeout: 30\n", nil,
			[]want{{"shutdownTimeout", 13, []string{"30 has no unit"}, "e.g. 30s"}}},
		{"duration that is not one", "callbacks: {backoff: soon}\n", nil,
			[]want{{"callbacks.backoff", 13, []string{`"soon" is not a duration`}, "e.g. 30s"}}},
		{"callback numbers out of range", "callbacks: {workers: 5000, attempts: -1}\n", nil,
			[]want{{"callbacks.workers", 13, []string{"5000 is outside 0–1024"}, "from 0 to 1024"},
				{"callbacks.attempts", 13, []string{"-1 is outside 0–100"}, "from 0 to 100"}}},
		{"window, TPS and port out of range", "!" + strings.Replace(strings.Replace(baseConfig, "systemId: imzagate", "systemId: imzagate\n        window: 5000\n        tps: -3", 1), "127.0.0.1:2775", "127.0.0.1:70000", 1), nil,
			[]want{{"operators[0].binds[0].addr", 7, []string{`port "70000"`}, "1 to 65535"},
				{"operators[0].binds[0].window", 9, []string{"5000 is outside 0–1000"}, "from 0 to 1000"},
				{"operators[0].binds[0].tps", 10, []string{"-3 is outside 0–100000"}, "from 0 to 100000"}}},
		{"a word where a number belongs", "!" + strings.Replace(baseConfig, "systemId: imzagate", "systemId: imzagate\n        window: ten\n        tls: maybe", 1), nil,
			[]want{{"operators[0].binds[0].window", 9, []string{`"ten" is not a whole number`}, "digits only"},
				{"operators[0].binds[0].tls", 10, []string{`"maybe" is not true or false`}, "true or false"}}},
		{"a value where a list belongs", "!" + strings.Replace(baseConfig, "addrs: [127.0.0.1:6379]", "addrs: 127.0.0.1:6379", 1), nil,
			[]want{{"redis.addrs", 2, []string{"must be a list"}, "[a, b]"}}},
		{"redis database out of range", "!" + strings.Replace(baseConfig, "addrs: [127.0.0.1:6379]", "addrs: [127.0.0.1:6379]\n  db: 16", 1), nil,
			[]want{{"redis.db", 3, []string{"database 16 is outside 0–15"}, "from 0 to 15"}}},
		{"no redis address", "!" + strings.Replace(baseConfig, "addrs: [127.0.0.1:6379]", "addrs: []", 1), nil,
			[]want{{"redis.addrs", 2, []string{"no Redis address"}, "127.0.0.1:6379"}}},
		{"unknown enum values", "log: {format: xml, level: loud}\n", nil,
			[]want{{"log.format", 13, []string{`unknown value "xml"`}, "json, text"},
				{"log.level", 13, []string{`unknown value "loud"`}, "debug, info, warn, error"}}},
		{"unknown bind type", "!" + strings.Replace(baseConfig, "systemId: imzagate", "systemId: imzagate\n        type: tranceiver", 1), nil,
			[]want{{"operators[0].binds[0].type", 9, []string{`unknown value "tranceiver"`}, "transceiver, transmitter, receiver"}}},
		{"unknown operation", "    operations: [AUTHENTICATE, PAY]\n", nil,
			[]want{{"portals[0].operations[1]", 13, []string{`unknown value "PAY"`}, "AUTHENTICATE, SIGN"}}},
		{"callbacks without a secret", "    callbackHosts: [portal.example]\n", nil,
			[]want{{"portals[0].callbackHosts", 13, []string{"callbacks need a signing secret"}, "callbackSecretEnv"}}},
		{"client certificate without mutual TLS", "    clientCertSHA256: ab\n", nil,
			[]want{{"portals[0].clientCertSHA256", 13, []string{"not 64 hex digits"}, "fingerprint -sha256"},
				{"portals[0].clientCertSHA256", 13, []string{"mutual TLS is off"}, "http.clientCAFile"}}},
		{"TLS half configured and a bad CA file", "http: {certFile: api.crt, clientCAFile: " + noCA + "}\n", nil,
			[]want{{"http.certFile", 13, []string{"both http.certFile and http.keyFile"}, "set both"},
				{"http.clientCAFile", 13, []string{"holds no PEM certificate"}, "client certificates"}}},
		{"admin on the API's address", "http: {addr: 127.0.0.1:8080}\nadmin: {addr: 127.0.0.1:8080}\n", nil,
			[]want{{"admin.addr", 14, []string{"same address"}, "its own port"}}},
		{"metrics and admin API on one address", "http: {addr: 127.0.0.1:8080}\nmetrics: {addr: 127.0.0.1:9090}\nadmin: {api: {addr: 127.0.0.1:9090}}\n", nil,
			[]want{{"admin.api.addr", 15, []string{"the admin API and the metrics listener have the same address 127.0.0.1:9090"}, "its own port"}}},
		{"old and new name of the metrics listener", "metrics: {addr: 127.0.0.1:9090}\nadmin: {addr: 127.0.0.1:9191}\n", nil,
			[]want{{"admin.addr", 14, []string{"both admin.addr"}, "keep only metrics.addr"}}},
		{"operator without prefixes and binds", "!redis: {addrs: [r:6379]}\noperators: [{name: Azercell!}]\nportals: [{id: p, apiKeySHA256: " + strings.Repeat("ab", 32) + "}]\n", nil,
			[]want{{"operators[0].name", 2, []string{`"Azercell!"`, "a-z"}, "lower-case"},
				{"operators[0].prefixes", 2, []string{"no prefixes"}, `["99450"`},
				{"operators[0].binds", 2, []string{"no binds"}, "addr, systemId and passwordEnv"}}},
		{"nothing configured", "!log: {level: info}\n", nil,
			[]want{{"redis.addrs", 0, []string{"no Redis address"}, "addrs:"},
				{"operators", 0, []string{"no operators"}, "imzagate.example.yaml"},
				{"portals", 0, []string{"no portals"}, "apiKeySHA256"}}},
		{"empty file", "!", nil, []want{{"(file)", 0, []string{"the file is empty"}, "imzagate.example.yaml"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := baseConfig + tt.yaml
			if strings.HasPrefix(tt.yaml, "!") {
				doc = tt.yaml[1:]
			}
			if doc != "" {
				doc += provisionedOnly
			}
			probs := CheckConfig([]byte(doc), checkEnv(tt.env))
			if len(probs) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(probs), len(tt.want), problemList(probs))
			}
			for i, w := range tt.want {
				p := probs[i]
				if p.Path != w.path || p.Line != w.line || !strings.Contains(p.Fix, w.fix) {
					t.Errorf("problem %d = %q at line %d, fix %q; want %s at line %d, fix with %q", i, p.Path, p.Line, p.Fix, w.path, w.line, w.fix)
				}
				for _, s := range w.what {
					if !strings.Contains(p.What, s) {
						t.Errorf("problem %d says %q; want it to contain %q", i, p.What, s)
					}
				}
				if m := goTerms.FindString(p.What + " " + p.Fix); m != "" {
					t.Errorf("problem %d names a program term %q: %s", i, m, p)
				}
			}
		})
	}
}

func problemList(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

// TestCheckConfigAllAtOnce: the shipped example with no secrets in the
// environment names every missing secret in one run, and none once they
// are all set; Options then succeeds too.
func TestCheckConfigAllAtOnce(t *testing.T) {
	data, err := os.ReadFile("../deploy/imzagate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	none := func(string) (string, bool) { return "", false }
	probs := CheckConfig(data, none)
	var vars []string
	for _, p := range probs {
		vars = append(vars, regexp.MustCompile(`IMZAGATE_[A-Z_]+`).FindAllString(p.What, -1)...)
	}
	want := []string{"IMZAGATE_REDIS_PASSWORD", "IMZAGATE_PEPPER", "IMZAGATE_MASTER_KIC", "IMZAGATE_MASTER_KID",
		"IMZAGATE_MASTER_KIC_MO", "IMZAGATE_MASTER_KID_MO", "IMZAGATE_SMPP_AZERCELL", "IMZAGATE_SMPP_AZERCELL",
		"IMZAGATE_SMPP_BAKCELL", "IMZAGATE_SMPP_NAR", "IMZAGATE_CALLBACK_ETAXES"}
	if strings.Join(vars, " ") != strings.Join(want, " ") {
		t.Fatalf("variables named %v, want %v:\n%s", vars, want, problemList(probs))
	}
	env := checkEnv(map[string]string{"IMZAGATE_REDIS_PASSWORD": "r", "IMZAGATE_SMPP_AZERCELL": "a", "IMZAGATE_SMPP_BAKCELL": "b",
		"IMZAGATE_SMPP_NAR": "n", "IMZAGATE_CALLBACK_ETAXES": "c"})
	// The example names the CA's files where the ConfigMap mounts them;
	// with those, nothing else is left to fix.
	probs = CheckConfig(data, env)
	if len(probs) != 1 || probs[0].Path != "trust.roots" || !strings.Contains(probs[0].What, "/etc/imzagate/trust/root.pem") {
		t.Fatalf("complete environment: %s", problemList(probs))
	}
}

// TestOptionsPepperRule: Options applies the same minimum as the check,
// counting the characters as written.
func TestOptionsPepperRule(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pepper string
		ok     bool
	}{{strings.Repeat("a", 31), false}, {strings.Repeat("a", 32), true}, {strings.Repeat("ab", 16), true}} {
		o, err := c.Options(checkEnv(map[string]string{"IMZAGATE_PEPPER": tt.pepper}), os.Stderr)
		if (err == nil) != tt.ok {
			t.Errorf("pepper of %d characters: %v", len(tt.pepper), err)
		}
		if err == nil {
			if string(o.Pepper) != tt.pepper {
				t.Errorf("pepper changed on the way: %d bytes", len(o.Pepper))
			}
			o.Redis.Close()
		} else if !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("error %q does not state the minimum", err)
		}
	}
}

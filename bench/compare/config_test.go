package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
)

func TestKannelConfig(t *testing.T) {
	cfg := kannelConfig{
		Dir: "/var/lib/compare", AdminPort: 13000, SmsboxPort: 13001, SendsmsPort: 13013, AdminPassword: "adm1n",
		SMSCHost: "127.0.0.1", SMSCPort: 2775, SystemID: "kannel", SMSCPassword: "pw", Window: 64,
		SendsmsUser: "compare", SendsmsPassword: "s3cret",
	}
	text := cfg.render()
	groups := parseKannelConf(t, text)
	want := map[string]map[string]string{
		"core": {"admin-port": "13000", "admin-interface": "127.0.0.1", "admin-password": "adm1n", "status-password": "adm1n",
			"smsbox-port": "13001", "box-allow-ip": "127.0.0.1", "log-level": "4", "dlr-storage": "internal",
			"log-file": "/var/lib/compare/bearerbox-file.log"},
		"smsc": {"smsc": "smpp", "host": "127.0.0.1", "port": "2775", "transceiver-mode": "true", "smsc-username": "kannel",
			"smsc-password": "pw", "max-pending-submits": "64", "msg-id-type": "0x03"},
		"smsbox": {"bearerbox-host": "127.0.0.1", "bearerbox-port": "13001", "sendsms-port": "13013",
			"sendsms-interface": "127.0.0.1", "log-level": "4"},
		"sendsms-user": {"username": "compare", "password": "s3cret", "max-messages": "1"},
	}
	for group, vars := range want {
		got, ok := groups[group]
		if !ok {
			t.Errorf("no group %s in\n%s", group, text)
			continue
		}
		for k, v := range vars {
			if got[k] != v {
				t.Errorf("%s.%s = %q, want %q", group, k, got[k], v)
			}
		}
	}
	if groups["smsc"]["system-type"] == "" {
		t.Error("bearerbox refuses an SMPP group without system-type")
	}
	if _, ok := groups["core"]["store-file"]; ok {
		t.Error("a store file would make Kannel persist what imzagate keeps in memory")
	}
}

// parseKannelConf reads kannel.conf's "group = x" blocks of "key = value"
// lines, unquoting values, and fails on a group given twice.
func parseKannelConf(t *testing.T, text string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	var cur map[string]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is not key = value", line)
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		if k == "group" {
			if _, dup := out[v]; dup && v != "sms-service" {
				t.Fatalf("group %s twice", v)
			}
			cur = map[string]string{}
			out[v] = cur
			continue
		}
		if cur == nil {
			t.Fatalf("%q before any group", line)
		}
		cur[k] = v
	}
	return out
}

func TestPctEncode(t *testing.T) {
	got := pctEncode([]byte{0x00, 'a', 'Z', '9', ' ', '%', '&', '+', 0x70, 0xFF})
	if want := "%00aZ9%20%25%26%2Bp%FF"; got != want {
		t.Fatalf("pctEncode = %q, want %q", got, want)
	}
	raw := make([]byte, 256)
	for i := range raw {
		raw[i] = byte(i)
	}
	back, err := url.QueryUnescape(pctEncode(raw))
	if err != nil || back != string(raw) {
		t.Fatalf("round trip lost octets: %v", err)
	}
}

func TestSendsmsQueryIsABinaryOTASMS(t *testing.T) {
	q, err := url.ParseQuery(strings.TrimPrefix(sendsmsQuery(true, "http://127.0.0.1:9/dlr?s=%d&x=1"), "&"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"coding": "1", "mclass": "2", "alt-dcs": "1", "pid": "127", "from": sourceAddr,
		"udh": "\x02\x70\x00", "dlr-mask": "3", "dlr-url": "http://127.0.0.1:9/dlr?s=%d&x=1"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	q, _ = url.ParseQuery(strings.TrimPrefix(sendsmsQuery(false, "http://x/"), "&"))
	if q.Has("dlr-mask") || q.Has("dlr-url") {
		t.Errorf("without DLR the query asks for one: %v", q)
	}
}

func TestKannelBins(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"bearerbox", "smsbox"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	bb, sb, err := kannelBins("", "")
	if err != nil || bb != filepath.Join(dir, "bearerbox") || sb != filepath.Join(dir, "smsbox") {
		t.Fatalf("kannelBins = %q, %q, %v", bb, sb, err)
	}
	if _, _, err := kannelBins(filepath.Join(dir, "nope"), ""); err == nil {
		t.Fatal("a missing given bearerbox was accepted")
	}
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	if _, err := os.Stat("/usr/sbin/bearerbox"); err == nil {
		t.Skip("Kannel is installed in /usr/sbin: the not-found message cannot be seen")
	}
	if _, _, err := kannelBins("", ""); err == nil || !strings.Contains(err.Error(), "apt-get install kannel") {
		t.Fatalf("err = %v, want how to install Kannel", err)
	}
}

func TestImzagateConfigParses(t *testing.T) {
	sec := newSecrets("smpp-pw")
	cfg := imzagateConfig{HTTPAddr: "127.0.0.1:18080", AdminAddr: "127.0.0.1:19090", RedisAddr: "127.0.0.1:16379",
		SMSCAddr: "127.0.0.1:12775", SystemID: imzagateSystemID, Window: 64, APIKeySHA256: gateway.HashAPIKey(sec.apiKey)}
	c, err := gateway.ParseConfig(strings.NewReader(cfg.render()))
	if err != nil {
		t.Fatalf("ParseConfig: %v\n%s", err, cfg.render())
	}
	if c.HTTP.Addr != cfg.HTTPAddr || c.Metrics.Addr != cfg.AdminAddr || len(c.Redis.Addrs) != 1 || c.Redis.Addrs[0] != cfg.RedisAddr {
		t.Errorf("listeners/redis: %+v %+v %+v", c.HTTP, c.Metrics, c.Redis)
	}
	if c.Log.Level != "error" || c.Sessions.UserTimeout != userTimeout {
		t.Errorf("log level %q, user timeout %v", c.Log.Level, c.Sessions.UserTimeout)
	}
	env := map[string]string{}
	for _, kv := range sec.env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	opts, err := c.Options(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	if string(opts.Pepper) != sec.pepper || opts.MasterKeys != sec.master {
		t.Error("secrets did not come through the environment")
	}
	if len(opts.Operators) != 1 || len(opts.Operators[0].Binds) != 1 {
		t.Fatalf("operators: %+v", opts.Operators)
	}
	op, b := opts.Operators[0], opts.Operators[0].Binds[0]
	if b.Addr != cfg.SMSCAddr || b.SystemID != imzagateSystemID || b.Password != "smpp-pw" || b.Window != 64 ||
		b.Type != smpp.BindTransceiver || op.TPS != 0 || len(op.Prefixes) != 1 || op.Prefixes[0] != imzagatePrefix {
		t.Errorf("bind %+v of operator %+v", b, op)
	}
	p := opts.Server.Portals
	if len(p) != 1 || p[0].APIKeySHA256 != gateway.HashAPIKey(sec.apiKey) || p[0].RateLimit < 1e5 {
		t.Errorf("portal %+v: the load must never meet its rate limit", p)
	}
}

// TestSubscribersImport writes subscribers the way provision does and
// imports them into a real redis-server: every line is accepted and the
// User IDs check against the phones they were written for.
func TestSubscribersImport(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	farm, err := newFarm(300)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	phones, err := writeSubscribers(&buf, farm, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(phones) != 200 || strings.Count(buf.String(), "\n") != 200 {
		t.Fatalf("%d phones, %d lines", len(phones), strings.Count(buf.String(), "\n"))
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l subscriberLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l.Phone, "+"+imzagatePrefix) || len(l.Phone) != 13 || l.Phone != phones[i].number || seen[l.Phone] {
			t.Fatalf("line %d: phone %q (want fresh +%s and 7 digits, as listed)", i, l.Phone, imzagatePrefix)
		}
		seen[l.Phone] = true
		if len(l.ICCID) != 19 || !luhnValid(l.ICCID) {
			t.Fatalf("line %d: ICCID %q is not 19 digits with a Luhn check digit", i, l.ICCID)
		}
		if len(l.Certificates) != 1 || l.Certificates[0].KeyRef != int(applet.KeyRefAuth) || l.Certificates[0].Status != sessions.StatusActive {
			t.Fatalf("line %d: certificates %+v: AUTHENTICATE needs an active key 01", i, l.Certificates)
		}
	}
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{srv.Addr}, ""))
	defer rdb.Close()
	st, err := sessions.New(rdb, sessions.Options{Pepper: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := st.ImportSubscribers(ctx, &buf, nil)
	if err != nil || n != 200 {
		t.Fatalf("import: %d, %v", n, err)
	}
	for _, i := range []int{0, 199} {
		if _, err := st.CheckUserID(ctx, phones[i].number, phones[i].userID); err != nil {
			t.Errorf("phone %d: %v", i, err)
		}
	}
}

func luhnValid(s string) bool {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func TestOptionsValidate(t *testing.T) {
	o := Options{Imzagate: "imzagate"}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if o.Concurrency != 64 || o.Run != 20*time.Second || o.Warmup != 2*time.Second || o.Pairs != 3 || o.Window != 100 {
		t.Errorf("defaults %+v", o)
	}
	if o.Phones != DefaultPhonesPerSecond*20*3 {
		t.Errorf("phones %d: want a phone per request at the default rate for every imzagate run", o.Phones)
	}
	bad := []Options{
		{},
		{Imzagate: "x", Concurrency: -1},
		{Imzagate: "x", Pairs: maxPairs + 1},
		{Imzagate: "x", Run: time.Second, Warmup: time.Second},
		{Imzagate: "x", Window: maxWindow + 1},
		{Imzagate: "x", Body: maxBody + 1},
		{Imzagate: "x", Phones: -5},
	}
	for i, b := range bad {
		if err := b.validate(); err == nil {
			t.Errorf("case %d: %+v accepted", i, b)
		}
	}
}

func TestOptionsMakePathsAbsolute(t *testing.T) {
	o := Options{Imzagate: "bin/imzagate", Imzabench: "bin/imzabench", Bearerbox: "bearerbox"}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if o.Imzagate != filepath.Join(wd, "bin/imzagate") || o.Imzabench != filepath.Join(wd, "bin/imzabench") {
		t.Errorf("paths %q %q: the gateways run in another directory", o.Imzagate, o.Imzabench)
	}
	if o.Bearerbox != "bearerbox" {
		t.Errorf("a bare name %q is for PATH, not the working directory", o.Bearerbox)
	}
}

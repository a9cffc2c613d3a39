package simstack

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// start runs a stack and shuts it down when the test ends.
func start(t *testing.T, opts Options) *Stack {
	t.Helper()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// call sends one API request to addr and decodes the JSON answer.
func call(t *testing.T, addr, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// login starts an authentication of sub on startAddr and long-polls it on
// pollAddr to its final answer.
func login(t *testing.T, startAddr, pollAddr, key string, sub Subscriber) map[string]any {
	t.Helper()
	st, m := call(t, startAddr, key, "POST", "/v1/authentications", map[string]any{
		"phoneNumber": sub.Phone, "userId": sub.UserID, "hash": strings.Repeat("A", 43) + "=", "hashType": "SHA256"})
	if st != 201 {
		t.Fatalf("start: %d %v", st, m)
	}
	_, got := call(t, pollAddr, key, "GET", "/v1/sessions/"+m["sessionId"].(string)+"?timeoutMs=20000", nil)
	return got
}

// TestEmbeddedStackCompletesALogin: the zero-value-like stack on the
// embedded Redis provisions every SIM and completes a login end to end
// with the algorithm asked for, through its generated portal key.
func TestEmbeddedStackCompletesALogin(t *testing.T) {
	s := start(t, Options{SIMs: 6, Seed: "simstack-test", Alg: applet.SigEd25519})
	key := s.APIKey("sim")
	if !regexp.MustCompile(`^sim-[0-9a-f]{32}$`).MatchString(key) || s.APIKeys()["sim"] != key {
		t.Fatalf("generated key %q, keys %v", key, s.APIKeys())
	}
	subs := s.Subscribers()
	if len(subs) != 6 {
		t.Fatalf("%d subscribers", len(subs))
	}
	for i, sub := range subs {
		rec, err := s.Farm().Record(i)
		if err != nil {
			t.Fatal(err)
		}
		if sub.Phone != "+"+rec.MSISDN || sub.UserID != rec.UserID || sub.Behaviour.Action != simcard.Approve || sub.Behaviour.Delay != 0 {
			t.Fatalf("subscriber %d %+v, card %s %s", i, sub, rec.MSISDN, rec.UserID)
		}
	}
	// The registry holds what Entry says, under the stack's pepper.
	entry, err := s.Entry(2)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Store().Subscriber(t.Context(), subs[2].Phone)
	if err != nil || stored.Operator != DefaultOperator || len(stored.Certificates) != len(entry.Certificates) || len(entry.Certificates) != 2 {
		t.Fatalf("stored %+v (%v), entry has %d certificates", stored, err, len(entry.Certificates))
	}
	got := login(t, s.APIAddr(), s.APIAddr(), key, subs[3])
	sig, _ := got["signature"].(map[string]any)
	if got["result"] != sessions.ResultOK || sig == nil || sig["algorithm"] != applet.SigEd25519.String() {
		t.Fatalf("login: %v", got)
	}
	if s.AdminAddr() != "" {
		t.Fatalf("admin listener %q runs by default", s.AdminAddr())
	}
	if id, pw := s.SMPPAccount(); id != DefaultSystemID || len(pw) != 8 || s.SMSC().Bound(id) != 1 {
		t.Fatalf("account %q/%q bound %d times", id, pw, s.SMSC().Bound(id))
	}
}

// TestReceiptsAndBehaviourBySIM: the receipt outcome given for a SIM index
// reaches that SIM's number, and the scripted user of another SIM decides
// its result.
func TestReceiptsAndBehaviourBySIM(t *testing.T) {
	s := start(t, Options{SIMs: 3, Seed: "simstack-receipts",
		Receipts: map[int]smsc.Outcome{1: smsc.Undeliverable},
		Behaviour: func(i int) simcard.Behaviour {
			if i == 2 {
				return simcard.Behaviour{Action: simcard.Cancel}
			}
			return simcard.Behaviour{Action: simcard.NoAnswer}
		},
		Server: gateway.ServerOptions{UserTimeout: 10 * time.Second, DeliveryGrace: time.Second},
	})
	key, subs := s.APIKey("sim"), s.Subscribers()
	if got := login(t, s.APIAddr(), s.APIAddr(), key, subs[1]); got["result"] != sessions.ResultDeliveryError {
		t.Fatalf("SIM 1 (undeliverable): %v", got)
	}
	if got := login(t, s.APIAddr(), s.APIAddr(), key, subs[2]); got["result"] != sessions.ResultUserCancelled {
		t.Fatalf("SIM 2 (cancels): %v", got)
	}
}

// TestInstancesShareRedisAndSMSC: two instances on one redis-server and
// one SMPP account; a session started on one is answered by the other, and
// the hook of the second sees only its own client's calls.
func TestInstancesShareRedisAndSMSC(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	s := start(t, Options{SIMs: 4, Seed: "simstack-two", Redis: Redis{Addrs: []string{srv.Addr}}, NoGateway: true,
		SystemID: "gw", Portals: []Portal{{Portal: gateway.Portal{ID: "p1", RateLimit: 100, Burst: 100}, APIKey: "key-p1"}}})
	if s.Gateway() != nil || s.APIAddr() != "" {
		t.Fatal("NoGateway started a gateway")
	}
	regA := prometheus.NewRegistry()
	a, err := s.StartInstance(t.Context(), Instance{Name: "a", Registry: regA})
	if err != nil {
		t.Fatal(err)
	}
	hook := &countHook{}
	b, err := s.StartInstance(t.Context(), Instance{Name: "b", RedisHook: hook})
	if err != nil {
		t.Fatal(err)
	}
	if gws := s.Gateways(); len(gws) != 2 || gws[0] != a || gws[1] != b || s.Gateway() != a {
		t.Fatalf("gateways %v", gws)
	}
	if n := s.SMSC().Bound("gw"); n != 2 {
		t.Fatalf("%d binds of account gw, want 2", n)
	}
	before := hook.n.Load()
	if got := login(t, a.APIAddr(), a.APIAddr(), "key-p1", s.Subscribers()[0]); got["result"] != sessions.ResultOK {
		t.Fatalf("on a: %v", got)
	}
	if got := login(t, a.APIAddr(), b.APIAddr(), "key-p1", s.Subscribers()[1]); got["result"] != sessions.ResultOK {
		t.Fatalf("started on a, polled on b: %v", got)
	}
	if hook.n.Load() == before {
		t.Fatal("instance b's hook saw none of its Redis calls")
	}
	mfs, err := regA.Gather()
	if err != nil || len(mfs) == 0 {
		t.Fatalf("instance a's registry is empty: %v", err)
	}
}

// TestStackOnCallersClient: a Client given is used as is and left open;
// an instance hook then has no client of its own to go on, and says so.
func TestStackOnCallersClient(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{srv.Addr}, ""))
	defer rdb.Close()
	s := start(t, Options{SIMs: 2, Seed: "simstack-client", Redis: Redis{Client: rdb}})
	if _, err := s.StartInstance(t.Context(), Instance{RedisHook: &countHook{}}); err == nil || !strings.Contains(err.Error(), "RedisHook") {
		t.Fatalf("hook on a shared client: %v", err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("the caller's client was closed: %v", err)
	}
	if _, err := s.StartInstance(t.Context(), Instance{}); err == nil || !strings.Contains(err.Error(), "shut down") {
		t.Fatalf("instance after Shutdown: %v", err)
	}
	if keys, err := srv.Do("DBSIZE"); err != nil || keys == "0" {
		t.Fatalf("nothing provisioned through the caller's client: %q %v", keys, err)
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"negative SIMs", Options{SIMs: -1}, "SIMs"},
		{"too many SIMs", Options{SIMs: simcard.MaxCards + 1}, "SIMs"},
		{"Alg and Profile", Options{Alg: applet.SigEd25519, Profile: simcard.DefaultProfile}, "exclusive"},
		{"unknown Alg", Options{Alg: 9}, "algorithm"},
		{"negative key pool", Options{KeyPool: -1}, "KeyPool"},
		{"too many binds", Options{Binds: maxBinds + 1}, "Binds"},
		{"negative window", Options{Window: -1}, "Window"},
		{"short pepper", Options{Pepper: []byte("short")}, "Pepper"},
		{"URL and Addrs", Options{Redis: Redis{URL: "redis://x", Addrs: []string{"x:1"}}}, "one of"},
		{"repeated portal", Options{Portals: []Portal{{Portal: gateway.Portal{ID: "p"}}, {Portal: gateway.Portal{ID: "p"}}}}, "portal 1"},
		{"portal without ID", Options{Portals: []Portal{{APIKey: "k"}}}, "portal 0"},
		{"bad Redis URL", Options{Redis: Redis{URL: "http://nope"}}, "Redis URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(t.Context(), tt.opts)
			if err == nil {
				_ = s.Shutdown(t.Context())
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

// TestDefaults: the zero value's secrets are fresh per stack and the
// portal key the caller gives is the one the gateway checks.
func TestDefaults(t *testing.T) {
	var a, b Options
	if err := a.validate(); err != nil {
		t.Fatal(err)
	}
	if err := b.validate(); err != nil {
		t.Fatal(err)
	}
	if a.MasterKeys == b.MasterKeys || bytes.Equal(a.Pepper, b.Pepper) || a.Password == b.Password || a.Portals[0].APIKey == b.Portals[0].APIKey {
		t.Fatal("two zero-value stacks share a secret")
	}
	if a.SIMs != DefaultSIMs || a.Seed != DefaultSeed || a.Operator != DefaultOperator || a.Binds != 1 || a.HTTPAddr != "127.0.0.1:0" {
		t.Fatalf("defaults %+v", a)
	}
	c := Options{Portals: []Portal{{Portal: gateway.Portal{ID: "p"}, APIKey: "given"}}}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Portals[0].APIKeySHA256 != gateway.HashAPIKey("given") {
		t.Fatal("the portal's hash is not of its key")
	}
}

func TestBindNames(t *testing.T) {
	s := &Stack{opts: Options{Binds: 3, SystemID: "gw", Password: "pw"}}
	names := func(name string, n int) []string {
		s.opts.Binds = n
		var out []string
		for _, b := range s.binds("127.0.0.1:1", name) {
			out = append(out, b.Name)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		n    int
		want string
	}{{"a", 1, "a"}, {"bench", 3, "bench-1,bench-2,bench-3"}, {"", 2, ","}} {
		if got := strings.Join(names(tt.name, tt.n), ","); got != tt.want {
			t.Errorf("binds(%q) × %d = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
}

// countHook counts the Redis commands of one client.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/smpp"
)

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the JSON lines whose msg starts with prefix.
func (l *logBuffer) lines(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// TestConfigLoggerDurations: the configuration's JSON logger writes
// durations as people read them; the text logger already does.
func TestConfigLoggerDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		c, err := ParseConfig(strings.NewReader("log: {format: " + format + "}"))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		l, err := c.logger(&buf)
		if err != nil {
			t.Fatal(err)
		}
		l.Warn("smpp bind failed", "retry_in", 1500*time.Millisecond, slog.Group("g", slog.Duration("after", 2*time.Second)))
		want := map[string][]string{"json": {`"retry_in":"1.5s"`, `"after":"2s"`}, "text": {"retry_in=1.5s", "g.after=2s"}}[format]
		for _, w := range want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s: %q lacks %q", format, buf.String(), w)
			}
		}
	}
}

// TestRedisLogger: the Redis client's own lines become warnings of
// component redis in the gateway's JSON log.
func TestRedisLogger(t *testing.T) {
	var buf logBuffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	RedisLogger(l).Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "connection refused")
	got := buf.lines(t, "connection pool")
	if len(got) != 1 || got[0]["level"] != "WARN" || got[0]["component"] != "redis" ||
		got[0]["msg"] != "connection pool: failed to dial after 5 attempts: connection refused" {
		t.Fatalf("lines %v", buf.String())
	}
}

// loggedGateway is an offline gateway (Redis and SMSC never reached)
// logging JSON into buf.
func loggedGateway(t *testing.T, buf *logBuffer, smscAddr string) *Gateway {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: refusedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	g, err := newGateway(t.Context(), Options{
		HTTPAddr: "127.0.0.1:0", AdminAddr: "off", Redis: rdb, Pepper: bytes.Repeat([]byte{1}, 32), MemorySegments: true,
		Operators: []smpp.Operator{{Name: "op", Prefixes: []string{"994"},
			Binds: []smpp.BindConfig{{Addr: smscAddr, SystemID: "gw", ReconnectMin: 20 * time.Millisecond}}}},
		Server:          ServerOptions{Portals: []Portal{{ID: "p", APIKeySHA256: HashAPIKey("right-key")}}},
		Logger:          slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{ReplaceAttr: ReadableDurations})),
		ShutdownTimeout: 2 * time.Second,
		Trust:           trust.Options{Mode: trust.ModeProvisionedOnly},
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRefusedKeyLog: a refused key gets the one UNAUTHORIZED answer, and
// the operator a log line with the reason and its common causes, the
// portal unknown and no key material; a flood is cut to a few lines, the
// next one counting what was left out.
func TestRefusedKeyLog(t *testing.T) {
	var buf logBuffer
	g := loggedGateway(t, &buf, refusedAddr(t))
	now := time.Unix(1_700_000_000, 0)
	g.core.portals.refusals.now = func() time.Time { return now }
	h := g.server.Handler()
	const badKey = "wrong-key-0123456789"
	send := func(auth string) int {
		req, _ := http.NewRequest("GET", "/v1/sessions/0123456789abcdef0123456789abcdef", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, req)
		if !strings.Contains(rec.body.String(), `"code":"UNAUTHORIZED"`) {
			t.Fatalf("answer %d %s", rec.status, rec.body.String())
		}
		return rec.status
	}
	for _, auth := range []string{"", badKey, "Bearer " + badKey} {
		if st := send(auth); st != 401 {
			t.Fatalf("%q: status %d", auth, st)
		}
	}
	lines := buf.lines(t, "API key refused")
	wantReasons := []string{"no Authorization header", `does not start with "Bearer "`, "no portal is configured with this key's SHA-256"}
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		if !strings.Contains(l["reason"].(string), wantReasons[i]) || l["portal"] != "unknown" || l["level"] != "WARN" || l["common_causes"] == "" {
			t.Errorf("line %d: %v", i, l)
		}
	}
	if c := lines[2]["common_causes"].(string); !strings.Contains(c, "printf %s") || !strings.Contains(c, "another gateway") {
		t.Errorf("causes of an unknown key: %q", c)
	}
	for _, secret := range []string{badKey, HashAPIKey(badKey), HashAPIKey("right-key")} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("key material in the log:\n%s", buf.String())
		}
	}
	// A flood: two more fit the burst of five, the rest are counted.
	for range 50 {
		send("Bearer " + badKey)
	}
	if n := len(buf.lines(t, "API key refused")); n != 5 {
		t.Fatalf("%d lines after a flood of 50, want 5", n)
	}
	now = now.Add(6 * time.Second)
	send("Bearer " + badKey)
	lines = buf.lines(t, "API key refused")
	if len(lines) != 6 || lines[5]["suppressed_before"] != float64(48) {
		t.Fatalf("line after the flood: %v", lines[len(lines)-1])
	}
}

// recorder is a minimal ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}

// TestWarnUnbound: an operator whose SMSC cannot be reached is named in a
// warning with its address and the last error, once the grace has passed.
func TestWarnUnbound(t *testing.T) {
	old := startupGrace
	startupGrace = 200 * time.Millisecond
	t.Cleanup(func() { startupGrace = old })
	var buf logBuffer
	smsc := refusedAddr(t)
	g := loggedGateway(t, &buf, smsc)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(buf.lines(t, "operator unreachable")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no warning:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	w := buf.lines(t, "operator unreachable")
	if len(w) != 1 || w[0]["operator"] != "op" || w[0]["addrs"] != smsc || !strings.Contains(w[0]["last_error"].(string), "refused") ||
		w[0]["after"] != "200ms" {
		t.Fatalf("warnings %v", w)
	}
	for _, l := range buf.lines(t, "smpp bind failed") {
		if _, ok := l["retry_in"].(string); !ok {
			t.Fatalf("retry_in not readable: %v", l)
		}
	}
}

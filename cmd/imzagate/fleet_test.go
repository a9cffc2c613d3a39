package main

// The fleet harness of the scale-out tests: the test process hosts the
// Redis processes, the test SMSC and the simulated SIM farm; every gateway
// is a real child process (`imzagate serve --config FILE`, the test binary
// re-run through TestHelperProcess) with its own generated configuration,
// all binding to the SMSC with one account, as a fleet would.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp/smsc"
)

const (
	fleetAccount  = "gw"
	fleetPassword = "smpp-pw"
	fleetAPIKey   = "fleet-key-0123456789"
	// fleetBindCap is the operator's bind limit in these tests: three
	// instances with one bind each fill it exactly, so a restarted instance
	// that bound before its predecessor's session was gone would be refused.
	fleetBindCap = 3
)

// fleetOptions shape a fleet.
type fleetOptions struct {
	// Redis addresses: one server, the three masters of a Cluster, or the
	// sentinels (with MasterName).
	RedisAddrs []string
	MasterName string
	// ProvisionAddr, with MasterName, is the master to write the
	// subscribers to directly: a Sentinel client in this process would log
	// through go-redis's global logger into the test output.
	ProvisionAddr string
	// Cards in the farm; each card is one phone (one running session).
	Cards int
	// UserDelay is how long the simulated user takes to approve.
	UserDelay time.Duration
	// SlowFrom makes cards from this index on take SlowDelay instead (0: none).
	SlowFrom  int
	SlowDelay time.Duration
}

// fleet is the shared world of one scale-out test.
type fleet struct {
	t       *testing.T
	opts    fleetOptions
	master  applet.MasterKeys
	pepper  string
	farm    *simcard.Farm
	hs      *countingHandset
	sm      *smsc.Server
	records []simcard.Record
	dir     string
	hc      *http.Client
}

// newFleet starts the SMSC with the farm behind it and provisions every card
// into Redis through the same store code the gateways use.
func newFleet(t *testing.T, opts fleetOptions) *fleet {
	t.Helper()
	f := &fleet{t: t, opts: opts, pepper: testPepper, dir: t.TempDir(),
		hc: &http.Client{Timeout: 20 * time.Second}}
	ro := sessions.ClientOptions(opts.RedisAddrs, opts.MasterName)
	if opts.MasterName != "" {
		ro = sessions.ClientOptions([]string{opts.ProvisionAddr}, "")
	}
	rdb := redis.NewUniversalClient(ro)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := simstack.Start(ctx, simstack.Options{
		Redis: simstack.Redis{Client: rdb}, NoGateway: true,
		SIMs: opts.Cards, Seed: "scale-out", Prefixes: []string{"99450"}, KeyPool: 4,
		Behaviour: func(i int) simcard.Behaviour {
			if opts.SlowFrom > 0 && i >= opts.SlowFrom {
				return simcard.Behaviour{Action: simcard.Approve, Delay: opts.SlowDelay}
			}
			return simcard.Behaviour{Action: simcard.Approve, Delay: opts.UserDelay}
		},
		Handset: func(farm *simcard.Farm) smsc.Handset {
			f.hs = &countingHandset{farm: farm, accepted: map[string][]uint64{}}
			return f.hs
		},
		Operator: "azercell", SystemID: fleetAccount, Password: fleetPassword,
		SMSC:      smsc.Options{MaxBinds: fleetBindCap, MaxAttempts: 1000, RedeliveryDelay: 50 * time.Millisecond, RequestTimeout: 5 * time.Second},
		Pepper:    []byte(f.pepper),
		SimLogger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		rdb.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = st.Shutdown(context.Background())
		rdb.Close()
	})
	f.master, f.farm, f.sm = st.MasterKeys(), st.Farm(), st.SMSC()
	for i := range opts.Cards {
		rec, err := f.farm.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		f.records = append(f.records, rec)
	}
	return f
}

// countingHandset passes MT to the farm and records, per card, every MT
// counter the card accepted (its last accepted counter moved). The card
// rejects a counter that is not higher than the last one with an error PoR,
// so a reused counter shows up twice: as a missing entry here and as a
// SIM_ERROR result. MT segments are handed over one at a time (the SMSC
// has several workers) so that each before/after pair sees only its own
// segment's effect; the farm answers asynchronously, so this costs little.
type countingHandset struct {
	farm     *simcard.Farm
	mu       sync.Mutex
	accepted map[string][]uint64
}

// HandleMT implements smsc.Handset.
func (h *countingHandset) HandleMT(msisdn string, ud []byte, reply func([]byte)) error {
	c, ok := h.farm.Lookup(msisdn)
	if !ok {
		return simcard.ErrUnknownNumber
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	before, _ := c.Counters()
	err := h.farm.HandleMT(msisdn, ud, reply)
	if after, _ := c.Counters(); after != before {
		h.accepted[msisdn] = append(h.accepted[msisdn], after)
	}
	return err
}

// counters returns a copy of the accepted counters of one card.
func (h *countingHandset) counters(msisdn string) []uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]uint64(nil), h.accepted[msisdn]...)
}

// gwProc is one gateway child process; it can be killed and started again
// on the same ports with the same configuration.
type gwProc struct {
	name    string
	f       *fleet
	cfgPath string
	api     string // http://host:port
	admin   string // http://host:port
	env     []string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	logs    *lockedBuffer
}

// lockedBuffer collects a child's output; the child writes while tests read.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 { // bound the memory a chatty child can take
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gateway writes the configuration of one instance, starts it and waits
// until it is ready. bindType is transceiver, transmitter or receiver. A
// port found free can be taken before the child binds it (a Redis Cluster
// node's bus port is its port + 10000), so that case is retried on new ports.
func (f *fleet) gateway(name, bindType string) *gwProc {
	t := f.t
	t.Helper()
	for attempt := 1; ; attempt++ {
		g := f.launch(name, bindType)
		err := g.waitReadyErr(30 * time.Second)
		if err == nil {
			return g
		}
		if attempt < 5 && strings.Contains(g.logs.String(), "address already in use") {
			continue
		}
		t.Fatal(err)
	}
}

// launch writes the configuration on fresh ports and starts the child.
func (f *fleet) launch(name, bindType string) *gwProc {
	t := f.t
	t.Helper()
	httpPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	adminPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]string, len(f.opts.RedisAddrs))
	for i, a := range f.opts.RedisAddrs {
		addrs[i] = strconv.Quote(a)
	}
	masterName := ""
	if f.opts.MasterName != "" {
		masterName = ", masterName: " + strconv.Quote(f.opts.MasterName)
	}
	// The gateways trust the farm's CA; its certificates name no responder,
	// so logins (soft-fail) go on with status unknown.
	caFile := filepath.Join(f.dir, "farm-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.farm.CA().Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`# instance %s of the scale-out tests
trust: {roots: [%q]}
http: {addr: "127.0.0.1:%d"}
metrics: {addr: "127.0.0.1:%d"}
log: {format: json, level: info}
redis: {addrs: [%s]%s}
sessions: {userTimeout: 10s, deliveryGrace: 5s}
shutdownTimeout: 10s
operators:
  - name: azercell
    prefixes: ["99450"]
    binds:
      - {addr: %q, systemId: %s, systemType: %s, passwordEnv: TEST_SMPP_PW, type: %s, window: 10, sourceAddr: "9944000"}
portals:
  - {id: p1, displayName: Test, apiKeySHA256: %s, rateLimit: 1000, burst: 1000}
`, name, caFile, httpPort, adminPort, strings.Join(addrs, ", "), masterName, f.sm.Addr(), fleetAccount, name, bindType,
		gateway.HashAPIKey(fleetAPIKey))
	path := filepath.Join(f.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gwProc{name: name, f: f, cfgPath: path,
		api: fmt.Sprintf("http://127.0.0.1:%d", httpPort), admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		env: []string{"IMZAGATE_HELPER=1", "IMZAGATE_PEPPER=" + f.pepper, "TEST_SMPP_PW=" + fleetPassword,
			"IMZAGATE_MASTER_KIC=" + hex.EncodeToString(f.master.KIc[:]), "IMZAGATE_MASTER_KID=" + hex.EncodeToString(f.master.KID[:]),
			"IMZAGATE_MASTER_KIC_MO=" + hex.EncodeToString(f.master.KIcMO[:]), "IMZAGATE_MASTER_KID_MO=" + hex.EncodeToString(f.master.KIDMO[:])},
		logs: &lockedBuffer{}}
	g.start()
	t.Cleanup(func() {
		g.kill()
		if t.Failed() {
			t.Logf("gateway %s log (tail):\n%s", g.name, tail(g.logs.String(), 30))
		}
	})
	return g
}

// start runs the child process.
func (g *gwProc) start() {
	t := g.f.t
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "--", "serve", "--config", g.cfgPath)
	cmd.Env = append(os.Environ(), g.env...)
	cmd.Stdout, cmd.Stderr = g.logs, g.logs
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	g.mu.Lock()
	g.cmd, g.done, g.exitErr = cmd, done, nil
	g.mu.Unlock()
	go func() {
		err := cmd.Wait()
		g.mu.Lock()
		g.exitErr = err
		g.mu.Unlock()
		close(done)
	}()
}

// signal sends sig to the running child.
func (g *gwProc) signal(sig syscall.Signal) {
	g.mu.Lock()
	cmd := g.cmd
	g.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// kill ends the child with SIGKILL (no shutdown at all) and waits for it.
func (g *gwProc) kill() {
	g.signal(syscall.SIGKILL)
	g.wait(10 * time.Second)
}

// wait waits up to d for the child to exit and returns its exit error, or
// an error when it is still running.
func (g *gwProc) wait(d time.Duration) error {
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.exitErr
	case <-time.After(d):
		return fmt.Errorf("gateway %s still running after %v", g.name, d)
	}
}

// exited reports whether the child has exited.
func (g *gwProc) exited() bool {
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// readyStatus is /readyz's status code, or 0 when the admin listener does
// not answer.
func (g *gwProc) readyStatus() int {
	resp, err := g.f.hc.Get(g.admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady waits until /readyz answers 200: Redis reachable and the bind
// up.
func (g *gwProc) waitReady(d time.Duration) {
	g.f.t.Helper()
	if err := g.waitReadyErr(d); err != nil {
		g.f.t.Fatal(err)
	}
}

// waitReadyErr is waitReady returning the failure.
func (g *gwProc) waitReadyErr(d time.Duration) error {
	deadline := time.Now().Add(d)
	for g.readyStatus() != http.StatusOK {
		if g.exited() {
			return fmt.Errorf("gateway %s exited: %v\n%s", g.name, g.wait(0), tail(g.logs.String(), 30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateway %s not ready after %v\n%s", g.name, d, tail(g.logs.String(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// metric sums the samples of the series of /metrics whose name is name and
// whose labels contain every given label="value" pair.
func (g *gwProc) metric(name string, labels ...string) (float64, error) {
	resp, err := g.f.hc.Get(g.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return sumSeries(resp.Body, name, labels...)
}

// sumSeries reads the Prometheus text format and sums the matching samples.
func sumSeries(r io.Reader, name string, labels ...string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // a longer name with this prefix
		}
		sp := strings.LastIndexByte(rest, ' ')
		for _, l := range labels {
			if !strings.Contains(rest[:sp], l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(rest[sp+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// mustMetric is metric that fails the test on error.
func (g *gwProc) mustMetric(name string, labels ...string) float64 {
	g.f.t.Helper()
	v, err := g.metric(name, labels...)
	if err != nil {
		g.f.t.Fatalf("gateway %s metrics: %v", g.name, err)
	}
	return v
}

// Outcomes of one session as the portal saw it.
const (
	// outcomeStartFailed: the start was answered with a problem (no session).
	outcomeStartFailed = "START_FAILED"
	// outcomeStartCut: the connection broke before the start's answer (the
	// portal does not know whether a session exists).
	outcomeStartCut = "START_CUT"
	// outcomeNotFound: the session the portal started is unknown to the store.
	outcomeNotFound = "NOT_FOUND"
	// outcomeNoResult: no final result within the test's bound.
	outcomeNoResult = "NO_RESULT"
)

// session is one session driven by the portal client.
type session struct {
	card    int
	startOn string
	id      string
	code    string // the start problem's code, for outcomeStartFailed
	outcome string // a final result (OK, TIMEOUT, ...) or one of the outcome* values
	started time.Time
}

// startSession starts a login for card on g. It returns the session with
// outcome set when the start did not give a session id.
func (f *fleet) startSession(ctx context.Context, g *gwProc, card int, noKeepAlive bool) *session {
	rec := f.records[card]
	s := &session{card: card, startOn: g.name, started: time.Now()}
	body, _ := json.Marshal(map[string]any{"phoneNumber": "+" + rec.MSISDN, "userId": rec.UserID,
		"hash": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "hashType": "SHA256", "displayText": "Scale-out test"})
	req, _ := http.NewRequestWithContext(ctx, "POST", g.api+"/v1/authentications", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+fleetAPIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Close = noKeepAlive
	resp, err := f.hc.Do(req)
	if err != nil {
		s.outcome = outcomeStartCut
		return s
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m)
	if resp.StatusCode != http.StatusCreated {
		s.outcome, s.code = outcomeStartFailed, fmt.Sprintf("%d %v", resp.StatusCode, m["code"])
		return s
	}
	s.id, _ = m["sessionId"].(string)
	if s.id == "" {
		s.outcome, s.code = outcomeStartFailed, "201 without sessionId"
	}
	return s
}

// poll long-polls s to its final result, on the instances order gives for
// each attempt (the first live one that answers), until deadline.
func (f *fleet) poll(ctx context.Context, s *session, deadline time.Time, order func(attempt int) []*gwProc) {
	for attempt := 0; time.Now().Before(deadline) && ctx.Err() == nil; attempt++ {
		answered := false
		for _, g := range order(attempt) {
			st, m, err := f.get(ctx, g, s.id, 3000)
			if err != nil {
				continue // that instance is gone: ask another
			}
			answered = true
			switch {
			case st == http.StatusOK && m["state"] == "COMPLETE":
				s.outcome, _ = m["result"].(string)
				return
			case st == http.StatusNotFound:
				s.outcome = outcomeNotFound
				return
			case st == http.StatusOK:
				// Still running: poll again.
			default:
				// The store is unavailable (failover): back off a little.
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
			break
		}
		if !answered { // no instance answered: do not spin
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	s.outcome = outcomeNoResult
}

// get is one GET /v1/sessions/{id}?timeoutMs=wait on g.
func (f *fleet) get(ctx context.Context, g *gwProc, id string, wait int) (int, map[string]any, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/sessions/%s?timeoutMs=%d", g.api, id, wait), nil)
	req.Header.Set("Authorization", "Bearer "+fleetAPIKey)
	resp, err := f.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, m, nil
}

// tally counts sessions by outcome.
func tally(ss []*session) map[string]int {
	m := map[string]int{}
	for _, s := range ss {
		m[s.outcome]++
	}
	return m
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

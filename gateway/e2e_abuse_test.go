package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// Cards of the abuse world, one per scenario.
const (
	abReflect = iota
	abJunk
	abRelabelA
	abRelabelB
	abAbsent
	abBarred
	abSIMFull
	abResync
	abMLDSA
	abIdem
	abParallel
	abSegJunk // its number sends junk first parts
	abSpread  // the first of abSpreadN numbers whose junk fills the total cap
	abCards   = abSpread + abSpreadN
)

const abSpreadN = 10

// tapHandset sits between the test SMSC and the SIM farm: it keeps every
// MT it hands on, and holds back the replies of the numbers it is told to.
type tapHandset struct {
	farm    *simcard.Farm
	mu      sync.Mutex
	mts     map[string][][]byte
	hold    map[string]bool
	held    map[string][][]byte
	changed chan struct{}
}

func newTap(f *simcard.Farm) *tapHandset {
	return &tapHandset{farm: f, mts: map[string][][]byte{}, hold: map[string]bool{}, held: map[string][][]byte{},
		changed: make(chan struct{}, 100)}
}

// HandleMT implements smsc.Handset.
func (h *tapHandset) HandleMT(msisdn string, ud []byte, reply func([]byte)) error {
	h.mu.Lock()
	h.mts[msisdn] = append(h.mts[msisdn], bytes.Clone(ud))
	hold := h.hold[msisdn]
	h.mu.Unlock()
	h.signal()
	if hold {
		reply = func(p []byte) {
			h.mu.Lock()
			h.held[msisdn] = append(h.held[msisdn], bytes.Clone(p))
			h.mu.Unlock()
			h.signal()
		}
	}
	return h.farm.HandleMT(msisdn, ud, reply)
}

func (h *tapHandset) signal() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// wait returns what get finds, polling until it finds something or 10 s pass.
func (h *tapHandset) wait(t *testing.T, what string, get func() [][]byte) [][]byte {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		got := get()
		h.mu.Unlock()
		if len(got) > 0 {
			return got
		}
		select {
		case <-h.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// abuseWorld is one gateway on a real redis-server with two operators:
// azercell, whose test SMSC hands MTs to the tapped farm, and silent,
// whose SMSC binds and answers enquire_link but never answers submit_sm.
type abuseWorld struct {
	gw      *gateway.Gateway
	farm    *simcard.Farm
	tap     *tapHandset
	sm      *smsc.Server
	records []simcard.Record
	reg     *prometheus.Registry
	rdb     redis.UniversalClient
	e       *env
	admin   string
}

const silentTimeout = 300 * time.Millisecond

func startAbuseWorld(t *testing.T) *abuseWorld {
	t.Helper()
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	var master applet.MasterKeys
	for _, k := range []*[16]byte{&master.KIc, &master.KID, &master.KIcMO, &master.KIDMO} {
		_, _ = rand.Read(k[:])
	}
	farm, err := simcard.New(simcard.Options{Cards: abCards, Seed: []byte("abuse"), Master: master, Prefixes: []string{"99450"}, KeyPool: 2,
		Behaviour: func(i int) simcard.Behaviour {
			switch i {
			case abReflect, abJunk, abRelabelB:
				return simcard.Behaviour{Action: simcard.Approve, Delay: 1500 * time.Millisecond}
			case abParallel:
				// Slow enough that every parallel start meets the running
				// session, however busy the machine: a start after the first
				// one completed would rightly win too.
				return simcard.Behaviour{Action: simcard.Approve, Delay: 2 * time.Second}
			}
			return simcard.Behaviour{Action: simcard.Approve, Delay: 20 * time.Millisecond}
		},
		Profile: func(int) []simcard.SlotSpec {
			return []simcard.SlotSpec{
				{Ref: applet.KeyRefAuth, Alg: applet.SigECDSAP256, Kind: testca.Personal},
				{Ref: 0x04, Alg: applet.SigMLDSA44, Kind: testca.Government, Organization: "Agency", VOEN: govVOEN},
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	w := &abuseWorld{farm: farm, tap: newTap(farm), reg: prometheus.NewRegistry()}
	for i := range abCards {
		rec, err := farm.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		w.records = append(w.records, rec)
	}
	gsm := func(code uint16) smpp.NetworkError { return smpp.NetworkError{Type: smpp.NetGSM, Code: code} }
	w.sm = smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "pw"}, Handset: w.tap, QueueSize: 20000,
		Receipts: map[string]smsc.Outcome{w.records[abAbsent].MSISDN: smsc.Undeliverable, w.records[abBarred].MSISDN: smsc.Undeliverable,
			w.records[abSIMFull].MSISDN: smsc.Undeliverable},
		ReceiptErrors: map[string]smpp.NetworkError{w.records[abAbsent].MSISDN: gsm(27), w.records[abBarred].MSISDN: gsm(13),
			w.records[abSIMFull].MSISDN: gsm(32)},
	})
	silent := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "pw"}, Faults: smsc.Faults{UnansweredSubmits: true}})
	w.rdb = redis.NewUniversalClient(sessions.ClientOptions([]string{srv.Addr}, ""))
	t.Cleanup(func() { w.rdb.Close() })
	w.gw, err = gateway.Start(t.Context(), gateway.Options{
		// These tests are about what the network sends, not about the
		// certificates: the registry's word is enough.
		Trust:    trust.Options{Mode: trust.ModeProvisionedOnly},
		HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Redis: w.rdb, Pepper: bytes.Repeat([]byte{5}, 32), MasterKeys: master,
		Operators: []smpp.Operator{
			{Name: "azercell", Prefixes: []string{"99450"}, Binds: []smpp.BindConfig{{Addr: w.sm.Addr(), SystemID: "gw", Password: "pw", SourceAddr: "9944000"}}},
			{Name: "silent", Prefixes: []string{"99477"}, SubmitTimeout: silentTimeout, Breaker: smpp.BreakerConfig{Failures: 3, OpenTimeout: time.Minute},
				Binds: []smpp.BindConfig{{Addr: silent.Addr(), SystemID: "gw", Password: "pw", EnquireLinkInterval: 50 * time.Millisecond}}},
		},
		Segments: sessions.SegmentOptions{MaxPerSender: 64, MaxTotal: 300},
		Server: gateway.ServerOptions{
			Portals: []gateway.Portal{
				{ID: "p1", DisplayName: "e-taxes", APIKeySHA256: gateway.HashAPIKey("key-p1"), RateLimit: 1000, Burst: 1000},
				{ID: "guesser", DisplayName: "guesser", APIKeySHA256: gateway.HashAPIKey("key-guesser"), RateLimit: 1000, Burst: 1000,
					UserIDBudget: sessions.Budget{Failures: 3, Window: time.Minute, Block: time.Minute}},
			},
			UserTimeout: 10 * time.Second, DeliveryGrace: 10 * time.Second,
		},
		Registry: w.reg, ShutdownTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.gw.Shutdown(ctx)
	})
	for i, rec := range w.records {
		sub, err := simstack.Entry(rec, "azercell")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.gw.Store().PutSubscriber(t.Context(), sub, rec.UserID); err != nil {
			t.Fatal(err)
		}
		if i == abIdem {
			for n := 1; n <= 4; n++ { // numbers of the silent operator
				sub.Phone, sub.ICCID = fmt.Sprintf("+99477000000%d", n), fmt.Sprintf("899947700000000000%d", n)
				if err := w.gw.Store().PutSubscriber(t.Context(), sub, rec.UserID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	waitReady(t, w.gw)
	w.e = &env{base: "http://" + w.gw.APIAddr(), keys: map[string]string{"p1": "key-p1", "guesser": "key-guesser"}, records: w.records}
	w.admin = "http://" + w.gw.AdminAddr()
	return w
}

// deliverMO has the SMSC deliver user data ud as an MO from msisdn.
func (w *abuseWorld) deliverMO(t *testing.T, msisdn string, esm, dcs byte, ud []byte) {
	t.Helper()
	if err := w.sm.Deliver("gw", &smpp.DeliverSM{Message: smpp.Message{SourceTON: 1, SourceNPI: 1, SourceAddr: msisdn,
		DestTON: 1, DestNPI: 1, DestAddr: "9944000", ESMClass: esm, ProtocolID: 0x7F, DataCoding: dcs, ShortMessage: ud}}); err != nil {
		t.Fatal(err)
	}
}

// otaErrors reads imzagate_ota_errors_total for reason.
func (w *abuseWorld) otaErrors(t *testing.T, reason string) float64 {
	return metricSum(t, w.reg, "imzagate_ota_errors_total", reason)
}

// login starts a login on card i and returns the session id.
func (w *abuseWorld) login(t *testing.T, i int) string {
	t.Helper()
	st, m, _ := w.e.do(t, "p1", "POST", "/v1/authentications", w.e.startReq(i, "SHA256", nil))
	if st != 201 {
		t.Fatalf("start on card %d: %d %v", i, st, m)
	}
	return m["sessionId"].(string)
}

// state reads a session's state without waiting.
func (w *abuseWorld) state(t *testing.T, id string) string {
	t.Helper()
	st, m, _ := w.e.do(t, "p1", "GET", "/v1/sessions/"+id, nil)
	if st != 200 {
		t.Fatalf("poll: %d %v", st, m)
	}
	return fmt.Sprint(m["state"])
}

// wantOK long-polls session id and wants it OK with a signature.
func (w *abuseWorld) wantOK(t *testing.T, id string) {
	t.Helper()
	got := w.e.finish(t, "p1", id)
	if got["result"] != sessions.ResultOK || got["signature"] == nil {
		t.Fatalf("session %s: %v", id, got)
	}
}

// TestUnauthenticatedMOsChangeNothing: a reflected MT, a 3-byte junk SMS
// and a genuine reply of another card relabelled as this phone's reach
// the gateway through the SMSC while a session runs; none changes it, each
// is counted by reason, and the genuine reply completes the session OK.
func TestUnauthenticatedMOsChangeNothing(t *testing.T) {
	w := startAbuseWorld(t)
	t.Run("reflected MT", func(t *testing.T) {
		t.Parallel()
		msisdn := w.records[abReflect].MSISDN
		id := w.login(t, abReflect)
		mt := w.tap.wait(t, "the MT", func() [][]byte { return w.tap.mts[msisdn] })
		w.deliverMO(t, msisdn, smpp.ESMClassUDHI, 0xF6, mt[0])
		testutil.Eventually(t, 5*time.Second, "the reflected MT counted", func() bool { return w.otaErrors(t, "echoed_mt") >= 1 })
		if s := w.state(t, id); s != sessions.StateRunning {
			t.Fatalf("session %s after the reflected MT", s)
		}
		w.wantOK(t, id)
	})
	t.Run("junk 3-byte SMS", func(t *testing.T) {
		t.Parallel()
		id := w.login(t, abJunk)
		w.tap.wait(t, "the MT", func() [][]byte { return w.tap.mts[w.records[abJunk].MSISDN] })
		w.deliverMO(t, w.records[abJunk].MSISDN, 0, 0x04, []byte("abc"))
		testutil.Eventually(t, 5*time.Second, "the junk counted", func() bool { return w.otaErrors(t, "format") >= 1 })
		if s := w.state(t, id); s != sessions.StateRunning {
			t.Fatalf("session %s after the junk", s)
		}
		w.wantOK(t, id)
	})
	t.Run("card A's reply relabelled as phone B's", func(t *testing.T) {
		t.Parallel()
		a, b := w.records[abRelabelA].MSISDN, w.records[abRelabelB].MSISDN
		w.tap.mu.Lock()
		w.tap.hold[a] = true
		w.tap.mu.Unlock()
		idA := w.login(t, abRelabelA)
		reply := w.tap.wait(t, "card A's reply", func() [][]byte { return w.tap.held[a] })
		idB := w.login(t, abRelabelB)
		before := w.otaErrors(t, "checksum")
		for _, seg := range reply {
			w.deliverMO(t, b, smpp.ESMClassUDHI, 0xF6, seg)
		}
		testutil.Eventually(t, 5*time.Second, "the relabelled reply counted", func() bool { return w.otaErrors(t, "checksum") > before })
		if s := w.state(t, idB); s != sessions.StateRunning {
			t.Fatalf("phone B's session %s after card A's reply", s)
		}
		w.wantOK(t, idB)
		for _, seg := range reply { // the reply reaches the gateway from A after all
			w.deliverMO(t, a, smpp.ESMClassUDHI, 0xF6, seg)
		}
		w.wantOK(t, idA)
	})
}

// TestSilentSMSC: the silent operator's SMSC keeps its bind and answers
// enquire_link but never answers submit_sm. Each start returns within the
// operator's submit timeout with 503 (never 201), its session ends as
// DELIVERY_ERROR without a submitted stamp, the breaker opens after three,
// the next start fails fast, and /readyz names the operator.
func TestSilentSMSC(t *testing.T) {
	w := startAbuseWorld(t)
	completed := func() float64 {
		return metricSum(t, w.reg, "imzagate_sessions_completed_total", sessions.ResultDeliveryError)
	}
	submittedStage := func() float64 {
		return metricValueOf(t, w.reg, "imzagate_session_stage_seconds", "stage", "accepted_submitted")
	}
	stampsBefore := submittedStage()
	for n := 1; n <= 4; n++ {
		r := w.e.startReq(abIdem, "SHA256", nil)
		r["phoneNumber"] = fmt.Sprintf("+99477000000%d", n)
		start := time.Now()
		st, m, _ := w.e.do(t, "p1", "POST", "/v1/authentications", r)
		took := time.Since(start)
		if st != 503 || m["code"] != gateway.CodeOperatorUnavailable {
			t.Fatalf("start %d: %d %v", n, st, m)
		}
		if took > silentTimeout+time.Second {
			t.Fatalf("start %d took %v, bound %v", n, took, silentTimeout)
		}
		if n == 4 && took > silentTimeout/2 {
			t.Fatalf("start %d with the breaker open took %v: not fail-fast", n, took)
		}
	}
	if got := completed(); got != 4 {
		t.Fatalf("DELIVERY_ERROR completions %v, want 4 (every session whose SMS nobody accepted)", got)
	}
	if submittedStage() != stampsBefore {
		t.Fatal("a session without a submit_sm_resp was stamped submitted")
	}
	if v := metricSumLabels(t, w.reg, "imzagate_smpp_breaker_state", map[string]string{"operator": "silent"}); v != 2 {
		t.Fatalf("breaker state %v, want 2 (open)", v)
	}
	if v := metricSumLabels(t, w.reg, "imzagate_smpp_submits_total", map[string]string{"operator": "silent", "status": "outcome_unknown"}); v != 3 {
		t.Fatalf("unanswered submits counted %v, want 3", v)
	}
	resp, err := http.Get(w.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "operator silent") || !strings.Contains(string(body), "breaker open") {
		t.Fatalf("/readyz %d %q", resp.StatusCode, body)
	}
	// The other operator still works.
	w.wantOK(t, w.login(t, abParallel))
}

// TestReceiptNetworkErrors: a failed receipt's GSM network error code
// decides the result, through the SMSC's network_error_code TLV.
func TestReceiptNetworkErrors(t *testing.T) {
	w := startAbuseWorld(t)
	for _, tt := range []struct {
		name string
		card int
		want string
	}{
		{"absent subscriber (MAP 27)", abAbsent, sessions.ResultPhoneAbsent},
		{"call barred (MAP 13)", abBarred, sessions.ResultDeliveryError},
		{"SM delivery failure, SIM full (MAP 32)", abSIMFull, sessions.ResultSIMError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := w.login(t, tt.card)
			if got := w.e.finish(t, "p1", id); got["result"] != tt.want {
				t.Fatalf("result %v, want %s", got["result"], tt.want)
			}
		})
	}
}

// TestCounterResync: the card's MT counter is ahead of the gateway's (as
// after a Redis restore from an old backup). The first command is refused
// with "CNTR low"; the gateway moves the counter ahead and sends the same
// command once more: the user sees one login, which ends OK. The next
// login needs no resync.
func TestCounterResync(t *testing.T) {
	w := startAbuseWorld(t)
	card := w.farm.Card(abResync)
	v, err := w.gw.Store().NextMTCounter(t.Context(), card.ICCID())
	if err != nil {
		t.Fatal(err)
	}
	if err := card.SetMTCounter(v + 500_000); err != nil { // about 8 minutes of counter ahead
		t.Fatal(err)
	}
	w.wantOK(t, w.login(t, abResync))
	if n := metricValueOf(t, w.reg, "imzagate_mt_counter_resyncs_total"); n != 1 {
		t.Fatalf("resyncs %v, want 1", n)
	}
	w.tap.mu.Lock()
	mts := len(w.tap.mts[card.MSISDN()])
	w.tap.mu.Unlock()
	if mts != 2 {
		t.Fatalf("%d MTs reached the card, want 2 (the refused one and the resent one)", mts)
	}
	w.wantOK(t, w.login(t, abResync))
	if n := metricValueOf(t, w.reg, "imzagate_mt_counter_resyncs_total"); n != 1 {
		t.Fatalf("resyncs %v after the second login, want still 1", n)
	}
}

// TestJunkPartsBounded: 10,000 junk first parts of 20-part messages, from
// numbers that are no subscribers, from one subscriber's number and from
// ten more, leave Redis with at most the configured caps of parts; a
// genuine 20-part ML-DSA-44 reply still completes.
func TestJunkPartsBounded(t *testing.T) {
	w := startAbuseWorld(t)
	ctx := t.Context()
	memory := func() int64 {
		info := w.rdb.Info(ctx, "memory").Val()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	keysBefore := w.rdb.DBSize(ctx).Val()
	memBefore := memory()
	delivered := w.sm.Stats().Deliveries
	part := func(ref uint16) []byte {
		ud := []byte{0x06, 0x08, 0x04, 0, 0, 20, 1}
		binary.BigEndian.PutUint16(ud[3:], ref)
		return append(ud, bytes.Repeat([]byte{0xA5}, 120)...)
	}
	const total = 10_000
	for i := range total {
		var src string
		switch {
		case i < 8000:
			src = fmt.Sprintf("99455%07d", i) // no subscriber
		case i < 9000:
			src = w.records[abSegJunk].MSISDN
		default:
			src = w.records[abSpread+i%abSpreadN].MSISDN
		}
		w.deliverMO(t, src, smpp.ESMClassUDHI, 0xF6, part(uint16(i)))
	}
	deadline := time.Now().Add(60 * time.Second)
	for w.sm.Stats().Deliveries < delivered+total {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d junk parts acknowledged: %+v", w.sm.Stats().Deliveries-delivered, total, w.sm.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if refused := metricSum(t, w.reg, "imzagate_mo_segments_discarded_total", "not_subscriber"); refused != 8000 {
		t.Fatalf("parts refused as not from a subscriber %v, want 8000", refused)
	}
	pending := 0
	var cursor uint64
	for {
		keys, next, err := w.rdb.Scan(ctx, cursor, "{*}g:*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			for _, f := range w.rdb.HKeys(ctx, k).Val() {
				if strings.Contains(f, ".") {
					pending++
				}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if pending > 300+64 {
		t.Fatalf("%d junk parts kept, caps 300 in all (+ one sender's 64 in flight)", pending)
	}
	if keys := w.rdb.DBSize(ctx).Val(); keys > keysBefore+abSpreadN+5 {
		t.Fatalf("%d keys after the junk, %d before", keys, keysBefore)
	}
	if grown := memory() - memBefore; grown > 1<<20 {
		t.Fatalf("used_memory grew by %d bytes", grown)
	}
	st, m, _ := w.e.do(t, "p1", "POST", "/v1/signatures", w.e.startReq(abMLDSA, "SHA384", map[string]any{"type": "government"}))
	if st != 201 {
		t.Fatalf("sign: %d %v", st, m)
	}
	got := w.e.finish(t, "p1", m["sessionId"].(string))
	sig, _ := got["signature"].(map[string]any)
	if got["result"] != sessions.ResultOK || sig == nil || sig["algorithm"] != applet.SigMLDSA44.String() {
		t.Fatalf("genuine ML-DSA-44 reply after the junk: %v", got)
	}
}

// TestStartAbuse: the Idempotency-Key is bound to its request; parallel
// starts with the right User ID are told OUTSTANDING_TRANSACTION, never
// locked; a portal spending its budget of wrong User IDs is refused.
func TestStartAbuse(t *testing.T) {
	w := startAbuseWorld(t)
	t.Run("idempotency key bound to the request", func(t *testing.T) {
		req := w.e.startReq(abIdem, "SHA256", nil)
		st, a, _ := w.e.do(t, "p1", "POST", "/v1/authentications", req, "Idempotency-Key", "k-1")
		if st != 201 {
			t.Fatalf("first: %d %v", st, a)
		}
		st, b, _ := w.e.do(t, "p1", "POST", "/v1/authentications", req, "Idempotency-Key", "k-1")
		if st != 201 || b["sessionId"] != a["sessionId"] {
			t.Fatalf("same request: %d %v, want 201 and %v", st, b, a["sessionId"])
		}
		other := w.e.startReq(abIdem, "SHA256", nil)
		other["displayText"] = "Something else"
		st, c, _ := w.e.do(t, "p1", "POST", "/v1/authentications", other, "Idempotency-Key", "k-1")
		if st != 422 || c["code"] != gateway.CodeIdempotencyKeyReused {
			t.Fatalf("other body: %d %v", st, c)
		}
		st, d, _ := w.e.do(t, "p1", "POST", "/v1/signatures", w.e.startReq(abIdem, "SHA256", map[string]any{"type": "government"}), "Idempotency-Key", "k-1")
		if st != 422 || d["code"] != gateway.CodeIdempotencyKeyReused {
			t.Fatalf("other endpoint: %d %v", st, d)
		}
		w.wantOK(t, a["sessionId"].(string))
	})
	t.Run("parallel starts with the right User ID", func(t *testing.T) {
		const n = 12
		codes := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				st, m, h := w.e.do(t, "p1", "POST", "/v1/authentications", w.e.startReq(abParallel, "SHA256", nil))
				if st == 201 {
					codes <- "201:" + m["sessionId"].(string)
					return
				}
				codes <- fmt.Sprintf("%d:%v:%s", st, m["code"], h.Get("Retry-After"))
			})
		}
		wg.Wait()
		close(codes)
		var id string
		for c := range codes {
			switch {
			case strings.HasPrefix(c, "201:"):
				if id != "" {
					t.Fatal("two starts won")
				}
				id = c[4:]
			case strings.HasPrefix(c, "409:"+gateway.CodeOutstanding+":"):
			default:
				t.Fatalf("parallel start answered %s", c)
			}
		}
		if id == "" {
			t.Fatal("no start won")
		}
		w.wantOK(t, id)
		w.wantOK(t, w.login(t, abParallel)) // not locked afterwards
	})
	t.Run("portal budget of wrong User IDs", func(t *testing.T) {
		for i := range 3 {
			req := w.e.startReq(abSpread+i, "SHA256", nil)
			req["userId"] = "000000"
			if st, m, _ := w.e.do(t, "guesser", "POST", "/v1/authentications", req); st != 422 || m["code"] != gateway.CodeUserUnknown {
				t.Fatalf("guess %d: %d %v", i, st, m)
			}
		}
		st, m, h := w.e.do(t, "guesser", "POST", "/v1/authentications", w.e.startReq(abSpread+3, "SHA256", nil))
		if st != 429 || m["code"] != gateway.CodeUserIDBudget || h.Get("Retry-After") == "" {
			t.Fatalf("after the budget: %d %v", st, m)
		}
		rec := w.records[abSpread+3]
		st, m, _ = w.e.do(t, "guesser", "GET", "/v1/certificates?phoneNumber=%2B"+rec.MSISDN+"&userId="+rec.UserID, nil)
		if st != 429 || m["code"] != gateway.CodeUserIDBudget {
			t.Fatalf("lookup after the budget: %d %v", st, m)
		}
	})
}

// metricValueOf sums a metric's series that carry the given label pairs.
func metricValueOf(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	return metricSumLabels(t, g, name, want)
}

// metricSumLabels sums the counters, gauges and histogram counts of name
// whose labels include want.
func metricSumLabels(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// waitReady waits until every gateway is ready: its binds are up and its
// store answers.
func waitReady(t *testing.T, gws ...*gateway.Gateway) {
	t.Helper()
	for _, gw := range gws {
		testutil.Eventually(t, 5*time.Second, "the gateway is ready", func() bool { return gw.Ready(t.Context()) == nil })
	}
}

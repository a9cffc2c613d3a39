package smpp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a Handler that stores what it gets; moErr decides the result
// of the nth HandleMO call (from 1).
type recorder struct {
	mu       sync.Mutex
	mos      []smpp.MO
	receipts []smpp.Receipt
	moCalls  int
	moErr    func(n int) error
	changed  chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1000)} }

func (r *recorder) HandleMO(_ context.Context, mo smpp.MO) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.moCalls++
	if r.moErr != nil {
		if err := r.moErr(r.moCalls); err != nil {
			return err
		}
	}
	r.mos = append(r.mos, mo)
	r.changed <- struct{}{}
	return nil
}

func (r *recorder) HandleReceipt(_ context.Context, rc smpp.Receipt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.receipts = append(r.receipts, rc)
	r.changed <- struct{}{}
	return nil
}

// waitFor waits until cond holds, failing after 5 s.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// fastBind is a bind config with test-friendly timings.
func fastBind(addr string) smpp.BindConfig {
	return smpp.BindConfig{
		Addr: addr, SystemID: "esme", Password: "secret", SourceAddr: "9412",
		Window: 10, RequestTimeout: 2 * time.Second, ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 100 * time.Millisecond, ThrottlePause: 5 * time.Millisecond,
		BindTimeout: 2 * time.Second, DialTimeout: time.Second,
	}
}

// goRun runs run in the background until stop is called or the test ends:
// stop cancels run's context and returns its error, or an error of its own
// if run outlives the shutdown bound.
func goRun(t testing.TB, run func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				err = errors.New("Run did not return within 15 s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// startPool runs a pool with handler h until the test ends, once every bind
// is bound.
func startPool(t *testing.T, h smpp.Handler, ops ...smpp.Operator) *smpp.Pool {
	t.Helper()
	p, err := smpp.NewPool(smpp.PoolOptions{Operators: ops, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, func(ctx context.Context) error { return p.Run(ctx, h) })
	waitBound(t, p)
	return p
}

func waitBound(t *testing.T, p *smpp.Pool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := true
		for _, st := range p.Status() {
			all = all && st.Bound
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("binds not up: %+v", p.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seg(b ...byte) []byte { return append([]byte{0x02, 0x70, 0x00}, b...) }

func TestPoolSubmitAndReceipts(t *testing.T) {
	var mu sync.Mutex
	var wire []*smpp.SubmitSM
	srv := smsctest.Start(t, smsc.Options{
		ReceiptIDDecimal: true,
		Receipts:         map[string]smsc.Outcome{"994519999999": smsc.Undeliverable, "994518888888": smsc.Expired},
		OnSubmit: func(_ string, q *smpp.SubmitSM) {
			mu.Lock()
			wire = append(wire, q)
			mu.Unlock()
		},
	})
	rec := newRecorder()
	p := startPool(t, rec, smpp.Operator{Name: "azercell", Prefixes: []string{"99450", "99451", "99410"},
		Binds: []smpp.BindConfig{fastBind(srv.Addr())}, SubmitIDFormat: smpp.IDHex, ReceiptIDFormat: smpp.IDDecimal})
	ctx := context.Background()
	ids, err := p.Submit(ctx, "994501234567", [][]byte{seg(1), seg(2), seg(3)})
	if err != nil || len(ids) != 3 {
		t.Fatalf("Submit = %v, %v", ids, err)
	}
	mu.Lock()
	for i, q := range wire {
		if q.ESMClass != 0x40 || q.ProtocolID != 0x7F || q.DataCoding != 0xF6 || q.RegisteredDelivery != 1 ||
			q.SourceAddr != "9412" || q.SourceTON != 1 || q.SourceNPI != 1 || q.DestAddr != "994501234567" ||
			q.DestTON != 1 || q.DestNPI != 1 || !bytes.Equal(q.ShortMessage, seg(byte(i+1))) || len(q.TLVs) != 0 {
			t.Errorf("segment %d on the wire: %+v", i+1, q.Message)
		}
	}
	if len(wire) != 3 {
		t.Errorf("%d submit_sm on the wire, want 3 in order", len(wire))
	}
	mu.Unlock()
	undeliv, err := p.Submit(ctx, "994519999999", [][]byte{seg(4)})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := p.Submit(ctx, "994518888888", [][]byte{seg(5)})
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "5 receipts", func() bool { return len(rec.receipts) == 5 })
	got := map[string]smpp.Receipt{}
	for _, r := range rec.receipts {
		got[r.MessageID] = r
	}
	for _, id := range ids {
		r, ok := got[id]
		if !ok || r.State != smpp.StateDelivered || r.Stat != "DELIVRD" || r.Source != "994501234567" || r.Operator != "azercell" {
			t.Errorf("receipt for %s = %+v (matched %v)", id, r, ok)
		}
	}
	if r := got[undeliv[0]]; r.State != smpp.StateUndeliverable || r.Stat != "UNDELIV" || r.Err != "001" {
		t.Errorf("undeliverable receipt = %+v", r)
	}
	if r := got[expired[0]]; r.State != smpp.StateExpired {
		t.Errorf("expired receipt = %+v", r)
	}
	if _, err := p.Submit(ctx, "15551234", [][]byte{seg(1)}); !errors.Is(err, smpp.ErrNoRoute) {
		t.Errorf("unrouted: %v", err)
	}
	if _, err := p.Submit(ctx, "994501234567", [][]byte{make([]byte, 141)}); err == nil {
		t.Error("141-octet segment accepted")
	}
}

func TestRoute(t *testing.T) {
	bind := smpp.BindConfig{Addr: "127.0.0.1:1", SystemID: "x"}
	p, err := smpp.NewPool(smpp.PoolOptions{Operators: []smpp.Operator{
		{Name: "azercell", Prefixes: []string{"99450", "99451", "99410"}, Binds: []smpp.BindConfig{bind}},
		{Name: "bakcell", Prefixes: []string{"99455", "99499"}, Binds: []smpp.BindConfig{bind}},
		{Name: "nar", Prefixes: []string{"99470", "99477"}, Binds: []smpp.BindConfig{bind}},
		{Name: "special", Prefixes: []string{"9945012"}, Binds: []smpp.BindConfig{bind}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, msisdn, want string
		err                error
	}{
		{"azercell", "994501112233", "azercell", nil},
		{"azercell 10", "994101112233", "azercell", nil},
		{"bakcell", "994991112233", "bakcell", nil},
		{"nar", "994771112233", "nar", nil},
		{"longest prefix wins", "994501212233", "special", nil},
		{"no route", "994601112233", "", smpp.ErrNoRoute},
		{"not digits", "+994501112233", "", smpp.ErrNoRoute},
		{"empty", "", "", smpp.ErrNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Route(tt.msisdn)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("Route(%q) = %q, %v; want %q, %v", tt.msisdn, got, err, tt.want, tt.err)
			}
		})
	}
	// Submit before Run fails fast.
	if _, err := p.Submit(context.Background(), "994501112233", [][]byte{seg(1)}); !errors.Is(err, smpp.ErrClosed) {
		t.Errorf("submit before Run: %v", err)
	}
	for _, bad := range []smpp.PoolOptions{
		{},
		{Operators: []smpp.Operator{{Name: "a", Prefixes: []string{"1"}}}},
		{Operators: []smpp.Operator{{Name: "a", Prefixes: []string{"1x"}, Binds: []smpp.BindConfig{bind}}}},
		{Operators: []smpp.Operator{{Name: "a", Prefixes: []string{"1"}, Binds: []smpp.BindConfig{bind}}, {Name: "b", Prefixes: []string{"1"}, Binds: []smpp.BindConfig{bind}}}},
		{Operators: []smpp.Operator{{Name: "a", Binds: []smpp.BindConfig{{Addr: "nohostport", SystemID: "x"}}}}},
		{Operators: []smpp.Operator{{Name: "a", Binds: []smpp.BindConfig{{Addr: "h:1", SystemID: "0123456789abcdef"}}}}},
	} {
		if _, err := smpp.NewPool(bad); err == nil {
			t.Errorf("NewPool(%+v) accepted", bad)
		}
	}
}

// startClient runs a bare Client (for window and flow-control tests) until
// the test ends, once it is bound.
func startClient(t *testing.T, cfg smpp.BindConfig, opts smpp.ClientOptions) *smpp.Client {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c, err := smpp.NewClient(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, c.Run)
	deadline := time.Now().Add(5 * time.Second)
	for !c.Bound() {
		if time.Now().After(deadline) {
			t.Fatalf("not bound: %+v", c.Status())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return c
}

func sm(dest string) *smpp.SubmitSM {
	return &smpp.SubmitSM{Message: smpp.Message{DestTON: 1, DestNPI: 1, DestAddr: dest, ESMClass: 0x40,
		ProtocolID: 0x7F, DataCoding: 0xF6, ShortMessage: seg(1)}}
}

func TestWindowSaturation(t *testing.T) {
	// The SMSC allows 4 in flight and throttles beyond; each response takes
	// 30 ms. 40 concurrent submits must all succeed without one throttle.
	srv := smsctest.Start(t, smsc.Options{Window: 4, Faults: smsc.Faults{Delay: 30 * time.Millisecond}})
	cfg := fastBind(srv.Addr())
	cfg.Window = 4
	c := startClient(t, cfg, smpp.ClientOptions{})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 40 {
		wg.Go(func() {
			if _, err := c.Submit(context.Background(), sm(fmt.Sprintf("99450%07d", i))); err != nil {
				failed.Add(1)
				t.Errorf("submit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	st := srv.Stats()
	if st.Throttled != 0 || st.Submits != 40 || failed.Load() != 0 {
		t.Errorf("stats %+v, failed %d: window not respected", st, failed.Load())
	}
	// A context ending while waiting for a window slot returns ctx.Err(),
	// not "outcome unknown": nothing was sent.
	srv.SetFaults(smsc.Faults{Delay: 300 * time.Millisecond})
	for range 4 {
		wg.Go(func() { c.Submit(context.Background(), sm("994500000001")) })
	}
	time.Sleep(50 * time.Millisecond) // let the four take the window
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Submit(ctx, sm("994500000002")); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, smpp.ErrOutcomeUnknown) {
		t.Errorf("blocked submit: %v, want deadline exceeded without outcome unknown", err)
	}
	wg.Wait()
}

func TestThrottlingRecoveryKeepsOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	srv := smsctest.Start(t, smsc.Options{
		Faults: smsc.Faults{ThrottleEvery: 3},
		OnSubmit: func(_ string, q *smpp.SubmitSM) {
			mu.Lock()
			order = append(order, q.DestAddr)
			mu.Unlock()
		},
	})
	c := startClient(t, fastBind(srv.Addr()), smpp.ClientOptions{})
	var want []string
	for i := range 30 {
		d := fmt.Sprintf("99450%07d", i)
		want = append(want, d)
		if _, err := c.Submit(context.Background(), sm(d)); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, want) {
		t.Errorf("accepted order %v, want %v", order, want)
	}
	if st := srv.Stats(); st.Throttled < 10 {
		t.Errorf("throttled %d, want ≥ 10 (fault not exercised)", st.Throttled)
	}
	// Retries are bounded: with every submit throttled the error surfaces.
	srv.SetFaults(smsc.Faults{ThrottleEvery: 1})
	if _, err := c.Submit(context.Background(), sm("994500000000")); !errors.Is(err, smpp.ErrThrottled) {
		t.Errorf("always throttled: %v", err)
	}
}

func TestSMSCRestartNoSilentLoss(t *testing.T) {
	srv, err := smsc.Start("127.0.0.1:0", smsc.Options{Accounts: map[string]string{"esme": "secret"},
		Faults: smsc.Faults{Delay: 150 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	c := startClient(t, fastBind(addr), smpp.ClientOptions{})
	var acked, unknown, other atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := c.Submit(context.Background(), sm(fmt.Sprintf("99450%07d", i)))
			switch {
			case err == nil:
				acked.Add(1)
			case errors.Is(err, smpp.ErrOutcomeUnknown):
				unknown.Add(1)
			default:
				other.Add(1)
				t.Errorf("submit %d: unexpected %v", i, err)
			}
		})
	}
	for c.Status().State == smpp.SessionBoundTRX && srv.Stats().Submits < 8 {
		time.Sleep(time.Millisecond)
	}
	srv.Close() // crash with 8 submits in flight
	wg.Wait()
	if acked.Load()+unknown.Load() != 8 || unknown.Load() == 0 {
		t.Fatalf("acked %d unknown %d other %d: every in-flight submit must end acked or unknown", acked.Load(), unknown.Load(), other.Load())
	}
	srv2, err := smsc.Start(addr, smsc.Options{Accounts: map[string]string{"esme": "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Bound() {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %+v", c.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.Submit(context.Background(), sm("994500000009")); err != nil {
		t.Errorf("submit after reconnect: %v", err)
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{})
	cfg := fastBind(srv.Addr())
	cfg.MaxRetries = 1
	reg := prometheus.NewRegistry()
	p, err := smpp.NewPool(smpp.PoolOptions{Registerer: reg, Logger: testLogger(t), Operators: []smpp.Operator{{
		Name: "nar", Prefixes: []string{"99470"}, Binds: []smpp.BindConfig{cfg},
		Breaker: smpp.BreakerConfig{Failures: 3, OpenTimeout: 100 * time.Millisecond},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, func(ctx context.Context) error { return p.Run(ctx, newRecorder()) })
	waitBound(t, p)
	ctx := context.Background()
	srv.SetFaults(smsc.Faults{ThrottleEvery: 1})
	for i := range 3 {
		if _, err := p.Submit(ctx, "994701234567", [][]byte{seg(1)}); !errors.Is(err, smpp.ErrThrottled) {
			t.Fatalf("failing submit %d: %v", i, err)
		}
	}
	before := srv.Stats().Throttled
	if _, err := p.Submit(ctx, "994701234567", [][]byte{seg(1)}); !errors.Is(err, smpp.ErrOperatorUnavailable) {
		t.Fatalf("open breaker: %v", err)
	}
	if srv.Stats().Throttled != before {
		t.Error("open breaker still reached the SMSC")
	}
	if got := gaugeValue(t, reg, "imzagate_smpp_breaker_state"); got != 2 {
		t.Errorf("breaker_state gauge = %v, want 2", got)
	}
	srv.SetFaults(smsc.Faults{})
	deadline := time.Now().Add(3 * time.Second)
	for p.BreakerState("nar") != "half-open" {
		if time.Now().After(deadline) {
			t.Fatalf("breaker state %s", p.BreakerState("nar"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := p.Submit(ctx, "994701234567", [][]byte{seg(1)}); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if s := p.BreakerState("nar"); s != "closed" {
		t.Errorf("after probe: %s", s)
	}
}

// gaugeValue reads the first series of a gauge from the registry.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func udhConcat16(ref uint16, total, n byte, extra []byte, body ...byte) []byte {
	ies := append([]byte{0x08, 0x04, byte(ref >> 8), byte(ref), total, n}, extra...)
	return append(append([]byte{byte(len(ies))}, ies...), body...)
}

func moPDU(src string, esm byte, ud []byte, tlvs smpp.TLVs) *smpp.DeliverSM {
	m := smpp.Message{SourceTON: 1, SourceNPI: 1, SourceAddr: src, DestTON: 1, DestNPI: 1, DestAddr: "9412",
		ESMClass: esm, ProtocolID: 0x7F, DataCoding: 0xF6, TLVs: tlvs}
	if len(ud) > 0 {
		m.ShortMessage = ud
	}
	return &smpp.DeliverSM{Message: m}
}

func TestConcatenatedMOReassembly(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{})
	rec := newRecorder()
	startPool(t, rec, smpp.Operator{Name: "bakcell", Prefixes: []string{"99455"}, Binds: []smpp.BindConfig{fastBind(srv.Addr())}})
	deliver := func(d *smpp.DeliverSM) {
		if err := srv.Deliver("esme", d); err != nil {
			t.Fatal(err)
		}
	}
	// UDH IEI 08 with the RPI (71) in part 1, parts sent out of order.
	deliver(moPDU("994551111111", 0x40, udhConcat16(0x1234, 3, 3, nil, 0xC3), nil))
	deliver(moPDU("994551111111", 0x40, udhConcat16(0x1234, 3, 1, []byte{0x71, 0x00}, 0xA1, 0xA2), nil))
	deliver(moPDU("994551111111", 0x40, udhConcat16(0x1234, 3, 2, nil, 0xB2), nil))
	// UDH IEI 00 (8-bit reference), two parts, no other IE.
	deliver(moPDU("994552222222", 0x40, []byte{0x05, 0x00, 0x03, 0x07, 0x02, 0x02, 0xEE}, nil))
	deliver(moPDU("994552222222", 0x40, []byte{0x05, 0x00, 0x03, 0x07, 0x02, 0x01, 0xDD}, nil))
	// sar_* TLVs.
	var t1, t2 smpp.TLVs
	t1.SetSAR(9, 2, 1)
	t2.SetSAR(9, 2, 2)
	deliver(moPDU("994553333333", 0x40, []byte{0x02, 0x71, 0x00, 0x01}, t1))
	deliver(moPDU("994553333333", 0x00, []byte{0x02}, t2))
	// message_payload: taken whole.
	var tp smpp.TLVs
	tp.Set(smpp.TagMessagePayload, append([]byte{0x02, 0x71, 0x00}, bytes.Repeat([]byte{0x5A}, 300)...))
	deliver(moPDU("994554444444", 0x40, nil, tp))

	rec.waitFor(t, "4 MOs", func() bool { return len(rec.mos) == 4 })
	got := map[string]smpp.MO{}
	for _, mo := range rec.mos {
		got[mo.Source] = mo
	}
	tests := []struct {
		name, src string
		ud        []byte
		esm       byte
	}{
		{"udh 16-bit", "994551111111", []byte{0x02, 0x71, 0x00, 0xA1, 0xA2, 0xB2, 0xC3}, 0x40},
		{"udh 8-bit", "994552222222", []byte{0xDD, 0xEE}, 0x00},
		{"sar tlvs", "994553333333", []byte{0x02, 0x71, 0x00, 0x01, 0x02}, 0x40},
		{"message_payload", "994554444444", append([]byte{0x02, 0x71, 0x00}, bytes.Repeat([]byte{0x5A}, 300)...), 0x40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mo := got[tt.src]
			if !bytes.Equal(mo.UserData, tt.ud) || mo.ESMClass != tt.esm || mo.Operator != "bakcell" || mo.Dest != "9412" {
				t.Errorf("MO = %+v\nwant ud %x esm %#x", mo, tt.ud, tt.esm)
			}
		})
	}
}

func TestTemporaryErrorRedelivery(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{RedeliveryDelay: 10 * time.Millisecond})
	rec := newRecorder()
	rec.moErr = func(n int) error {
		if n <= 2 {
			return errors.New("store unavailable")
		}
		return nil
	}
	startPool(t, rec, smpp.Operator{Name: "nar", Prefixes: []string{"99470"}, Binds: []smpp.BindConfig{fastBind(srv.Addr())}})
	if err := srv.Deliver("esme", moPDU("994701111111", 0x40, []byte{0x02, 0x71, 0x00, 0x42}, nil)); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "MO stored", func() bool { return len(rec.mos) == 1 })
	st := srv.Stats()
	if rec.moCalls != 3 || st.Redeliveries != 2 {
		t.Errorf("handler calls %d, redeliveries %d; want 3 and 2", rec.moCalls, st.Redeliveries)
	}
	// A permanent handler error is not redelivered.
	rec.mu.Lock()
	rec.moErr = func(int) error { return fmt.Errorf("bad packet: %w", smpp.ErrPermanent) }
	rec.mu.Unlock()
	lost := srv.Stats().Lost
	srv.Deliver("esme", moPDU("994701111112", 0x40, []byte{0x02, 0x71, 0x00, 0x43}, nil))
	deadline := time.Now().Add(3 * time.Second)
	for srv.Stats().Lost == lost && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if srv.Stats().Lost != lost+1 || rec.moCalls != 4 {
		t.Errorf("permanent: lost %d→%d, calls %d", lost, srv.Stats().Lost, rec.moCalls)
	}
}

// farm is a Handset that answers each MT with two MO segments, and knows
// no number ending in 0.
type farm struct{}

func (farm) HandleMT(msisdn string, ud []byte, reply func([]byte)) error {
	if msisdn[len(msisdn)-1] == '0' {
		return errors.New("no such subscriber")
	}
	reply(udhConcat16(77, 2, 1, []byte{0x71, 0x00}, ud[3:]...))
	reply(udhConcat16(77, 2, 2, nil, 0xFF))
	return nil
}

func TestHandsetRoundTrip(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Handset: farm{}})
	rec := newRecorder()
	p := startPool(t, rec, smpp.Operator{Name: "azercell", Prefixes: []string{"99450"}, Binds: []smpp.BindConfig{fastBind(srv.Addr())}})
	if _, err := p.Submit(context.Background(), "994501234567", [][]byte{seg(0xAB, 0xCD)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(context.Background(), "994501234560", [][]byte{seg(0x01)}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "reply and 2 receipts", func() bool { return len(rec.mos) == 1 && len(rec.receipts) == 2 })
	mo := rec.mos[0]
	if mo.Source != "994501234567" || mo.Dest != "9412" || !bytes.Equal(mo.UserData, []byte{0x02, 0x71, 0x00, 0xAB, 0xCD, 0xFF}) ||
		mo.ProtocolID != 0x7F || mo.DataCoding != 0xF6 {
		t.Errorf("MO = %+v", mo)
	}
	states := map[string]smpp.MessageState{}
	for _, r := range rec.receipts {
		states[r.Source] = r.State
	}
	if states["994501234567"] != smpp.StateDelivered || states["994501234560"] != smpp.StateUndeliverable {
		t.Errorf("receipt states %v", states)
	}
}

// TestBindRejectedStops: a bind refused as bad credentials is not retried;
// Run returns at once with ErrBindRejected, after a single attempt.
func TestBindRejectedStops(t *testing.T) {
	tests := []struct {
		name     string
		password string
		faults   smsc.Faults
		want     smpp.CommandStatus
	}{
		{"wrong password", "wrong", smsc.Faults{}, smpp.StatusInvPaswd},
		{"bind refused", "secret", smsc.Faults{RefuseBinds: true}, smpp.StatusBindFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smsctest.Start(t, smsc.Options{Faults: tt.faults})
			cfg := fastBind(srv.Addr())
			cfg.Password = tt.password
			c, err := smpp.NewClient(cfg, smpp.ClientOptions{Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = c.Run(ctx)
			if !errors.Is(err, smpp.ErrBindRejected) || !strings.Contains(err.Error(), tt.want.String()) || ctx.Err() != nil {
				t.Fatalf("Run = %v, want ErrBindRejected with %s before the deadline", err, tt.want)
			}
			if st := c.Status(); !st.Stopped || st.Bound || srv.Stats().BindAttempts != 1 {
				t.Errorf("status %+v, bind attempts %d; want one attempt then stop", st, srv.Stats().BindAttempts)
			}
			if _, err := c.Submit(context.Background(), sm("994500000001")); !errors.Is(err, smpp.ErrClosed) {
				t.Errorf("submit after Run: %v, want ErrClosed", err)
			}
			if err := c.Run(context.Background()); err == nil || errors.Is(err, smpp.ErrBindRejected) {
				t.Errorf("second Run = %v, want a refusal without dialling", err)
			}
		})
	}
}

// TestPoolRunStopsOnRejectedBind: one bind of one operator is refused for
// good; Pool.Run unbinds the rest and returns that bind's error.
func TestPoolRunStopsOnRejectedBind(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{})
	bad := fastBind(srv.Addr())
	bad.Name, bad.Password = "bad", "wrong"
	p, err := smpp.NewPool(smpp.PoolOptions{Logger: testLogger(t), Operators: []smpp.Operator{
		{Name: "azercell", Prefixes: []string{"99450"}, Binds: []smpp.BindConfig{fastBind(srv.Addr())}},
		{Name: "nar", Prefixes: []string{"99470"}, Binds: []smpp.BindConfig{bad}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = p.Run(ctx, newRecorder())
	if !errors.Is(err, smpp.ErrBindRejected) || !strings.Contains(err.Error(), "nar") || ctx.Err() != nil {
		t.Fatalf("Run = %v, want nar's ErrBindRejected before the deadline", err)
	}
	for _, st := range p.Status() {
		if st.Bound {
			t.Errorf("bind %s still bound after Run returned", st.Bind)
		}
	}
	if _, err := p.Submit(context.Background(), "994501234567", [][]byte{seg(1)}); !errors.Is(err, smpp.ErrClosed) {
		t.Errorf("submit after Run: %v, want ErrClosed", err)
	}
	testutil.Eventually(t, 5*time.Second, "the SMSC to drop the good bind's session", func() bool { return srv.Bound("esme") == 0 })
}

func TestDisconnectAfterNReconnects(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Faults: smsc.Faults{DisconnectAfter: 5}})
	c := startClient(t, fastBind(srv.Addr()), smpp.ClientOptions{})
	var ok, unknown int
	for i := range 20 {
		_, err := c.Submit(context.Background(), sm(fmt.Sprintf("99450%07d", i)))
		switch {
		case err == nil:
			ok++
		case errors.Is(err, smpp.ErrOutcomeUnknown), errors.Is(err, smpp.ErrNotBound):
			unknown++
			for !c.Bound() {
				time.Sleep(2 * time.Millisecond)
			}
		default:
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if ok < 10 || srv.Stats().Binds < 3 {
		t.Errorf("ok %d unknown %d binds %d", ok, unknown, srv.Stats().Binds)
	}
}

func TestOutOfOrderAndDroppedResponses(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Faults: smsc.Faults{OutOfOrder: 4}})
	cfg := fastBind(srv.Addr())
	cfg.RequestTimeout = 300 * time.Millisecond
	c := startClient(t, cfg, smpp.ClientOptions{})
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range 8 {
		wg.Go(func() {
			resp, err := c.Submit(context.Background(), sm(fmt.Sprintf("99450%07d", i)))
			if err != nil {
				t.Errorf("submit %d: %v", i, err)
				return
			}
			ids[i] = resp.MessageID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			t.Errorf("ids %v: responses mismatched", ids)
			break
		}
		seen[id] = true
	}
	srv.SetFaults(smsc.Faults{DropEvery: 1})
	start := time.Now()
	if _, err := c.Submit(context.Background(), sm("994500000000")); !errors.Is(err, smpp.ErrOutcomeUnknown) {
		t.Errorf("dropped response: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("request timeout took %v", d)
	}
}

func TestNoGoroutineLeakAfterRun(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		srv, err := smsc.Start("127.0.0.1:0", smsc.Options{Accounts: map[string]string{"esme": "secret"}, Handset: farm{}})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		rec := newRecorder()
		p, err := smpp.NewPool(smpp.PoolOptions{Operators: []smpp.Operator{{Name: "a",
			Prefixes: []string{"99450"}, Binds: []smpp.BindConfig{fastBind(srv.Addr()), fastBind(srv.Addr())}}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, rec) }()
		waitBound(t, p)
		for i := range 10 {
			if _, err := p.Submit(context.Background(), fmt.Sprintf("99450%07d", i+1), [][]byte{seg(1)}); err != nil {
				t.Fatal(err)
			}
		}
		rec.waitFor(t, "replies", func() bool { return len(rec.mos) == 9 && len(rec.receipts) == 10 }) // ...0010 does not exist
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		testutil.Eventually(t, 5*time.Second, "the SMSC to count both unbinds", func() bool { return srv.Stats().Unbinds == 2 })
		if st := srv.Stats(); st.Disconnects != 0 {
			t.Errorf("SMSC saw %d disconnects, want both binds unbound", st.Disconnects)
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines %d > %d before\n%s", runtime.NumGoroutine(), before, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSubmitStatusClasses(t *testing.T) {
	// The SMSC answers every 2nd submit_sm with the status; the 1st Submit
	// passes, the 2nd meets the status and shows what its class does.
	tests := []struct {
		name         string
		status       smpp.CommandStatus
		wantErr      error
		wantBinds    int64
		wantAccepted int64
	}{
		{"temporary: retried", smpp.StatusSysErr, nil, 1, 2},
		{"rebind: rebinds then retries", smpp.StatusInvBndSts, nil, 2, 2},
		{"permanent: not retried", smpp.StatusInvDstAdr, &smpp.StatusError{Status: smpp.StatusInvDstAdr}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smsctest.Start(t, smsc.Options{Faults: smsc.Faults{FailEvery: 2, FailStatus: tt.status}})
			c := startClient(t, fastBind(srv.Addr()), smpp.ClientOptions{})
			if _, err := c.Submit(context.Background(), sm("994500000001")); err != nil {
				t.Fatal(err)
			}
			_, err := c.Submit(context.Background(), sm("994500000002"))
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if st := srv.Stats(); st.Binds != tt.wantBinds || st.Submits != tt.wantAccepted {
				t.Errorf("binds %d accepted %d, want %d and %d", st.Binds, st.Submits, tt.wantBinds, tt.wantAccepted)
			}
		})
	}
}

func TestLoadSpreadOverBinds(t *testing.T) {
	var mu sync.Mutex
	per := map[string]int{}
	srv := smsctest.Start(t, smsc.Options{
		Accounts: map[string]string{"gw1": "secret", "gw2": "secret"},
		OnSubmit: func(id string, _ *smpp.SubmitSM) {
			mu.Lock()
			per[id]++
			mu.Unlock()
		},
	})
	b1, b2 := fastBind(srv.Addr()), fastBind(srv.Addr())
	b1.SystemID, b2.SystemID = "gw1", "gw2"
	p := startPool(t, newRecorder(), smpp.Operator{Name: "azercell", Prefixes: []string{"99450"}, Binds: []smpp.BindConfig{b1, b2}})
	for i := range 20 {
		if _, err := p.Submit(context.Background(), fmt.Sprintf("99450%07d", i), [][]byte{seg(1), seg(2)}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if per["gw1"] != 20 || per["gw2"] != 20 {
		t.Errorf("per bind %v, want 20 segments each (round-robin, a message's segments on one bind)", per)
	}
}

func TestInboundOverloadAnswersTemporaryError(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{RedeliveryDelay: 20 * time.Millisecond, MaxAttempts: 50})
	release := make(chan struct{})
	var handled atomic.Int32
	inbound := func(ctx context.Context, _ smpp.PDU) smpp.CommandStatus {
		<-release // the store is slow
		handled.Add(1)
		return smpp.StatusOK
	}
	startClient(t, fastBind(srv.Addr()), smpp.ClientOptions{Inbound: inbound, InboundWorkers: 1, InboundQueue: 1})
	for i := range 4 {
		srv.Deliver("esme", moPDU(fmt.Sprintf("99450000000%d", i), 0x40, []byte{0x02, 0x71, 0x00, byte(i)}, nil))
	}
	// One in the worker, one queued: the other two are refused at once
	// (ESME_RX_T_APPN) and come back later.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Redeliveries == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no redelivery: the reader blocked instead of answering ESME_RX_T_APPN")
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(release)
	for srv.Stats().Deliveries != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, handled %d", srv.Stats(), handled.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if handled.Load() != 4 {
		t.Errorf("handled %d, want 4", handled.Load())
	}
}

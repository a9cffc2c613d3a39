package smsc_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// dial opens a raw session to the server with handler h for its requests.
func dial(t *testing.T, addr string, h smpp.RequestHandler) *smpp.Session {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := smpp.NewSession(nc, smpp.SessionOptions{EnquireLinkInterval: -1, RequestTimeout: 5 * time.Second, Handler: h})
	t.Cleanup(s.Abort)
	return s
}

func TestBindChecks(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"esme": "secret"}})
	tests := []struct {
		name, id, pw string
		refuse       bool
		want         smpp.CommandStatus
	}{
		{"ok", "esme", "secret", false, smpp.StatusOK},
		{"unknown system_id", "other", "secret", false, smpp.StatusInvSysID},
		{"wrong password", "esme", "secreT", false, smpp.StatusInvPaswd},
		{"refused by fault", "esme", "secret", true, smpp.StatusBindFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.SetFaults(smsc.Faults{RefuseBinds: tt.refuse})
			s := dial(t, srv.Addr(), nil)
			_, err := s.Bind(context.Background(), &smpp.Bind{SystemID: tt.id, Password: tt.pw})
			var se *smpp.StatusError
			got := smpp.StatusOK
			if errors.As(err, &se) {
				got = se.Status
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("bind status %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWindowEnforced(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Window: 2, Faults: smsc.Faults{Delay: 100 * time.Millisecond}})
	s := dial(t, srv.Addr(), nil)
	if _, err := s.Bind(context.Background(), &smpp.Bind{SystemID: "esme", Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var throttled atomic.Int32
	for range 3 {
		wg.Go(func() {
			_, err := s.Submit(context.Background(), &smpp.SubmitSM{Message: smpp.Message{DestAddr: "1"}})
			if errors.Is(err, smpp.ErrThrottled) {
				throttled.Add(1)
			} else if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if throttled.Load() != 1 {
		t.Errorf("throttled %d of 3 with window 2, want 1", throttled.Load())
	}
}

// receiver binds as a receiver and records deliver_sm; answer picks the
// response status (nil: OK).
type receiver struct {
	s      *smpp.Session
	mu     sync.Mutex
	got    []string
	answer func(*smpp.DeliverSM) (smpp.CommandStatus, bool)
}

func bindReceiver(t *testing.T, addr string, answer func(*smpp.DeliverSM) (smpp.CommandStatus, bool)) *receiver {
	r := &receiver{answer: answer}
	r.s = dial(t, addr, func(s *smpp.Session, p smpp.PDU) {
		d, ok := p.(*smpp.DeliverSM)
		if !ok {
			return
		}
		st, reply := smpp.StatusOK, true
		if r.answer != nil {
			st, reply = r.answer(d)
		}
		if !reply {
			go s.Abort() // drop the link before answering
			return
		}
		r.mu.Lock()
		if st == smpp.StatusOK {
			r.got = append(r.got, d.SourceAddr)
		}
		r.mu.Unlock()
		s.Respond(smpp.ResponseTo(d, st))
	})
	if _, err := r.s.Bind(context.Background(), &smpp.Bind{Type: smpp.BindReceiver, SystemID: "esme", Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func mo(src string) *smpp.DeliverSM {
	return &smpp.DeliverSM{Message: smpp.Message{SourceAddr: src, DestAddr: "9412", ESMClass: 0x40,
		ProtocolID: 0x7F, DataCoding: 0xF6, ShortMessage: []byte{0x02, 0x71, 0x00, 0x01}}}
}

func TestDeliveriesQueueAndRoundRobin(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{})
	// Queued while nobody is bound, delivered once a receiver binds.
	if err := srv.Deliver("esme", mo("994500000001")); err != nil {
		t.Fatal(err)
	}
	a := bindReceiver(t, srv.Addr(), nil)
	testutil.Eventually(t, 5*time.Second, "queued MO delivered", func() bool { return a.count() == 1 })
	b := bindReceiver(t, srv.Addr(), nil)
	for range 6 {
		srv.Deliver("esme", mo("994500000002"))
	}
	testutil.Eventually(t, 5*time.Second, "six more", func() bool { return a.count()+b.count() == 7 })
	if a.count() != 4 || b.count() != 3 {
		t.Errorf("spread a=%d b=%d, want 4 and 3", a.count(), b.count())
	}
	if st := srv.Stats(); st.Deliveries != 7 || st.Redeliveries != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRedeliveryOnTemporaryErrorAndLinkLoss(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{RedeliveryDelay: 5 * time.Millisecond})
	var calls atomic.Int32
	bad := bindReceiver(t, srv.Addr(), func(*smpp.DeliverSM) (smpp.CommandStatus, bool) {
		if calls.Add(1) == 1 {
			return smpp.StatusXTAppn, true
		}
		return 0, false // second time: drop the bind before answering
	})
	srv.Deliver("esme", mo("994500000003"))
	testutil.Eventually(t, 5*time.Second, "bad bind dropped", func() bool { return bad.s.State() == smpp.SessionClosed })
	good := bindReceiver(t, srv.Addr(), nil)
	testutil.Eventually(t, 5*time.Second, "delivered on the other bind", func() bool { return good.count() == 1 })
	if st := srv.Stats(); st.Redeliveries != 2 || st.Deliveries != 1 || st.Lost != 0 {
		t.Errorf("stats %+v, want 2 redeliveries and 1 delivery", st)
	}
}

func TestAttemptsBounded(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{RedeliveryDelay: time.Millisecond, MaxAttempts: 3})
	bindReceiver(t, srv.Addr(), func(*smpp.DeliverSM) (smpp.CommandStatus, bool) { return smpp.StatusXTAppn, true })
	srv.Deliver("esme", mo("994500000004"))
	testutil.Eventually(t, 5*time.Second, "given up", func() bool { return srv.Stats().Lost == 1 })
	if st := srv.Stats(); st.Redeliveries != 2 {
		t.Errorf("stats %+v, want 2 redeliveries (3 attempts)", st)
	}
}

// threeParts replies to every MT with three MO segments.
type threeParts struct{}

func (threeParts) HandleMT(_ string, _ []byte, reply func([]byte)) error {
	for i := byte(1); i <= 3; i++ {
		reply([]byte{0x05, 0x00, 0x03, 0x01, 0x03, i, i})
	}
	return nil
}

// submitAndCount binds a transmitter, submits one MT to each number (the
// threeParts handset answers each with 3 segments), waits for every segment
// to reach receiver a or b, and counts each receiver's segments per number.
func submitAndCount(t *testing.T, addr string, numbers []string, a, b *receiver) (perA, perB map[string]int) {
	t.Helper()
	tx := dial(t, addr, nil)
	if _, err := tx.Bind(context.Background(), &smpp.Bind{Type: smpp.BindTransmitter, SystemID: "esme", Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range numbers {
		if _, err := tx.Submit(context.Background(), &smpp.SubmitSM{Message: smpp.Message{SourceAddr: "9412", DestAddr: n, ShortMessage: []byte{1}}}); err != nil {
			t.Fatal(err)
		}
	}
	want := 3 * len(numbers)
	testutil.Eventually(t, 5*time.Second, "every segment", func() bool { return a.count()+b.count() == want })
	a.mu.Lock()
	b.mu.Lock()
	defer a.mu.Unlock()
	defer b.mu.Unlock()
	perA, perB = map[string]int{}, map[string]int{}
	for _, s := range a.got {
		perA[s]++
	}
	for _, s := range b.got {
		perB[s]++
	}
	return perA, perB
}

func TestReplySegmentsStayOnOneBind(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Handset: threeParts{}})
	a := bindReceiver(t, srv.Addr(), nil)
	b := bindReceiver(t, srv.Addr(), nil)
	numbers := []string{"994500000011", "994500000012", "994500000013", "994500000014"}
	perA, perB := submitAndCount(t, srv.Addr(), numbers, a, b)
	for _, n := range numbers {
		if !(perA[n] == 3 && perB[n] == 0 || perA[n] == 0 && perB[n] == 3) {
			t.Errorf("reply from %s split: a=%d b=%d", n, perA[n], perB[n])
		}
	}
	if len(perA) == 0 || len(perB) == 0 {
		t.Errorf("replies not spread: a=%v b=%v", perA, perB)
	}
}

// TestReplySegmentsSpread: with SpreadReplyParts the segments of each
// reply go round-robin over the binds, so every reply is split.
func TestReplySegmentsSpread(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Handset: threeParts{}, SpreadReplyParts: true})
	a := bindReceiver(t, srv.Addr(), nil)
	b := bindReceiver(t, srv.Addr(), nil)
	numbers := []string{"994500000021", "994500000022", "994500000023"}
	perA, perB := submitAndCount(t, srv.Addr(), numbers, a, b)
	for _, n := range numbers {
		if perA[n] == 0 || perB[n] == 0 || perA[n]+perB[n] != 3 {
			t.Errorf("reply from %s not spread: a=%d b=%d", n, perA[n], perB[n])
		}
	}
}

// TestMaxBinds checks the per-account bind cap: binds of any type count,
// the one over the cap gets ESME_RALYBND, and a session that unbinds or
// drops frees its place (counted as an unbind or a disconnect).
func TestMaxBinds(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"esme": "secret", "other": "pw"}, MaxBinds: 2})
	bind := func(id, pw string, typ smpp.BindType) (*smpp.Session, error) {
		s := dial(t, srv.Addr(), nil)
		_, err := s.Bind(context.Background(), &smpp.Bind{Type: typ, SystemID: id, Password: pw})
		return s, err
	}
	tx, err := bind("esme", "secret", smpp.BindTransmitter)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := bind("esme", "secret", smpp.BindReceiver)
	if err != nil {
		t.Fatal(err)
	}
	var se *smpp.StatusError
	if _, err := bind("esme", "secret", smpp.BindTransceiver); !errors.As(err, &se) || se.Status != smpp.StatusAlyBnd {
		t.Fatalf("third bind: %v, want ESME_RALYBND", err)
	}
	if _, err := bind("other", "pw", smpp.BindTransceiver); err != nil {
		t.Fatalf("another account has its own cap: %v", err)
	}
	if n := srv.Bound("esme"); n != 2 {
		t.Fatalf("Bound = %d, want 2", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tx.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rx.Abort()
	testutil.Eventually(t, 5*time.Second, "both places freed", func() bool { return srv.Bound("esme") == 0 })
	if _, err := bind("esme", "secret", smpp.BindTransceiver); err != nil {
		t.Fatalf("bind after the others left: %v", err)
	}
	st := srv.Stats()
	if st.BindsRefused != 1 || st.Unbinds != 1 || st.Disconnects != 1 || st.PeakBinds != 2 {
		t.Fatalf("stats %+v: want 1 refused, 1 unbind, 1 disconnect, peak 2", st)
	}
}

// oneReply answers every MT with one MO segment.
type oneReply struct{}

func (oneReply) HandleMT(_ string, _ []byte, reply func([]byte)) error {
	reply([]byte{0x02, 0x71, 0x00})
	return nil
}

// TestPendingReplies: a handset reply sent to a bind that does not answer
// counts as pending for that bind's system_id and system_type only, and
// stops counting when the link drops (it is then redelivered).
func TestPendingReplies(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Handset: oneReply{}, RedeliveryDelay: time.Millisecond})
	var held atomic.Int32
	frozen := dial(t, srv.Addr(), func(s *smpp.Session, p smpp.PDU) {
		if _, ok := p.(*smpp.DeliverSM); ok {
			held.Add(1) // never answered, like a stopped process
		}
	})
	if _, err := frozen.Bind(context.Background(), &smpp.Bind{Type: smpp.BindTransceiver, SystemID: "esme", Password: "secret", SystemType: "frozen"}); err != nil {
		t.Fatal(err)
	}
	if _, err := frozen.Submit(context.Background(), &smpp.SubmitSM{Message: smpp.Message{SourceAddr: "9412", DestAddr: "994500000021", ShortMessage: []byte{1}}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the reply held by the frozen bind", func() bool { return srv.PendingReplies("esme", "frozen") == 1 })
	for _, other := range [][2]string{{"esme", ""}, {"esme", "other"}, {"nobody", "frozen"}} {
		if n := srv.PendingReplies(other[0], other[1]); n != 0 {
			t.Errorf("PendingReplies(%q, %q) = %d, want 0", other[0], other[1], n)
		}
	}
	frozen.Abort()
	testutil.Eventually(t, 5*time.Second, "nothing pending after the link dropped", func() bool { return srv.PendingReplies("esme", "frozen") == 0 })
	good := bindReceiver(t, srv.Addr(), nil)
	testutil.Eventually(t, 5*time.Second, "the reply redelivered to the other bind", func() bool { return good.count() == 1 })
	// The redelivery may first hit the dead link before the SMSC has noticed
	// it dropped, so count at least one redelivery, and the frozen client may
	// be aborted before its reader hands the PDU on (held 0 or 1); what
	// matters is that the reply reached the live bind exactly once and
	// nothing was lost.
	if st := srv.Stats(); st.Redeliveries < 1 || st.Lost != 0 || held.Load() > 1 || good.count() != 1 {
		t.Errorf("stats %+v, held %d, live bind got %d: want a redelivery, one delivery, nothing lost", st, held.Load(), good.count())
	}
}

// countingHandset counts the MTs it receives.
type countingHandset struct{ n atomic.Int32 }

func (h *countingHandset) HandleMT(string, []byte, func([]byte)) error { h.n.Add(1); return nil }

// A silent SMSC keeps the bind and answers enquire_link but never a
// submit_sm; with DeliverUnanswered the message still reaches the handset.
func TestUnansweredSubmits(t *testing.T) {
	for _, deliver := range []bool{false, true} {
		h := &countingHandset{}
		srv := smsctest.Start(t, smsc.Options{Handset: h, Faults: smsc.Faults{UnansweredSubmits: true, DeliverUnanswered: deliver}})
		tx := dial(t, srv.Addr(), nil)
		if _, err := tx.Bind(context.Background(), &smpp.Bind{Type: smpp.BindTransceiver, SystemID: "esme", Password: "secret"}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := tx.Submit(ctx, &smpp.SubmitSM{Message: smpp.Message{SourceAddr: "9412", DestAddr: "994500000001", ShortMessage: []byte{1}}})
		cancel()
		if !errors.Is(err, smpp.ErrOutcomeUnknown) {
			t.Fatalf("submit: %v, want no answer", err)
		}
		if _, err := tx.EnquireLink(context.Background()); err != nil {
			t.Fatalf("enquire_link: %v", err)
		}
		if st := srv.Stats(); st.Dropped != 1 || st.Submits != 0 {
			t.Fatalf("stats %+v", st)
		}
		want := int32(0)
		if deliver {
			want = 1
		}
		testutil.Eventually(t, 5*time.Second, "the handset", func() bool { return h.n.Load() == want })
	}
}

// Receipts of a number with a configured network error carry the
// network_error_code TLV and the code in err:; others keep 001/000.
func TestReceiptNetworkErrorCode(t *testing.T) {
	var mu sync.Mutex
	var got []smpp.Receipt
	srv := smsctest.Start(t, smsc.Options{
		Receipts:      map[string]smsc.Outcome{"994500000001": smsc.Undeliverable, "994500000002": smsc.Expired},
		ReceiptErrors: map[string]smpp.NetworkError{"994500000001": {Type: smpp.NetGSM, Code: 27}},
	})
	r := dial(t, srv.Addr(), func(s *smpp.Session, p smpp.PDU) {
		if d, ok := p.(*smpp.DeliverSM); ok {
			rc, err := smpp.ParseReceipt(d.ShortMessage, d.TLVs, smpp.IDString)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, rc)
			mu.Unlock()
			s.Respond(smpp.ResponseTo(d, smpp.StatusOK))
		}
	})
	if _, err := r.Bind(context.Background(), &smpp.Bind{Type: smpp.BindTransceiver, SystemID: "esme", Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"994500000001", "994500000002"} {
		if _, err := r.Submit(context.Background(), &smpp.SubmitSM{Message: smpp.Message{SourceAddr: "9412", DestAddr: n,
			RegisteredDelivery: 1, ShortMessage: []byte{1}}}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, "two receipts", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	mu.Lock()
	defer mu.Unlock()
	for _, rc := range got {
		switch rc.Stat {
		case "UNDELIV":
			if rc.NetworkError != (smpp.NetworkError{Type: smpp.NetGSM, Code: 27}) || rc.Err != "027" {
				t.Errorf("undeliverable receipt %+v", rc)
			}
		case "EXPIRED":
			if !rc.NetworkError.IsZero() || rc.Err != "000" {
				t.Errorf("expired receipt %+v", rc)
			}
		default:
			t.Errorf("receipt %+v", rc)
		}
	}
}

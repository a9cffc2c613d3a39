package smpp

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fnHandler struct {
	mo      func(MO) error
	receipt func(Receipt) error
}

func (h fnHandler) HandleMO(_ context.Context, mo MO) error          { return h.mo(mo) }
func (h fnHandler) HandleReceipt(_ context.Context, r Receipt) error { return h.receipt(r) }

// inboundPool builds a pool whose inbound path is driven directly, without
// Run: it installs h as Run would.
func inboundPool(t *testing.T, h Handler, opts PoolOptions) *Pool {
	t.Helper()
	p, err := NewPool(opts)
	if err != nil {
		t.Fatal(err)
	}
	p.handler = h
	return p
}

func TestPoolInboundStatuses(t *testing.T) {
	var gotMO []MO
	var gotR []Receipt
	moErr := error(nil)
	h := fnHandler{
		mo:      func(mo MO) error { gotMO = append(gotMO, mo); return moErr },
		receipt: func(r Receipt) error { gotR = append(gotR, r); return nil },
	}
	p := inboundPool(t, h, PoolOptions{Operators: []Operator{{Name: "nar", Prefixes: []string{"99470"},
		Binds: []BindConfig{{Addr: "127.0.0.1:1"}}, ReceiptIDFormat: IDHex}}})
	op := p.ops[0]
	ctx := context.Background()
	var payload TLVs
	payload.Set(TagMessagePayload, []byte{0x02, 0x71, 0x00, 0x09})
	payload.Set(0x1501, []byte("vendor")) // unknown TLV: ignored, not fatal
	var rcpt TLVs
	rcpt.SetReceiptedMessageID("ff")
	rcpt.Set(TagMessageState, []byte{byte(StateDelivered)})

	tests := []struct {
		name  string
		req   PDU
		moErr error
		want  CommandStatus
	}{
		{"data_sm MO via message_payload", &DataSM{SourceAddr: "994701", DestAddr: "9412", ESMClass: 0x40, DataCoding: 0xF6, TLVs: payload}, nil, StatusOK},
		{"MO stored later: temporary", &DeliverSM{Message: Message{SourceAddr: "994702", ESMClass: 0x40, ShortMessage: []byte{0x02, 0x71, 0x00}}}, errors.New("redis down"), StatusXTAppn},
		{"MO rejected for good", &DeliverSM{Message: Message{SourceAddr: "994703", ESMClass: 0x40, ShortMessage: []byte{0x02, 0x71, 0x00}}}, ErrPermanent, StatusXPAppn},
		{"malformed UDH", &DeliverSM{Message: Message{SourceAddr: "994704", ESMClass: 0x40, ShortMessage: []byte{0x09, 0x71}}}, nil, StatusXPAppn},
		{"SME ack counts as receipt", &DeliverSM{Message: Message{SourceAddr: "994705", ESMClass: 0x08, TLVs: rcpt}}, nil, StatusOK},
		{"receipt without id", &DeliverSM{Message: Message{SourceAddr: "994706", ESMClass: 0x04, ShortMessage: []byte("stat:DELIVRD")}}, nil, StatusXPAppn},
		{"not an inbound PDU", &QuerySM{}, nil, StatusInvCmdID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moErr = tt.moErr
			if got := p.inbound(ctx, op, tt.req); got != tt.want {
				t.Errorf("status %s, want %s", got, tt.want)
			}
		})
	}
	if len(gotMO) != 3 || !bytes.Equal(gotMO[0].UserData, []byte{0x02, 0x71, 0x00, 0x09}) || gotMO[0].Source != "994701" {
		t.Errorf("MOs %+v", gotMO)
	}
	if len(gotR) != 1 || gotR[0].MessageID != "255" || gotR[0].Source != "994705" {
		t.Errorf("receipts %+v", gotR)
	}
}

func TestLastSegmentFailureKeepsParts(t *testing.T) {
	calls := 0
	h := fnHandler{mo: func(MO) error {
		calls++
		if calls == 1 {
			return errors.New("store down")
		}
		return nil
	}}
	p := inboundPool(t, h, PoolOptions{Operators: []Operator{{Name: "nar", Binds: []BindConfig{{Addr: "127.0.0.1:1"}}}}})
	part := func(n byte) PDU {
		return &DeliverSM{Message: Message{SourceAddr: "994701", ESMClass: 0x40,
			ShortMessage: []byte{0x05, 0x00, 0x03, 0x44, 0x02, n, n}}}
	}
	ctx := context.Background()
	if st := p.inbound(ctx, p.ops[0], part(1)); st != StatusOK {
		t.Fatalf("part 1: %s", st)
	}
	if st := p.inbound(ctx, p.ops[0], part(2)); st != StatusXTAppn {
		t.Fatalf("part 2 with store down: %s", st)
	}
	// The SMSC redelivers only the last part: the first must still be held.
	if st := p.inbound(ctx, p.ops[0], part(2)); st != StatusOK || calls != 2 {
		t.Fatalf("redelivered part 2: %s, calls %d", st, calls)
	}
}

func TestSharedSegmentStoreAcrossInstances(t *testing.T) {
	shared := newMemSegments(10, time.Minute, nil)
	var got [][]byte
	h := fnHandler{mo: func(mo MO) error { got = append(got, mo.UserData); return nil }}
	newInstance := func() *Pool {
		return inboundPool(t, h, PoolOptions{Segments: shared,
			Operators: []Operator{{Name: "nar", Binds: []BindConfig{{Addr: "127.0.0.1:1"}}}}})
	}
	a, b := newInstance(), newInstance()
	part := func(n byte, extra ...byte) PDU {
		ud := append([]byte{byte(5 + len(extra)), 0x00, 0x03, 0x51, 0x02, n}, extra...)
		return &DeliverSM{Message: Message{SourceAddr: "994701", ESMClass: 0x40, ShortMessage: append(ud, n)}}
	}
	ctx := context.Background()
	if st := a.inbound(ctx, a.ops[0], part(1, 0x71, 0x00)); st != StatusOK || len(got) != 0 {
		t.Fatalf("part 1 on instance a: %s, %d MOs", st, len(got))
	}
	if st := b.inbound(ctx, b.ops[0], part(2)); st != StatusOK || len(got) != 1 {
		t.Fatalf("part 2 on instance b: %s, %d MOs", st, len(got))
	}
	if !bytes.Equal(got[0], []byte{0x02, 0x71, 0x00, 1, 2}) {
		t.Errorf("reassembled %x", got[0])
	}
}

// refusingSegments refuses every source but one, as the Redis store
// refuses numbers that are not subscribers.
type refusingSegments struct {
	*memSegments
	allowed string
}

func (r refusingSegments) Add(ctx context.Context, source, key string, total, seq int, part []byte) ([][]byte, error) {
	if source != r.allowed {
		return nil, ErrSegmentRefused
	}
	return r.memSegments.Add(ctx, source, key, total, seq, part)
}

// A part the store refuses is acknowledged (no redelivery) and counted;
// the allowed sender's parts still complete.
func TestRefusedSegmentIsAcknowledged(t *testing.T) {
	var got int
	h := fnHandler{mo: func(MO) error { got++; return nil }}
	store := refusingSegments{newMemSegments(10, time.Minute, nil), "994701"}
	p := inboundPool(t, h, PoolOptions{Segments: store,
		Operators: []Operator{{Name: "nar", Binds: []BindConfig{{Addr: "127.0.0.1:1"}}}}})
	part := func(src string, n byte) PDU {
		return &DeliverSM{Message: Message{SourceAddr: src, ESMClass: 0x40,
			ShortMessage: []byte{0x05, 0x00, 0x03, 0x44, 0x02, n, n}}}
	}
	ctx := context.Background()
	for range 3 {
		if st := p.inbound(ctx, p.ops[0], part("994709", 1)); st != StatusOK {
			t.Fatalf("refused part answered %s, want ESME_ROK", st)
		}
	}
	if n := testutil.ToFloat64(p.m.reassembly.WithLabelValues("nar", "refused")); n != 3 {
		t.Fatalf("refused parts counted %v, want 3", n)
	}
	for n := byte(1); n <= 2; n++ {
		if st := p.inbound(ctx, p.ops[0], part("994701", n)); st != StatusOK {
			t.Fatalf("allowed part %d: %s", n, st)
		}
	}
	if got != 1 {
		t.Fatalf("%d MOs handed on, want 1", got)
	}
}

package smpp

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestParseReceipt(t *testing.T) {
	var tl TLVs
	tl.SetReceiptedMessageID("0001F")
	tl.Set(TagMessageState, []byte{byte(StateDelivered)})
	var onlyState TLVs
	onlyState.Set(TagMessageState, []byte{byte(StateExpired)})
	tests := []struct {
		name     string
		text     string
		tlvs     TLVs
		f        IDFormat
		wantID   string
		wantSt   MessageState
		wantStat string
		wantErr  string
		fail     bool
	}{
		{"appendix B text", "id:1a2b sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:", nil, IDString, "1a2b", StateDelivered, "DELIVRD", "000", false},
		{"TLVs win over text", "id:999 stat:UNDELIV err:001", tl, IDHex, "31", StateDelivered, "DELIVRD", "001", false},
		{"TLVs only", "", tl, IDHex, "31", StateDelivered, "DELIVRD", "", false},
		{"decimal normalised", "id:000123 stat:EXPIRED err:002", nil, IDDecimal, "123", StateExpired, "EXPIRED", "002", false},
		{"case-insensitive keys", "ID:AbC Stat:undeliv Err:5", nil, IDString, "abc", StateUndeliverable, "UNDELIV", "5", false},
		{"state TLV, id in text", "id:7", onlyState, IDString, "7", StateExpired, "EXPIRED", "", false},
		{"key inside a word is not a key", "xid:5 id:6 stat:DELIVRD", nil, IDString, "6", StateDelivered, "DELIVRD", "", false},
		{"no id", "stat:DELIVRD", nil, IDString, "", 0, "", "", true},
		{"fuzz: invalid UTF-8 keeps offsets", "id:0 stAt:\xe4 err:", nil, IDString, "0", StateUnknown, "\xe4", "", false},
		{"no state", "id:5", nil, IDString, "", 0, "", "", true},
		{"fuzz: blank id after trimming", "id:\f stAt:", nil, IDString, "", 0, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseReceipt([]byte(tt.text), tt.tlvs, tt.f)
			if tt.fail {
				if err == nil {
					t.Fatalf("ParseReceipt = %+v, want error", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.MessageID != tt.wantID || r.State != tt.wantSt || r.Stat != tt.wantStat || r.Err != tt.wantErr {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestNormalizeMessageID(t *testing.T) {
	tests := []struct {
		name, in string
		f        IDFormat
		want     string
	}{
		{"string trims and lowers", " AbC\x00", IDString, "abc"},
		{"hex to decimal", "FF", IDHex, "255"},
		{"decimal strips zeros", "00255", IDDecimal, "255"},
		{"hex and decimal meet", NormalizeMessageID("1f4", IDHex), IDDecimal, "500"},
		{"unparseable falls back", "x-1", IDHex, "x-1"},
		{"empty id", "", IDHex, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeMessageID(tt.in, tt.f); got != tt.want {
				t.Errorf("NormalizeMessageID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitUDH(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		others []byte
		cc     concat
		body   []byte
		err    error
	}{
		{"8-bit concat and RPI", []byte{0x07, 0x00, 0x03, 0x09, 0x02, 0x01, 0x71, 0x00, 0xAA}, []byte{0x71, 0x00}, concat{ref: 9, total: 2, seq: 1, kind: 0x00, present: true}, []byte{0xAA}, nil},
		{"16-bit concat", []byte{0x06, 0x08, 0x04, 0x12, 0x34, 0x03, 0x03, 0xBB}, nil, concat{ref: 0x1234, total: 3, seq: 3, kind: 0x08, present: true}, []byte{0xBB}, nil},
		{"CPI only", []byte{0x02, 0x70, 0x00, 0x01, 0x02}, []byte{0x70, 0x00}, concat{}, []byte{0x01, 0x02}, nil},
		{"UDHL beyond data", []byte{0x05, 0x00}, nil, concat{}, nil, ErrOverflow},
		{"IE beyond UDH", []byte{0x02, 0x00, 0x03}, nil, concat{}, nil, ErrOverflow},
		{"bad concat IE size", []byte{0x04, 0x00, 0x02, 0x01, 0x01}, nil, concat{}, nil, ErrBadValue},
		{"empty", nil, nil, concat{}, nil, ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			others, cc, body, err := splitUDH(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || !bytes.Equal(others, tt.others) || cc != tt.cc || !bytes.Equal(body, tt.body) {
				t.Errorf("got %x %+v %x %v", others, cc, body, err)
			}
		})
	}
}

func TestMemSegmentsBoundsAndExpiry(t *testing.T) {
	var expired int
	now := time.Unix(1000, 0)
	r := newMemSegments(2, time.Minute, func(n int) { expired += n })
	r.now = func() time.Time { return now }
	ctx := context.Background()
	if parts, err := r.Add(ctx, "994500000001", "k1", 2, 1, []byte{0, 1}); parts != nil || err != nil {
		t.Fatalf("part 1: %x %v", parts, err)
	}
	r.Add(ctx, "994500000001", "k2", 2, 1, []byte{0, 1})
	if _, err := r.Add(ctx, "994500000001", "k3", 2, 1, []byte{0, 1}); !errors.Is(err, ErrTooManyPartials) {
		t.Errorf("third partial: %v, want full", err)
	}
	if _, err := r.Add(ctx, "994500000001", "k1", 2, 3, nil); !errors.Is(err, ErrBadValue) {
		t.Errorf("seq beyond total: %v", err)
	}
	if _, err := r.Add(ctx, "994500000001", "k1", 3, 2, nil); !errors.Is(err, ErrBadValue) {
		t.Errorf("total changed: %v", err)
	}
	// Two minutes later both partials expire and make room.
	now = now.Add(2 * time.Minute)
	if _, err := r.Add(ctx, "994500000001", "k3", 2, 1, []byte{0, 1}); err != nil || expired != 2 {
		t.Errorf("after expiry: %v, expired %d", err, expired)
	}
	// A duplicate part does not complete the message.
	r.Add(ctx, "994500000001", "k3", 2, 1, []byte{0, 1})
	parts, err := r.Add(ctx, "994500000001", "k3", 2, 2, []byte{0, 2})
	if err != nil || len(parts) != 2 {
		t.Fatalf("complete: %x %v", parts, err)
	}
	ud, udh, err := joinParts(parts)
	if err != nil || udh || !bytes.Equal(ud, []byte{1, 2}) {
		t.Errorf("joined %x %v %v", ud, udh, err)
	}
	r.Done(ctx, "994500000001", "k3")
	if parts, _ := r.Add(ctx, "994500000001", "k3", 2, 2, []byte{0, 2}); parts != nil {
		t.Error("Done did not forget the message")
	}
}

func TestJoinParts(t *testing.T) {
	tests := []struct {
		name  string
		parts [][]byte
		want  []byte
		udh   bool
		fail  bool
	}{
		{"IEs of part 1 become the UDH", [][]byte{packPart([]byte{0x71, 0x00}, []byte{1}), packPart(nil, []byte{2})}, []byte{0x02, 0x71, 0x00, 1, 2}, true, false},
		{"later parts' IEs are dropped", [][]byte{packPart(nil, []byte{1}), packPart([]byte{0x71, 0x00}, []byte{2})}, []byte{1, 2}, false, false},
		{"malformed stored part", [][]byte{{5, 1}}, nil, false, true},
		{"empty stored part", [][]byte{{}}, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, udh, err := joinParts(tt.parts)
			if (err != nil) != tt.fail || !bytes.Equal(got, tt.want) || udh != tt.udh {
				t.Errorf("joinParts = %x %v %v", got, udh, err)
			}
		})
	}
}

// FuzzParseReceipt: never panics; a parsed receipt always has an id.
func FuzzParseReceipt(f *testing.F) {
	f.Add([]byte("id:1a2b sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:"))
	f.Add([]byte("id: stat:"))
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := ParseReceipt(text, nil, IDHex)
		if err == nil && r.MessageID == "" {
			t.Fatalf("receipt without id from %q", text)
		}
	})
}

// FuzzSplitUDH: if a UDH splits, rebuilding it from the non-concatenation
// IEs and the body splits again to the same parts.
func FuzzSplitUDH(f *testing.F) {
	f.Add([]byte{0x07, 0x00, 0x03, 0x09, 0x02, 0x01, 0x71, 0x00, 0xAA})
	f.Add([]byte{0x06, 0x08, 0x04, 0x12, 0x34, 0x03, 0x03, 0xBB})
	f.Add([]byte{0x02, 0x70, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, ud []byte) {
		others, _, body, err := splitUDH(ud)
		if err != nil || len(others) == 0 || len(others) > 255 {
			return
		}
		o2, cc, b2, err := splitUDH(buildUD(others, body))
		if err != nil || cc.present || !bytes.Equal(o2, others) || !bytes.Equal(b2, body) {
			t.Fatalf("rebuild of %x: %x %+v %x %v", ud, o2, cc, b2, err)
		}
	})
}

package sms

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Header
		body string
		err  error
	}{
		{"single-command", "027000aabb", Header{Packet: IEICommand}, "aabb", nil},
		{"single-response", "027100cc", Header{Packet: IEIResponse}, "cc", nil},
		{"concat8-first", "0700030a0301700001", Header{Packet: IEICommand, HasConcat: true, Concat: Concat{Ref: 10, Total: 3, Seq: 1}}, "01", nil},
		{"concat8-then-pid", "077000000309020102", Header{Packet: IEICommand, HasConcat: true, Concat: Concat{Ref: 9, Total: 2, Seq: 1}}, "02", nil},
		{"concat16", "060804abcd0202ff", Header{HasConcat: true, Concat: Concat{Ref: 0xabcd, Ref16: true, Total: 2, Seq: 2}}, "ff", nil},
		{"unknown-ie-skipped", "05240100700001", Header{Packet: IEICommand}, "01", nil},
		{"empty", "", Header{}, "", ErrNoUDH},
		{"udhl-past-end", "0570", Header{}, "", ErrUDH},
		{"ie-truncated", "027005", Header{}, "", ErrUDH},
		{"pid-with-data", "03700101", Header{}, "", ErrUDH},
		{"two-pids", "0470007100", Header{}, "", ErrUDH},
		{"two-concats", "0a000301020100030102", Header{}, "", ErrUDH},
		{"concat-seq0", "050003010200", Header{}, "", ErrConcat},
		{"concat-seq-over", "050003010203", Header{}, "", ErrConcat},
		{"concat-bad-len", "0400020102", Header{}, "", ErrConcat},
		{"concat-33", "050003012101", Header{}, "", ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, err := Parse(unhex(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if h != tt.want || hex.EncodeToString(body) != tt.body {
				t.Fatalf("got %+v %x", h, body)
			}
		})
	}
	if _, _, err := Parse(make([]byte, MaxReassembled+1)); !errors.Is(err, ErrUserData) {
		t.Fatalf("over-long user data: %v", err)
	}
	if _, _, err := NewReassembler(ReassemblerOptions{}).Add(append([]byte{2, 0x70, 0}, make([]byte, 138)...), time.Now()); !errors.Is(err, ErrUserData) {
		t.Fatalf("141-octet segment: %v", err)
	}
}

func TestAppendHeaderGolden(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		want string
	}{
		{"command", Header{Packet: IEICommand}, "027000"},
		{"response", Header{Packet: IEIResponse}, "027100"},
		{"concat8-first", Header{Packet: IEICommand, HasConcat: true, Concat: Concat{Ref: 0x42, Total: 2, Seq: 1}}, "0700034202017000"},
		{"concat8-later", Header{HasConcat: true, Concat: Concat{Ref: 0x42, Total: 2, Seq: 2}}, "0500034202 02"},
		{"concat16-first", Header{Packet: IEIResponse, HasConcat: true, Concat: Concat{Ref: 0x1234, Ref16: true, Total: 3, Seq: 1}}, "080804123403017100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := bytes.ReplaceAll([]byte(tt.want), []byte(" "), nil)
			if got := hex.EncodeToString(AppendHeader(nil, tt.h)); got != string(want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

func packet(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + 7)
	}
	return p
}

func TestSegmentSizes(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		ref16   bool
		want    int
		wantErr error
	}{
		{"single-max", 137, false, 1, nil},
		{"two", 138, false, 2, nil},
		{"two-full", 132 + 134, false, 2, nil},
		{"three", 132 + 134 + 1, false, 3, nil},
		{"ref16-two-full", 131 + 133, true, 2, nil},
		{"ref16-three", 131 + 133 + 1, true, 3, nil},
		{"max-32", 132 + 31*134, false, 32, nil},
		{"over-32", 132 + 31*134 + 1, false, 0, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, err := Segment(IEICommand, packet(tt.n), 0x1A7, tt.ref16)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v", err)
			}
			if len(segs) != tt.want {
				t.Fatalf("%d segments, want %d", len(segs), tt.want)
			}
			for i, s := range segs {
				if len(s) > MaxUserData {
					t.Fatalf("segment %d has %d octets", i, len(s))
				}
				if i < len(segs)-1 && len(s) != MaxUserData {
					t.Fatalf("segment %d not full: %d", i, len(s))
				}
				h, _, err := Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				if (i == 0) != (h.Packet == IEICommand) {
					t.Fatalf("segment %d packet id %x", i, h.Packet)
				}
				if len(segs) > 1 && (h.Concat.Ref16 != tt.ref16 || !tt.ref16 && h.Concat.Ref != 0xA7) {
					t.Fatalf("concat %+v", h.Concat)
				}
			}
		})
	}
}

func TestReassembleAnyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1000, 0)
	for _, ref16 := range []bool{false, true} {
		for _, n := range []int{10, 137, 200, 500, 4000} {
			t.Run(fmt.Sprintf("ref16=%v/n=%d", ref16, n), func(t *testing.T) {
				p := packet(n)
				segs, err := Segment(IEIResponse, p, 77, ref16)
				if err != nil {
					t.Fatal(err)
				}
				// Shuffle and duplicate some segments.
				order := rng.Perm(len(segs))
				r := NewReassembler(ReassemblerOptions{})
				var got Message
				done := 0
				for k, i := range order {
					m, ok, err := r.Add(segs[i], now)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						got = m
						done++
					}
					if k%3 == 0 && k < len(order)-1 {
						if _, ok, err := r.Add(segs[i], now); err != nil || ok {
							t.Fatalf("duplicate add: %v %v", ok, err)
						}
					}
				}
				if done != 1 || got.Packet != IEIResponse || !bytes.Equal(got.Data, p) {
					t.Fatalf("done=%d packet %x len %d", done, got.Packet, len(got.Data))
				}
				if r.Pending() != 0 {
					t.Fatal("set left pending")
				}
			})
		}
	}
}

func TestReassembleInterleavedAndExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewReassembler(ReassemblerOptions{TTL: time.Minute, MaxPending: 2})
	a, _ := Segment(IEICommand, packet(300), 1, false)
	b, _ := Segment(IEICommand, packet(301), 1, true) // same number, other size: another set
	mustPending := func(ud []byte, at time.Time) {
		t.Helper()
		if _, ok, err := r.Add(ud, at); ok || err != nil {
			t.Fatalf("ok=%v err=%v", ok, err)
		}
	}
	mustPending(a[0], now)
	mustPending(b[1], now)
	mustPending(a[2], now)
	if r.Pending() != 2 {
		t.Fatalf("pending %d", r.Pending())
	}
	// b's set expires; its remaining segments start a new, incomplete set.
	later := now.Add(2 * time.Minute)
	mustPending(b[0], later)
	mustPending(b[2], later)
	if r.Pending() != 1 {
		t.Fatalf("pending after expiry %d", r.Pending())
	}
	// Bounded: a third set drops the oldest.
	r2 := NewReassembler(ReassemblerOptions{MaxPending: 2})
	for ref := range 3 {
		s, _ := Segment(IEICommand, packet(300), uint16(ref), false)
		if _, ok, err := r2.Add(s[0], now.Add(time.Duration(ref)*time.Second)); ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if r2.Pending() != 2 {
		t.Fatalf("pending %d, want 2", r2.Pending())
	}
	// A segment with another total under the same reference is rejected.
	mustPending(a[1], later)
	c, _ := Segment(IEICommand, packet(500), 1, false)
	if _, _, err := r.Add(c[1], later); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(unhex("027000aabb"))
	f.Add(unhex("0700030a0301700001"))
	f.Add(unhex("060804abcd0202ff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, body, err := Parse(in)
		if err != nil {
			return
		}
		out := append(AppendHeader(nil, h), body...)
		h2, body2, err := Parse(out)
		if err != nil || h2 != h || !bytes.Equal(body, body2) {
			t.Fatalf("reparse %+v %x %v", h2, body2, err)
		}
	})
}

// FuzzReassemble feeds a sequence of user data split from the input; the
// reassembler must never panic, never hold more than its bound, and a
// completed message re-segments into segments that reassemble equal.
func FuzzReassemble(f *testing.F) {
	segs, _ := Segment(IEICommand, packet(300), 5, false)
	var seed []byte
	for _, s := range segs {
		seed = append(seed, byte(len(s)))
		seed = append(seed, s...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReassembler(ReassemblerOptions{MaxPending: 4})
		now := time.Unix(0, 0)
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			ud := in[1 : 1+n]
			in = in[1+n:]
			m, ok, err := r.Add(ud, now)
			if r.Pending() > 4 {
				t.Fatal("bound exceeded")
			}
			if err != nil || !ok || m.Packet == 0 {
				continue
			}
			again, err := Segment(m.Packet, m.Data, 9, false)
			if err != nil {
				continue // a long single segment with other IEs can exceed 32 parts only if huge; skip
			}
			r2 := NewReassembler(ReassemblerOptions{})
			for i, s := range again {
				m2, ok2, err := r2.Add(s, now)
				if err != nil || ok2 != (i == len(again)-1) || ok2 && !bytes.Equal(m2.Data, m.Data) {
					t.Fatalf("re-reassembly: %v %v", ok2, err)
				}
			}
		}
	})
}

func BenchmarkSegment300(b *testing.B) {
	p := packet(300)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Segment(IEICommand, p, 1, false); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleSegment() {
	segs, _ := Segment(IEICommand, packet(200), 0x42, false)
	for _, s := range segs {
		fmt.Printf("%d octets, UDH %x\n", len(s), s[:1+s[0]])
	}
	// Output:
	// 140 octets, UDH 0700034202017000
	// 74 octets, UDH 050003420202
}

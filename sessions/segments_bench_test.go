package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// BenchmarkSegmentsReply stores one ML-DSA-44 reply's 20 parts (140
// octets each) and completes it: 20 Adds and a Done, two script round
// trips each (the sender's part, then the total), against a local
// redis-server.
func BenchmarkSegmentsReply(b *testing.B) {
	s, _ := benchStore(b)
	g, err := s.MOSegments(SegmentOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const phone = "+994500000001"
	if err := s.PutSubscriber(ctx, sampleSubscriber(phone), "123456"); err != nil {
		b.Fatal(err)
	}
	part := bytes.Repeat([]byte{0x5a}, 140)
	const total = 20
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		key := fmt.Sprintf("azercell|994500000001|08|%d|%d", n, total)
		for seq := 1; seq <= total; seq++ {
			got, err := g.Add(ctx, phone, key, total, seq, part)
			if err != nil || (seq == total) != (got != nil) {
				b.Fatalf("part %d: %v %d", seq, err, len(got))
			}
		}
		if err := g.Done(ctx, phone, key); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSegmentReply feeds decodeSegmentReply replies built from fuzz input:
// it never panics, and a decoded set re-encoded as the script would send
// it decodes to the same parts.
func FuzzSegmentReply(f *testing.F) {
	f.Add("set", 2, []byte("\x00ab\x00cd"), 3, int64(2))
	f.Add("held", 1, []byte{}, 0, int64(1))
	f.Add("busy", 1, []byte{}, 0, int64(1))
	f.Add("total", 3, []byte("3"), 1, int64(-1))
	f.Add("set", 3, []byte("\x00a"), 1, int64(3))
	f.Add("nosub", 1, []byte{}, 0, int64(-1))
	f.Fuzz(func(t *testing.T, tag string, total int, data []byte, cut int, count int64) {
		if total < 0 || total > MaxSegmentParts {
			return
		}
		reply := []any{tag}
		if count >= 0 {
			reply = append(reply, count, int64(0), count/2)
		}
		for len(data) > 0 && cut > 0 {
			k := min(cut, len(data))
			reply = append(reply, string(data[:k]))
			data = data[k:]
		}
		parts, st, err := decodeSegmentReply(reply, total)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrNotSubscriber) {
				t.Fatalf("error %v matches none of ErrInvalid, ErrUnavailable, ErrNotSubscriber", err)
			}
			return
		}
		if parts == nil {
			return
		}
		again := []any{"set", int64(st.senderParts), int64(st.evicted), int64(st.expired)}
		for _, p := range parts {
			again = append(again, string(p))
		}
		parts2, st2, err := decodeSegmentReply(again, len(parts))
		if st2 != st {
			t.Fatalf("state %+v, then %+v", st, st2)
		}
		if err != nil || len(parts2) != len(parts) {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range parts {
			if !bytes.Equal(parts[i], parts2[i]) {
				t.Fatalf("part %d differs", i+1)
			}
		}
	})
}

package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// segs returns a SegmentStore on s with the defaults.
func segs(t *testing.T, s *Store) *SegmentStore {
	t.Helper()
	g, err := s.MOSegments(SegmentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// segKey is a message key as the SMPP layer builds it: operator,
// originator MSISDN, concatenation kind, reference, part count.
func segKey(phone string, total int) string {
	return fmt.Sprintf("azercell|%s|08|%d|%d", phone, 7, total)
}

// subscriberPhone provisions a new subscriber and returns its phone: only
// subscribers may leave MO parts.
func subscriberPhone(t *testing.T, s *Store) string {
	t.Helper()
	phone := newPhone()
	if err := s.PutSubscriber(context.Background(), sampleSubscriber(phone), "123456"); err != nil {
		t.Fatal(err)
	}
	return phone
}

func segPart(seq int) []byte { return []byte(fmt.Sprintf("\x00part-%03d", seq)) }

func wantSet(t *testing.T, got [][]byte, total int) {
	t.Helper()
	if len(got) != total {
		t.Fatalf("got %d parts, want %d", len(got), total)
	}
	for i, p := range got {
		if !bytes.Equal(p, segPart(i+1)) {
			t.Fatalf("part %d = %q, want %q", i+1, p, segPart(i+1))
		}
	}
}

func testSegmentsAnyOrder(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	g := segs(t, e.store)
	ctx := context.Background()
	phone := subscriberPhone(t, e.store)
	key := segKey(phone, 5)
	order := []int{3, 1, 3, 5, 2, 1}
	for _, seq := range order {
		got, err := g.Add(ctx, phone, key, 5, seq, segPart(seq))
		if err != nil || got != nil {
			t.Fatalf("Add %d: %v %q, want held", seq, err, got)
		}
	}
	// A duplicate with other content keeps the first copy.
	if got, err := g.Add(ctx, phone, key, 5, 2, []byte("changed")); err != nil || got != nil {
		t.Fatalf("duplicate: %v %q", err, got)
	}
	got, err := g.Add(ctx, phone, key, 5, 4, segPart(4))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, got, 5)
	if err := g.Done(ctx, phone, key); err != nil {
		t.Fatal(err)
	}
	if n := e.rdb.Exists(ctx, e.store.phone(phone).senderKey()).Val(); n != 0 {
		t.Fatal("Done left the sender's hash")
	}
	// One part is a complete message at once.
	got, err = g.Add(ctx, phone, segKey(phone, 1), 1, 1, segPart(1))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, got, 1)
}

func testSegmentsInvalid(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	g := segs(t, e.store)
	ctx := context.Background()
	phone := subscriberPhone(t, e.store)
	key := segKey(phone, 3)
	rows := []struct {
		name       string
		key        string
		total, seq int
		part       []byte
	}{
		{"total zero", key, 0, 1, nil},
		{"total 256", key, 256, 1, nil},
		{"seq zero", key, 3, 0, nil},
		{"seq beyond total", key, 3, 4, nil},
		{"part too long", key, 3, 1, make([]byte, MaxSegmentPartLen+1)},
		{"empty key", "", 3, 1, nil},
		{"key too long", strings.Repeat("k", MaxSegmentKeyLen+1), 3, 1, nil},
		{"more parts than a sender may keep", key, DefaultSegmentsPerSender + 1, 1, nil},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if _, err := g.Add(ctx, phone, r.key, r.total, r.seq, r.part); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := g.Add(ctx, phone, key, 3, 1, segPart(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Add(ctx, phone, key, 4, 2, segPart(2)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other total: %v, want ErrInvalid", err)
	}
	if _, err := g.Add(ctx, phone, segKey(phone, DefaultSegmentsPerSender), DefaultSegmentsPerSender, DefaultSegmentsPerSender, make([]byte, MaxSegmentPartLen)); err != nil {
		t.Fatalf("largest arguments: %v", err)
	}
	for _, o := range []SegmentOptions{{TTL: time.Millisecond}, {TTL: time.Minute, Lease: time.Minute}, {Lease: -1},
		{MaxPerSender: 31}, {MaxPerSender: 256}, {MaxPerSender: 64, MaxTotal: 63}} {
		if _, err := e.store.MOSegments(o); !errors.Is(err, ErrInvalid) {
			t.Fatalf("options %+v: %v, want ErrInvalid", o, err)
		}
	}
}

// Two instances each receive half of the parts: exactly one of them gets
// the whole set, whichever completed it.
func testSegmentsTwoInstances(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	a, b := segs(t, e.store), segs(t, e.peer())
	ctx := context.Background()
	const total = 20
	phone := subscriberPhone(t, e.store)
	key := segKey(phone, total)
	sets := 0
	for seq := total; seq >= 1; seq-- {
		g := a
		if seq%2 == 0 {
			g = b
		}
		got, err := g.Add(ctx, phone, key, total, seq, segPart(seq))
		if err != nil {
			t.Fatal(err)
		}
		if got != nil {
			if seq != 1 {
				t.Fatalf("set handed out at part %d, before the last", seq)
			}
			wantSet(t, got, total)
			sets++
		}
	}
	if sets != 1 {
		t.Fatalf("%d instances got the set, want 1", sets)
	}
}

// Many instances add the same last part at once: one gets the set, the
// others are told it is claimed.
func testSegmentsConcurrent(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	const total, racers = 4, 8
	phone := subscriberPhone(t, e.store)
	key := segKey(phone, total)
	first := segs(t, e.store)
	for seq := 1; seq < total; seq++ {
		if _, err := first.Add(ctx, phone, key, total, seq, segPart(seq)); err != nil {
			t.Fatal(err)
		}
	}
	stores := make([]*SegmentStore, racers)
	for i := range stores {
		stores[i] = segs(t, e.peer())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, busy := 0, 0
	for _, g := range stores {
		wg.Go(func() {
			got, err := g.Add(ctx, phone, key, total, total, segPart(total))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrSegmentsBusy) && errors.Is(err, ErrUnavailable):
				busy++
			case err != nil:
				t.Errorf("Add: %v", err)
			case got != nil:
				wantSet(t, got, total)
				wins++
			}
		})
	}
	wg.Wait()
	if wins != 1 || busy != racers-1 {
		t.Fatalf("wins %d busy %d, want 1 and %d", wins, busy, racers-1)
	}
}

// Parts older than the TTL are forgotten; the Redis TTL reclaims memory.
func testSegmentsTTL(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	g, err := e.store.MOSegments(SegmentOptions{TTL: time.Minute, Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	phone := subscriberPhone(t, e.store)
	key := segKey(phone, 3)
	if _, err := g.Add(ctx, phone, key, 3, 1, segPart(1)); err != nil {
		t.Fatal(err)
	}
	if ttl := e.rdb.PTTL(ctx, e.store.phone(phone).senderKey()).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL %v, want in (0, 1m]", ttl)
	}
	e.clock.Advance(50 * time.Second)
	if _, err := g.Add(ctx, phone, key, 3, 2, segPart(2)); err != nil { // refreshes
		t.Fatal(err)
	}
	e.clock.Advance(50 * time.Second) // 100 s after part 1, 50 s after part 2
	got, err := g.Add(ctx, phone, key, 3, 3, segPart(3))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, got, 3)
	if err := g.Done(ctx, phone, key); err != nil {
		t.Fatal(err)
	}

	if _, err := g.Add(ctx, phone, key, 3, 1, segPart(1)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(61 * time.Second)
	for _, seq := range []int{2, 3} {
		if got, err := g.Add(ctx, phone, key, 3, seq, segPart(seq)); err != nil || got != nil {
			t.Fatalf("part %d after expiry: %v %q, want held (part 1 expired)", seq, err, got)
		}
	}
}

// A handling that fails leaves the set claimed; a redelivered part within
// the lease is refused as busy (temporary), after it gets the set again.
func testSegmentsLease(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	a, b := segs(t, e.store), segs(t, e.peer())
	ctx := context.Background()
	const total = 3
	phone := subscriberPhone(t, e.store)
	key := segKey(phone, total)
	for seq := 1; seq <= total; seq++ {
		got, err := a.Add(ctx, phone, key, total, seq, segPart(seq))
		if err != nil {
			t.Fatal(err)
		}
		if seq == total {
			wantSet(t, got, total)
		}
	}
	// a's handling fails: no Done. Any part redelivered during the lease:
	for seq := 1; seq <= total; seq++ {
		if _, err := b.Add(ctx, phone, key, total, seq, segPart(seq)); !errors.Is(err, ErrSegmentsBusy) {
			t.Fatalf("part %d during the lease: %v, want ErrSegmentsBusy", seq, err)
		}
	}
	e.clock.Advance(DefaultSegmentLease + time.Millisecond)
	got, err := b.Add(ctx, phone, key, total, 2, segPart(2))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, got, total)
	if _, err := a.Add(ctx, phone, key, total, 1, segPart(1)); !errors.Is(err, ErrSegmentsBusy) {
		t.Fatalf("after the re-claim: %v, want ErrSegmentsBusy", err)
	}
	if err := b.Done(ctx, phone, key); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Add(ctx, phone, key, total, 1, segPart(1)); err != nil || got != nil {
		t.Fatalf("after Done: %v %q, want a fresh message, held", err, got)
	}
}

func testSegmentsKeyNames(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	g := segs(t, e.store)
	ctx := context.Background()
	phone := subscriberPhone(t, e.store)
	key := segKey(phone, 2)
	if _, err := g.Add(ctx, phone, key, 2, 1, segPart(1)); err != nil {
		t.Fatal(err)
	}
	ref := e.store.phone(phone)
	k := ref.senderKey()
	if n := e.rdb.Exists(ctx, k).Val(); n != 1 {
		t.Fatalf("key %s missing", k)
	}
	fields := e.rdb.HKeys(ctx, k).Val()
	for _, name := range append(fields, k) {
		for _, secret := range []string{phone, phone[1:], phone[4:], "azercell"} {
			if strings.Contains(name, secret) {
				t.Fatalf("key or field %s contains %q", name, secret)
			}
		}
	}
	if !strings.HasPrefix(k, ref.tag) || !isSenderKey(k) {
		t.Fatalf("key %s does not carry the phone's hash tag", k)
	}
	// Another pepper names the same message differently.
	other := newEnv(t, be, nil)
	if segs(t, other.store).messageID(key) == g.messageID(key) {
		t.Fatal("message id does not depend on the pepper")
	}
}

// A Redis that never answers: Add and Done fail within OpTimeout with
// ErrUnavailable (the pool then answers ESME_RX_T_APPN), never as busy.
func TestSegmentsUnavailable(t *testing.T) {
	t.Parallel()
	rdb := clientFor(t, hungServer(t))
	s, err := New(rdb, Options{Pepper: randomPepper(), OpTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	g := segs(t, s)
	ctx := context.Background()
	begin := time.Now()
	phone := newPhone()
	_, err = g.Add(ctx, phone, segKey(phone, 2), 2, 1, segPart(1))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrSegmentsBusy) {
		t.Fatalf("Add: %v, want ErrUnavailable", err)
	}
	if err := g.Done(ctx, phone, segKey(phone, 2)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Done: %v, want ErrUnavailable", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("took %v, want about 2 × OpTimeout", d)
	}
}

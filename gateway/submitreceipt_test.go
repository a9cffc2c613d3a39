package gateway

import (
	"context"
	"testing"
	"time"
)

// A receipt that arrives while its submit is being made joins the record;
// one for another message, or once the record is sent, does not; and the
// record waits for a receipt only once receipts have been coming quick.
func TestPendingSubmits(t *testing.T) {
	ctx := context.Background()
	p := newPendingSubmits()
	if p.join(ctx, "+994500000001", "m1") {
		t.Fatal("a receipt joined with no submit in progress")
	}

	// Early receipt, before the SMSC's answer is known: joins.
	ps := p.begin("+994500000001")
	joined := make(chan bool, 1)
	go func() { joined <- p.join(ctx, "+994500000001", "m1") }()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(ps.early) == 1 })
	if !p.send(ps, []string{"m1", "m2"}) {
		t.Fatal("send did not report the waiting receipt")
	}
	p.end(ps, true)
	if !<-joined {
		t.Fatal("the receipt was not stored with the record")
	}

	// A receipt for another message: released, not joined.
	ps = p.begin("+994500000001")
	go func() { joined <- p.join(ctx, "+994500000001", "other") }()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(ps.early) == 1 })
	if p.send(ps, []string{"m3"}) {
		t.Fatal("another message's receipt was taken for this submit's")
	}
	p.end(ps, true)
	if <-joined {
		t.Fatal("another message's receipt reported joined")
	}

	// A failed record: the receipt is left to the other paths.
	ps = p.begin("+994500000001")
	go func() { joined <- p.join(ctx, "+994500000001", "m4") }()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(ps.early) == 1 })
	p.send(ps, []string{"m4"})
	p.end(ps, false)
	if <-joined {
		t.Fatal("a receipt reported joined to a record that failed")
	}

	// Receipts have come quick: the next record waits for one, which wakes
	// it at once.
	p.mu.Lock()
	p.quick = quickMax
	p.mu.Unlock()
	ps = p.begin("+994500000002")
	sent := make(chan bool, 1)
	go func() { sent <- p.send(ps, []string{"m5"}) }()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return ps.wake != nil })
	go func() { joined <- p.join(ctx, "+994500000002", "m5") }()
	if !<-sent {
		t.Fatal("the waiting record did not take the receipt")
	}
	p.end(ps, true)
	if !<-joined {
		t.Fatal("the receipt the record waited for was not stored with it")
	}
	// Without receipts the wait fades: quickMax-quickThreshold+1 records
	// later no record waits any more.
	for range quickMax {
		ps = p.begin("+994500000003")
		p.send(ps, []string{"m6"})
		p.end(ps, true)
	}
	ps = p.begin("+994500000003")
	begun := time.Now()
	p.send(ps, []string{"m7"})
	p.end(ps, true)
	if p.quick != 0 || time.Since(begun) >= receiptWait {
		t.Fatalf("quick %d after records without receipts; the last send took %v", p.quick, time.Since(begun))
	}
}

// waitFor polls cond until it holds, failing after five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

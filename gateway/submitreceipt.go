package gateway

import (
	"context"
	"slices"
	"sync"
	"time"
)

// pendingSubmits holds, per phone, the submit this instance is making and
// recording, so that a delivery receipt which outruns the record of its
// submit (some SMSCs send a receipt right behind submit_sm_resp) is stored
// with that record, in the same script, instead of being retried or
// costing round trips of its own (docs/performance.md §2).
//
// When the operator's receipts have been coming that fast (quick), the
// record waits up to receiptWait for the receipt before it is sent; the
// wait ends as soon as the receipt arrives. With an SMSC whose receipts
// follow the handset's delivery, seconds later, quick stays at zero and
// no record ever waits.
type pendingSubmits struct {
	mu      sync.Mutex
	byPhone map[string]*pendingSubmit
	quick   int // recent submits whose receipt came before the record settled, 0..quickMax
}

// Tuning of the wait for a receipt right behind the submit.
const (
	receiptWait    = 3 * time.Millisecond
	quickMax       = 8
	quickThreshold = 4
)

// pendingSubmit is one submit being made: the receipts that arrived for
// it (by message id) before its record was sent, and the outcome.
type pendingSubmit struct {
	phone   string
	ids     []string      // the SMSC's message ids, once it answered
	early   []string      // message ids of receipts waiting for the record
	sent    bool          // the record is on its way: too late to join it
	stored  bool          // the record, with the delivery, is stored
	quick   bool          // a receipt came before the record settled
	wake    chan struct{} // closed when a receipt joins a waiting record
	settled chan struct{} // made by the first receipt to wait; closed by end
}

func newPendingSubmits() *pendingSubmits {
	return &pendingSubmits{byPhone: make(map[string]*pendingSubmit)}
}

// begin registers the submit about to be made to phone; end must follow.
func (p *pendingSubmits) begin(phone string) *pendingSubmit {
	ps := &pendingSubmit{phone: phone}
	p.mu.Lock()
	p.byPhone[phone] = ps
	p.mu.Unlock()
	return ps
}

// send is called once the SMSC accepted the submit with ids, just before
// its record is sent; it reports whether a receipt for one of them is
// waiting to be stored with it. While receipts come quick it first waits
// up to receiptWait for one.
func (p *pendingSubmits) send(ps *pendingSubmit, ids []string) (delivered bool) {
	p.mu.Lock()
	ps.ids = ids
	if ps.joined() || p.quick < quickThreshold {
		ps.sent = true
		d := ps.joined()
		p.mu.Unlock()
		return d
	}
	wake := make(chan struct{})
	ps.wake = wake
	p.mu.Unlock()
	t := time.NewTimer(receiptWait)
	select {
	case <-wake:
	case <-t.C:
	}
	t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	ps.sent, ps.wake = true, nil
	return ps.joined()
}

// joined reports whether a receipt for one of ps's ids waits to be stored
// with its record. p.mu is held.
func (ps *pendingSubmit) joined() bool {
	for _, id := range ps.early {
		if slices.Contains(ps.ids, id) {
			return true
		}
	}
	return false
}

// end settles the submit: stored reports whether the record, with the
// delivery send asked for, was stored. Waiting receipts are released.
func (p *pendingSubmits) end(ps *pendingSubmit, stored bool) {
	p.mu.Lock()
	ps.stored = stored
	ps.sent = true
	switch {
	case ps.quick:
		p.quick = min(p.quick+1, quickMax)
	case stored:
		p.quick = max(p.quick-1, 0)
	}
	if p.byPhone[ps.phone] == ps {
		delete(p.byPhone, ps.phone)
	}
	if ps.settled != nil {
		close(ps.settled)
	}
	p.mu.Unlock()
}

// join has the receipt for message id wait for the submit being made to
// phone and be stored with its record. It reports whether that happened;
// false (no submit in progress, the record already sent, another
// message's receipt, a failed record) leaves the receipt to the other
// paths, which by then find the record.
func (p *pendingSubmits) join(ctx context.Context, phone, id string) bool {
	p.mu.Lock()
	ps := p.byPhone[phone]
	if ps == nil {
		p.mu.Unlock()
		return false
	}
	ps.quick = true
	if ps.settled == nil {
		ps.settled = make(chan struct{})
	}
	settled := ps.settled
	if ps.sent || len(ps.early) >= maxEarlyReceipts {
		p.mu.Unlock()
		waitSettled(ctx, settled) // the record is on its way: let it land first
		return false
	}
	ps.early = append(ps.early, id)
	if ps.wake != nil && slices.Contains(ps.ids, id) {
		close(ps.wake)
		ps.wake = nil
	}
	p.mu.Unlock()
	if !waitSettled(ctx, settled) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return ps.stored && slices.Contains(ps.ids, id)
}

// maxEarlyReceipts bounds the receipts that may wait for one submit (a
// command has at most sessions.MaxMessageIDs segments).
const maxEarlyReceipts = 32

// waitSettled waits for a submit to settle (settled closed), at most
// maxSubmitWait or until ctx ends; it reports whether it settled.
func waitSettled(ctx context.Context, settled chan struct{}) bool {
	t := time.NewTimer(maxSubmitWait)
	defer t.Stop()
	select {
	case <-settled:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

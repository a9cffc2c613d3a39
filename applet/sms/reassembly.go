package sms

import (
	"fmt"
	"time"
)

// Message is a complete OTA packet recovered from one or more segments.
type Message struct {
	Packet PacketID // from segment 1's UDH
	Data   []byte   // the secured packet (CPL/RPL onwards)
}

// ReassemblerOptions bounds a Reassembler. The zero value is usable.
type ReassemblerOptions struct {
	// TTL is how long an incomplete set waits for its missing segments
	// (default 5 minutes: an OTA command's validity period).
	TTL time.Duration
	// MaxPending is the number of incomplete sets kept at once (default 8);
	// the oldest is dropped to make room.
	MaxPending int
}

type setKey struct {
	ref   uint16
	ref16 bool
}

type pending struct {
	total   byte
	have    int
	parts   [MaxSegments][]byte
	packet  PacketID
	started time.Time
}

// Reassembler joins the concatenated segments of one sender (a card keeps
// one for its MT, the gateway one per phone). Sets are told apart by
// reference and reference size; segments may arrive in any order,
// duplicates are ignored, incomplete sets expire after TTL. It is not safe
// for concurrent use: each sender's traffic is serialised by its owner.
type Reassembler struct {
	opts ReassemblerOptions
	sets map[setKey]*pending
}

// NewReassembler returns an empty reassembler.
func NewReassembler(opts ReassemblerOptions) *Reassembler {
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 8
	}
	return &Reassembler{opts: opts}
}

// Pending returns the number of incomplete sets held.
func (r *Reassembler) Pending() int { return len(r.sets) }

// Add takes one TP-UD received at now. It returns the message and true
// when ud completes one (a single unconcatenated SMS completes at once),
// false while segments are missing or when ud is a duplicate.
func (r *Reassembler) Add(ud []byte, now time.Time) (Message, bool, error) {
	if len(ud) > MaxUserData {
		return Message{}, false, ErrUserData
	}
	h, body, err := Parse(ud)
	if err != nil {
		return Message{}, false, err
	}
	r.expire(now)
	if !h.HasConcat || h.Concat.Total == 1 {
		if h.HasConcat && h.Concat.Seq != 1 {
			return Message{}, false, ErrConcat
		}
		return Message{Packet: h.Packet, Data: append([]byte(nil), body...)}, true, nil
	}
	c := h.Concat
	if c.Seq != 1 && h.Packet != 0 {
		return Message{}, false, fmt.Errorf("%w: packet identifier in segment %d", ErrUDH, c.Seq)
	}
	k := setKey{c.Ref, c.Ref16}
	p := r.sets[k]
	if p == nil {
		if len(r.sets) >= r.opts.MaxPending {
			r.dropOldest()
		}
		if r.sets == nil {
			r.sets = make(map[setKey]*pending)
		}
		p = &pending{total: c.Total, started: now}
		r.sets[k] = p
	}
	if p.total != c.Total {
		return Message{}, false, fmt.Errorf("%w: total %d, set has %d", ErrInconsistent, c.Total, p.total)
	}
	i := c.Seq - 1
	if p.parts[i] != nil {
		return Message{}, false, nil // duplicate: first copy wins
	}
	p.parts[i] = append(make([]byte, 0, len(body)), body...)
	if c.Seq == 1 {
		p.packet = h.Packet
	}
	p.have++
	if p.have < int(p.total) {
		return Message{}, false, nil
	}
	delete(r.sets, k)
	n := 0
	for _, part := range p.parts[:p.total] {
		n += len(part)
	}
	data := make([]byte, 0, n)
	for _, part := range p.parts[:p.total] {
		data = append(data, part...)
	}
	return Message{Packet: p.packet, Data: data}, true, nil
}

func (r *Reassembler) expire(now time.Time) {
	for k, p := range r.sets {
		if now.Sub(p.started) >= r.opts.TTL {
			delete(r.sets, k)
		}
	}
}

func (r *Reassembler) dropOldest() {
	var (
		oldest setKey
		t      time.Time
		found  bool
	)
	for k, p := range r.sets {
		if !found || p.started.Before(t) {
			oldest, t, found = k, p.started, true
		}
	}
	delete(r.sets, oldest)
}

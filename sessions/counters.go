package sessions

import (
	"context"
	"fmt"
	"time"
)

// MaxCounter is the largest OTA counter: CNTR is 5 octets (ETSI TS 102 225
// §5.1.1).
const MaxCounter = 1<<40 - 1

// counterEpoch is the origin of the MT counter's clock floor, in Unix
// milliseconds (2024-01-01T00:00:00Z). 2^40 ms after it is the year 2058.
const counterEpoch = 1704067200000

func validICCID(iccid string) error {
	if (len(iccid) != 19 && len(iccid) != 20) || !isDigits(iccid) {
		return invalidf("iccid: want 19 or 20 digits")
	}
	return nil
}

// NextMTCounter returns the next counter for an MT command to the card.
// Values are strictly increasing per card and never reused or lowered,
// across restarts and instances, and even after Redis loses the stored
// value (a restart without persistence, a failover that lost the last
// writes): each value is max(stored + 1, Redis clock in ms since 2024) and
// is never allowed to run ahead of that clock, so a lost value is always
// below the clock floor the next call starts from. See doc.go.
func (s *Store) NextMTCounter(ctx context.Context, iccid string) (uint64, error) {
	if err := validICCID(iccid); err != nil {
		return 0, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	key := s.counterKey(iccid)
	for {
		res, err := scriptNextMT.Run(ctx, s.rdb, []string{key}, counterEpoch, MaxCounter).Int64Slice()
		if err != nil {
			return 0, storeErr("next mt counter", err)
		}
		if len(res) != 2 {
			return 0, storeErr("next mt counter", errScriptReply)
		}
		switch res[0] {
		case 1:
			return uint64(res[1]), nil
		case -1:
			return 0, fmt.Errorf("sessions: next mt counter: %w: counter range exhausted", ErrUnavailable)
		}
		// The stored value is ahead of the clock: more than one command in
		// the same millisecond, or a failover to a host whose clock is
		// behind. Wait for the clock instead of running ahead of it.
		wait := time.Duration(min(max(res[1], 1), 1000)) * time.Millisecond
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, storeErr("next mt counter", fmt.Errorf("counter ahead of the Redis clock: %w", ctx.Err()))
		case <-t.C:
		}
	}
}

// AcceptMOCounter accepts an MO counter from the card only if it is above
// the last accepted one (atomically, so two instances receiving the same
// MO cannot both accept it); otherwise ErrReplay.
func (s *Store) AcceptMOCounter(ctx context.Context, iccid string, cntr uint64) error {
	if err := validICCID(iccid); err != nil {
		return err
	}
	if cntr == 0 || cntr > MaxCounter {
		return invalidf("mo counter %d outside 1..2^40-1", cntr)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	ok, err := scriptAcceptMO.Run(ctx, s.rdb, []string{s.counterKey(iccid)}, cntr).Int()
	if err != nil {
		return storeErr("accept mo counter", err)
	}
	if ok != 1 {
		return fmt.Errorf("sessions: accept mo counter: %w", ErrReplay)
	}
	return nil
}

package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscriber lifecycle: the administrator's changes to the registry
// (docs/admin.md, docs/data-model.md §17). Each change reads the record,
// computes the new one in Go (with the codec the gateway reads it with)
// and writes it with scriptCAS, one atomic script that replaces the record
// only if it is still the one the change was computed from (its SHA-1)
// and deletes the phone's other keys the change makes stale in the same
// step. A concurrent change makes the script refuse and the change is
// computed again from the new record. Every key a script touches carries
// the phone's hash tag, so each runs on one Cluster slot; the two changes
// that involve a second slot (the card's counters on a SIM swap, the new
// number of a number change) are ordered so that a crash between the steps
// leaves a state the same call, run again, completes.

// maxCASTries bounds the recomputations of one change under contention.
const maxCASTries = 8

// scriptCAS replaces (or deletes, for an empty ARGV[2]) the record KEYS[1]
// only if its SHA-1 is ARGV[1] ("" means it must not exist), then deletes
// KEYS[2..]. Replies 1, or 0 when the record changed.
const srcCAS = `
local old = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if old then return 0 end
elseif not old or redis.sha1hex(old) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
`

var scriptCAS = redis.NewScript(srcCAS)

// scriptMoveOut marks a record as moving to another number (phase 1 of a
// number change): the record is replaced by its moving form if unchanged
// and the forwarding marker names the new number. KEYS: subscriber,
// marker. ARGV: SHA-1 of the record, the moving record, the new number.
const srcMoveOut = `
local old = redis.call('GET', KEYS[1])
if not old or redis.sha1hex(old) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
`

var scriptMoveOut = redis.NewScript(srcMoveOut)

// scriptResetLockout clears a known phone's failure list. KEYS:
// subscriber, failure list. Replies {exists, failures cleared}.
const srcResetLockout = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local n = redis.call('LLEN', KEYS[2])
redis.call('DEL', KEYS[2])
return {1, n}
`

var scriptResetLockout = redis.NewScript(srcResetLockout)

// current is a subscriber record as read for a change.
type current struct {
	sub    Subscriber
	uid    []byte
	sha    string // SHA-1 hex of the stored bytes; "" when absent
	exists bool
}

func (s *Store) readCurrent(ctx context.Context, ref phoneRef) (current, error) {
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	rec, err := s.rdb.Get(octx, ref.subscriberKey()).Bytes()
	if errors.Is(err, redis.Nil) {
		return current{}, nil
	}
	if err != nil {
		return current{}, storeErr("read subscriber", err)
	}
	sub, uid, err := decodeSubscriber(rec)
	if err != nil {
		return current{}, err
	}
	h := sha1.Sum(rec)
	return current{sub: sub, uid: uid, sha: hex.EncodeToString(h[:]), exists: true}, nil
}

// edit is what a change makes of the current record: the new record (nil:
// delete it) and the phone's keys to delete with it.
type edit struct {
	sub    *Subscriber
	uid    []byte
	delete []string
}

// change applies fn to phone's record with scriptCAS, recomputing on a
// concurrent change. fn gets the current record (cur.exists false when
// there is none) and returns the edit or an error, which change returns.
func (s *Store) change(ctx context.Context, op, phone string, fn func(cur current) (edit, error)) error {
	if err := validPhone(phone); err != nil {
		return err
	}
	ref := s.phone(phone)
	for range maxCASTries {
		cur, err := s.readCurrent(ctx, ref)
		if err != nil {
			return err
		}
		e, err := fn(cur)
		if err != nil {
			return err
		}
		var rec []byte
		if e.sub != nil {
			e.sub.Certificates = normalizeCertificates(e.sub.Certificates)
			if err := e.sub.validate(); err != nil {
				return err
			}
			rec = encodeSubscriber(e.sub, e.uid)
		}
		octx, cancel := s.opCtx(ctx)
		ok, err := scriptCAS.Run(octx, s.rdb, append([]string{ref.subscriberKey()}, e.delete...), cur.sha, rec).Int()
		cancel()
		if err != nil {
			return storeErr(op, err)
		}
		if ok == 1 {
			return nil
		}
	}
	return fmt.Errorf("sessions: %s: the record kept changing: %w", op, ErrConflict)
}

// NewUserID draws a uniformly random 6-digit User ID.
func NewUserID() string {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		v := binary.BigEndian.Uint64(b[:])
		const limit = (1<<64 - 1) / 1_000_000 * 1_000_000
		if v < limit {
			return fmt.Sprintf("%06d", v%1_000_000)
		}
	}
}

// RegisterSubscriber creates a subscriber, or re-registers a closed one
// (a recycled number): ErrExists when the phone has an active, suspended
// or moving subscriber. An empty userID draws a new one, which is
// returned (the only time it is ever seen); otherwise userID is used and
// "" returned. The phone's lockout and card-blocked flag are cleared.
func (s *Store) RegisterSubscriber(ctx context.Context, sub Subscriber, userID string) (string, error) {
	issued := ""
	if userID == "" {
		userID = NewUserID()
		issued = userID
	}
	if err := validUserID(userID); err != nil {
		return "", err
	}
	if sub.State == SubscriberActive {
		sub.State = ""
	}
	if sub.State != "" && sub.State != SubscriberSuspended {
		return "", invalidf("state %q: a new subscriber is active or suspended", sub.State)
	}
	ref := s.phone(sub.Phone)
	err := s.change(ctx, "register subscriber", sub.Phone, func(cur current) (edit, error) {
		if cur.exists && cur.sub.State != SubscriberClosed {
			return edit{}, fmt.Errorf("sessions: register subscriber: %w", ErrExists)
		}
		return edit{sub: &sub, uid: s.userIDMAC(sub.Phone, userID), delete: []string{ref.failKey(), ref.blockedKey()}}, nil
	})
	if err != nil {
		return "", err
	}
	return issued, nil
}

// UpdateSubscriber applies fn to an existing subscriber (ErrNotFound when
// there is none) and stores the result atomically, keeping the User ID
// and the phone, which fn may not change. It returns the stored
// subscriber. fn may be called more than once.
func (s *Store) UpdateSubscriber(ctx context.Context, phone string, fn func(*Subscriber) error) (Subscriber, error) {
	var out Subscriber
	err := s.change(ctx, "update subscriber", phone, func(cur current) (edit, error) {
		if !cur.exists {
			return edit{}, fmt.Errorf("sessions: update subscriber: %w", ErrNotFound)
		}
		next := cur.sub
		next.Certificates = append([]Certificate(nil), cur.sub.Certificates...)
		if err := fn(&next); err != nil {
			return edit{}, err
		}
		if next.Phone != cur.sub.Phone {
			return edit{}, invalidf("update subscriber: the phone changes only by ChangeNumber")
		}
		if next.State == SubscriberActive {
			next.State = ""
		}
		out = next
		return edit{sub: &next, uid: cur.uid}, nil
	})
	if err != nil {
		return Subscriber{}, err
	}
	out.Certificates = normalizeCertificates(out.Certificates)
	return out, nil
}

// SetSubscriberState suspends (to SubscriberSuspended), resumes (to
// SubscriberActive) or closes (SubscriberClosed) a subscriber. Suspend
// needs an active subscriber, resume a suspended one, close either;
// anything else is ErrConflict. Closing overwrites the User ID's HMAC with
// a value no User ID has, so a closed number answers a start exactly as an
// unknown one (docs/architecture.md §8.6), and clears its lockout and
// card-blocked flag; the record stays for the profile and a later
// re-registration.
func (s *Store) SetSubscriberState(ctx context.Context, phone, state string) error {
	ref := s.phone(phone)
	return s.change(ctx, "set subscriber state", phone, func(cur current) (edit, error) {
		if !cur.exists {
			return edit{}, fmt.Errorf("sessions: set subscriber state: %w", ErrNotFound)
		}
		from := cur.sub.StateOf()
		next := cur.sub
		uid := cur.uid
		var del []string
		switch {
		case state == SubscriberSuspended && from == SubscriberActive:
			next.State = SubscriberSuspended
		case state == SubscriberActive && from == SubscriberSuspended:
			next.State = ""
		case state == SubscriberClosed && (from == SubscriberActive || from == SubscriberSuspended):
			next.State = SubscriberClosed
			uid = make([]byte, uidMACLen)
			del = []string{ref.failKey(), ref.blockedKey()}
		case state != SubscriberSuspended && state != SubscriberActive && state != SubscriberClosed:
			return edit{}, invalidf("state %q: want active, suspended or closed", state)
		default:
			return edit{}, fmt.Errorf("sessions: %s subscriber is not %s: %w", from, stateVerb(state), ErrConflict)
		}
		return edit{sub: &next, uid: uid, delete: del}, nil
	})
}

func stateVerb(state string) string {
	switch state {
	case SubscriberSuspended:
		return "suspendable"
	case SubscriberActive:
		return "resumable"
	}
	return "closable"
}

// ResetUserID gives an active or suspended subscriber a new random User
// ID and returns it (the only time it is seen): the old one then fails as
// a wrong one does. The phone's lockout is cleared with it.
func (s *Store) ResetUserID(ctx context.Context, phone string) (string, error) {
	uid := NewUserID()
	ref := s.phone(phone)
	err := s.change(ctx, "reset user id", phone, func(cur current) (edit, error) {
		if !cur.exists {
			return edit{}, fmt.Errorf("sessions: reset user id: %w", ErrNotFound)
		}
		if st := cur.sub.StateOf(); st != SubscriberActive && st != SubscriberSuspended {
			return edit{}, fmt.Errorf("sessions: reset user id of a %s subscriber: %w", st, ErrConflict)
		}
		return edit{sub: &cur.sub, uid: s.userIDMAC(phone, uid), delete: []string{ref.failKey()}}, nil
	})
	if err != nil {
		return "", err
	}
	return uid, nil
}

// ResetLockout clears the User ID failures of a known phone, so its next
// login with the right User ID works at once. It returns how many recent
// failures it cleared; ErrNotFound for an unknown phone.
func (s *Store) ResetLockout(ctx context.Context, phone string) (int, error) {
	if err := validPhone(phone); err != nil {
		return 0, err
	}
	ref := s.phone(phone)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := scriptResetLockout.Run(ctx, s.rdb, []string{ref.subscriberKey(), ref.failKey()}).Int64Slice()
	if err != nil {
		return 0, storeErr("reset lockout", err)
	}
	if len(res) != 2 {
		return 0, storeErr("reset lockout", errScriptReply)
	}
	if res[0] == 0 {
		return 0, fmt.Errorf("sessions: reset lockout: %w", ErrNotFound)
	}
	return int(res[1]), nil
}

// SwapSIM moves a subscriber to a new card: its ICCID (and so its OTA
// keys, derived from it) and key version. The new card's MO counter
// record is cleared first (a new card counts from its own start; a
// recycled ICCID must not inherit the old value), then the record names
// the new card and the phone's card-blocked flag is cleared, in one
// script. The new card's MT counter needs nothing: the next value is at
// least the Redis clock, far above what a new card holds (counters.go).
// A reply from the old card then fails to open under the new card's keys
// and completes nothing. keyVersion 0 keeps the current one.
func (s *Store) SwapSIM(ctx context.Context, phone, iccid string, keyVersion int) error {
	if err := validICCID(iccid); err != nil {
		return err
	}
	if keyVersion < 0 || keyVersion > 15 {
		return invalidf("key_version %d outside 1..15", keyVersion)
	}
	octx, cancel := s.opCtx(ctx)
	err := s.rdb.HDel(octx, s.counterKey(iccid), "o").Err()
	cancel()
	if err != nil {
		return storeErr("swap sim", err)
	}
	ref := s.phone(phone)
	return s.change(ctx, "swap sim", phone, func(cur current) (edit, error) {
		if !cur.exists {
			return edit{}, fmt.Errorf("sessions: swap sim: %w", ErrNotFound)
		}
		if st := cur.sub.StateOf(); st != SubscriberActive && st != SubscriberSuspended {
			return edit{}, fmt.Errorf("sessions: swap sim of a %s subscriber: %w", st, ErrConflict)
		}
		next := cur.sub
		next.ICCID = iccid
		if keyVersion != 0 {
			next.KeyVersion = keyVersion
		}
		return edit{sub: &next, uid: cur.uid, delete: []string{ref.blockedKey()}}, nil
	})
}

// ChangeNumber moves a subscriber from phone to newPhone: its card (ICCID,
// so its keys and counters, which are kept by card), certificates, state
// and operator move; lockout and running sessions stay behind with the old
// number. The User ID's HMAC is bound to the number, so it is rebound:
// with userID (checked against the stored one; ErrBadUserID when it does
// not match) the subscriber keeps it, without one a new User ID is drawn
// and returned.
//
// The two numbers live in different Cluster slots, so the move has three
// steps, each one script on one slot: the old record becomes "moving" with
// a forwarding marker naming the new number (starts on the old number
// stop), the new record is written (only where no subscriber, or a closed
// one, is), the old record, its marker, lockout and flag are deleted. A
// failure in between leaves the old number moving; the same call run
// again finds its marker and completes the move (a User ID drawn by the
// first run is then kept and "" returned). ErrConflict when the new number
// has a subscriber or another move is under way.
func (s *Store) ChangeNumber(ctx context.Context, phone, newPhone, userID string) (string, error) {
	if err := validPhone(newPhone); err != nil {
		return "", err
	}
	if newPhone == phone {
		return "", invalidf("new phone: the same as the current one")
	}
	if userID != "" {
		if err := validUserID(userID); err != nil {
			return "", err
		}
	}
	old, err := s.moveOut(ctx, phone, newPhone, userID)
	if err != nil {
		return "", err
	}
	issued, err := s.moveIn(ctx, old, newPhone, userID)
	if err != nil {
		return "", err
	}
	ref := s.phone(phone)
	err = s.change(ctx, "change number", phone, func(cur current) (edit, error) {
		if !cur.exists || cur.sub.State != SubscriberMoving {
			return edit{}, fmt.Errorf("sessions: change number: the old record changed during the move: %w", ErrConflict)
		}
		return edit{delete: []string{ref.moveKey(), ref.failKey(), ref.blockedKey()}}, nil
	})
	return issued, err
}

// moveOut is phase 1 of ChangeNumber: it returns the record as it was
// before the move (state restored), with its User ID HMAC.
func (s *Store) moveOut(ctx context.Context, phone, newPhone, userID string) (current, error) {
	if err := validPhone(phone); err != nil {
		return current{}, err
	}
	ref := s.phone(phone)
	for range maxCASTries {
		cur, err := s.readCurrent(ctx, ref)
		if err != nil {
			return current{}, err
		}
		if !cur.exists || cur.sub.State == SubscriberClosed {
			return current{}, fmt.Errorf("sessions: change number: %w", ErrNotFound)
		}
		if userID != "" && subtle.ConstantTimeCompare(cur.uid, s.userIDMAC(phone, userID)) != 1 {
			return current{}, fmt.Errorf("sessions: change number: %w", ErrBadUserID)
		}
		if cur.sub.State == SubscriberMoving {
			octx, cancel := s.opCtx(ctx)
			target, err := s.rdb.Get(octx, ref.moveKey()).Result()
			cancel()
			if err != nil && !errors.Is(err, redis.Nil) {
				return current{}, storeErr("change number", err)
			}
			prev, state, _ := strings.Cut(target, "|")
			if prev != newPhone {
				return current{}, fmt.Errorf("sessions: change number: another number change is under way: %w", ErrConflict)
			}
			cur.sub.State = state
			return cur, nil
		}
		moving := cur.sub
		moving.State = SubscriberMoving
		// The marker keeps the state to restore on the new number.
		marker := newPhone + "|" + cur.sub.State
		octx, cancel := s.opCtx(ctx)
		ok, err := scriptMoveOut.Run(octx, s.rdb, []string{ref.subscriberKey(), ref.moveKey()}, cur.sha,
			encodeSubscriber(&moving, cur.uid), marker).Int()
		cancel()
		if err != nil {
			return current{}, storeErr("change number", err)
		}
		if ok == 1 {
			return cur, nil
		}
	}
	return current{}, fmt.Errorf("sessions: change number: the record kept changing: %w", ErrConflict)
}

// moveIn is phase 2 of ChangeNumber: the record under the new number. A
// record already there with the same card is a previous run's.
func (s *Store) moveIn(ctx context.Context, old current, newPhone, userID string) (string, error) {
	issued := ""
	if userID == "" {
		userID = NewUserID()
		issued = userID
	}
	ref := s.phone(newPhone)
	err := s.change(ctx, "change number", newPhone, func(cur current) (edit, error) {
		if cur.exists && cur.sub.State != SubscriberClosed {
			if cur.sub.ICCID == old.sub.ICCID {
				issued = ""
				return edit{sub: &cur.sub, uid: cur.uid}, nil // a previous run got here
			}
			return edit{}, fmt.Errorf("sessions: change number: the new number has a subscriber: %w", ErrConflict)
		}
		next := old.sub
		next.Phone = newPhone
		return edit{sub: &next, uid: s.userIDMAC(newPhone, userID), delete: []string{ref.failKey(), ref.blockedKey()}}, nil
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			s.undoMoveOut(ctx, old)
		}
		return "", err
	}
	return issued, nil
}

// undoMoveOut puts the old record back when the new number is taken.
func (s *Store) undoMoveOut(ctx context.Context, old current) {
	ref := s.phone(old.sub.Phone)
	_ = s.change(ctx, "change number", old.sub.Phone, func(cur current) (edit, error) {
		if !cur.exists || cur.sub.State != SubscriberMoving {
			return edit{}, ErrConflict
		}
		return edit{sub: &old.sub, uid: old.uid, delete: []string{ref.moveKey()}}, nil
	})
}

// Profile is what an administrator sees of a subscriber.
type Profile struct {
	Subscriber Subscriber
	// Failures is the number of recent wrong User IDs; LockedUntil is set
	// while they lock the phone.
	Failures    int
	LockedUntil time.Time
	// Blocked is PIN_BLOCKED or CARD_BLOCKED when the phone's last session
	// ended so (cleared by a later OK or a SIM swap), at BlockedAt.
	Blocked   string
	BlockedAt time.Time
	// MovingTo is the new number of a number change under way.
	MovingTo string
}

// SubscriberProfile reads a subscriber with its lockout state, card-blocked
// flag and forwarding marker in one round trip. ErrNotFound when unknown.
func (s *Store) SubscriberProfile(ctx context.Context, phone string) (Profile, error) {
	if err := validPhone(phone); err != nil {
		return Profile{}, err
	}
	ref := s.phone(phone)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	pipe := s.rdb.Pipeline()
	get := pipe.Get(ctx, ref.subscriberKey())
	fails := pipe.LRange(ctx, ref.failKey(), 0, -1)
	blocked := pipe.Get(ctx, ref.blockedKey())
	move := pipe.Get(ctx, ref.moveKey())
	_, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		return Profile{}, storeErr("profile", err)
	}
	rec, err := get.Bytes()
	if err != nil {
		return Profile{}, storeErr("profile", err)
	}
	var p Profile
	if p.Subscriber, _, err = decodeSubscriber(rec); err != nil {
		return Profile{}, err
	}
	p.Failures, p.LockedUntil = s.lockState(fails.Val())
	if v, err := blocked.Result(); err == nil {
		code, at, _ := strings.Cut(v, "|")
		n, _ := strconv.ParseInt(at, 10, 64)
		p.Blocked, p.BlockedAt = code, fromMS(n)
	}
	if v, err := move.Result(); err == nil {
		p.MovingTo, _, _ = strings.Cut(v, "|")
	}
	return p, nil
}

// lockState reads a failure list (newest first) as lockoutLua does: the
// recent failures and, when they lock the phone now, until when.
func (s *Store) lockState(ts []string) (int, time.Time) {
	now := ms(s.opts.Now())
	var times []int64
	for _, t := range ts {
		if v, err := strconv.ParseInt(t, 10, 64); err == nil {
			times = append(times, v)
		}
	}
	limit := s.opts.LockoutAttempts
	if len(times) >= limit {
		newest, oldest := times[0], times[limit-1]
		if newest-oldest < durMS(s.opts.LockoutWindow) {
			if until := newest + durMS(s.opts.LockoutDuration); until > now {
				return len(times), fromMS(until)
			}
		}
	}
	n := 0
	for _, t := range times {
		if now-t < durMS(s.opts.LockoutWindow) {
			n++
		}
	}
	return n, time.Time{}
}

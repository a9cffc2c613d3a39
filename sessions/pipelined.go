package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The calls below do the work of several Store methods in fewer round
// trips by pipelining their scripts. Every script is the same one the
// single-step method runs, so each state change stays atomic on its own
// and keeps its keys in one Cluster slot; a pipeline only saves the waits
// between them (on a Cluster, go-redis sends each slot's part to its node).
// A script missing from the server's cache (NOSCRIPT: Ready was not called,
// or the server restarted) falls back to the single-step method, which
// loads it.

// onceCmd is a script call that go-redis must not send again on its own:
// a pipeline is retried after a read timeout (a single command is not), and
// a state change that ran before the timeout would then run twice (a start
// would find its own running marker and report the phone busy; a
// completion would report itself a duplicate and skip the callback). A
// pipeline holding one is not retried at all; a failure is the caller's.
type onceCmd struct{ *redis.Cmd }

// NoRetry implements redis.Cmder.
func (onceCmd) NoRetry() bool { return true }

// evalOnce queues sc by its hash on pipe as a onceCmd.
func evalOnce(ctx context.Context, pipe redis.Pipeliner, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, "evalsha", sc.Hash(), len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	cmd := redis.NewCmd(ctx, a...)
	_ = pipe.Process(ctx, onceCmd{cmd})
	return cmd
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// CheckAndStart is CheckUserID, Start and NextMTCounter in two round trips
// instead of four, for the common path of a portal's start: the first
// counts the attempt and reads the subscriber, the second clears the
// attempt, creates the session and draws the card's next MT counter.
//
// build is called with the subscriber once the User ID matched; it returns
// the session to start (ICCID set to the card's) and its ttl, or an error
// (for example the certificate policy's), which CheckAndStart returns after
// clearing the attempt. Errors are those of CheckUserID and Start; on
// success (and on an idempotent replay, ErrDuplicate) the session is filled
// in as Start does. counter is the MT counter drawn with the start, or 0
// when it could not be drawn in the same round trip (the stored value ran
// ahead of the clock, or the start failed): the caller then calls
// NextMTCounter. A counter drawn for a start that failed is skipped, which
// the counter's rule (strictly increasing, never reused) allows.
//
// Unlike CheckUserID, the first round trip returns the subscriber's record
// for a known phone, so its reply is longer than an unknown phone's; the
// record is decoded only after the User ID matched, and the comparison is
// still constant-time. The difference is the transfer of about a kilobyte
// between the gateway and Redis (around a microsecond on a LAN), far below
// the jitter a portal sees.
func (s *Store) CheckAndStart(ctx context.Context, phone, userID string,
	build func(Subscriber) (*Session, time.Duration, error)) (sub Subscriber, counter uint64, err error) {
	if err := validPhone(phone); err != nil {
		return Subscriber{}, 0, err
	}
	if err := validUserID(userID); err != nil {
		return Subscriber{}, 0, err
	}
	ref := s.phone(phone)
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	keys, args := s.attemptCall(ref)
	s.notify.start()

	// Round trip 1: count the attempt, read the record.
	pipe := s.rdb.Pipeline()
	att := evalOnce(octx, pipe, scriptAttempt, keys, args...)
	get := pipe.Get(octx, ref.subscriberKey())
	_, _ = pipe.Exec(octx)
	res, err := att.Slice()
	if isNoScript(err) {
		return s.checkThenStart(ctx, phone, userID, build)
	}
	if err != nil {
		return Subscriber{}, 0, storeErr("check user id", err)
	}
	if err := s.judgeAttempt(ref, res, s.userIDMAC(phone, userID)); err != nil {
		s.attemptFailed(octx, err, keys, args)
		return Subscriber{}, 0, err
	}
	// clear runs scriptAttemptOK alone, when there is no session to start.
	clear := func() error {
		err := scriptAttemptOK.Run(octx, s.rdb, keys, args...).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			return storeErr("check user id", err)
		}
		return nil
	}
	rec, err := get.Bytes()
	if err != nil {
		if cerr := clear(); cerr != nil {
			return Subscriber{}, 0, cerr
		}
		if errors.Is(err, redis.Nil) { // deleted between the script and the read
			return Subscriber{}, 0, ErrBadUserID
		}
		return Subscriber{}, 0, storeErr("check user id", err)
	}
	sub, _, err = decodeSubscriber(rec)
	if err != nil {
		if cerr := clear(); cerr != nil {
			return Subscriber{}, 0, cerr
		}
		return Subscriber{}, 0, err
	}
	sess, ttl, err := build(sub)
	if err == nil {
		err = sess.validateStart(ttl)
	}
	if err != nil {
		if cerr := clear(); cerr != nil {
			return Subscriber{}, 0, cerr
		}
		return sub, 0, err
	}

	counter, err = s.startMatched(ctx, octx, matched{ref: ref, keys: keys, args: args, sub: sub, rec: rec, clear: clear}, sess, ttl)
	return sub, counter, err
}

// matched is what the first round trip of CheckAndStart established: the
// phone, its attempt script's keys and arguments, the subscriber and its
// stored record, and how to clear the attempt alone.
type matched struct {
	ref   phoneRef
	keys  []string
	args  []any
	sub   Subscriber
	rec   []byte
	clear func() error
}

// startMatched is CheckAndStart's second round trip: clear the attempt,
// start sess and draw the MT counter, in one pipeline.
func (s *Store) startMatched(ctx, octx context.Context, m matched, sess *Session, ttl time.Duration) (counter uint64, err error) {
	next, skeys, sargs := s.startCall(sess, ttl, m.ref, s.opts.Now())
	s.local.track(&next, m.sub, digest(m.rec), s.notify.gen())
	pipe := s.rdb.Pipeline()
	ok := evalOnce(octx, pipe, scriptAttemptOK, m.keys, m.args...)
	st := evalOnce(octx, pipe, scriptStart, skeys, sargs...)
	ctr := evalOnce(octx, pipe, scriptNextMT, []string{s.counterKey(sess.ICCID)}, counterEpoch, MaxCounter)
	_, _ = pipe.Exec(octx)
	started := false
	defer func() { s.local.started(next.ID, started) }()
	if err := ok.Err(); isNoScript(err) {
		if err := m.clear(); err != nil {
			return 0, err
		}
	} else if err != nil && !errors.Is(err, redis.Nil) && st.Err() != nil {
		// Nothing reached Redis (or nothing came back). When only the clear
		// failed and the session started, the start stands: the attempt
		// stays counted, as when CheckUserID's second call fails, and the
		// next match clears it.
		return 0, storeErr("check user id", err)
	}
	sres, err := st.StringSlice()
	retry := false
	switch {
	case isNoScript(err):
		retry = true
	case err != nil:
		return 0, storeErr("start", err)
	default:
		if retry, err = s.startReply(octx, sess, &next, sres); !retry && err != nil {
			return 0, err
		}
	}
	if retry {
		// A collision or a missing script: the ordinary start, counter later.
		return 0, s.Start(ctx, sess, ttl)
	}
	started = true
	if c, err := ctr.Int64Slice(); err == nil && len(c) == 2 && c[0] == 1 {
		counter = uint64(c[1])
	}
	return counter, nil
}

// checkThenStart is CheckAndStart one step at a time.
func (s *Store) checkThenStart(ctx context.Context, phone, userID string,
	build func(Subscriber) (*Session, time.Duration, error)) (Subscriber, uint64, error) {
	sub, err := s.CheckUserID(ctx, phone, userID)
	if err != nil {
		return Subscriber{}, 0, err
	}
	sess, ttl, err := build(sub)
	if err != nil {
		return sub, 0, err
	}
	return sub, 0, s.Start(ctx, sess, ttl)
}

// AcceptMOAndComplete is AcceptMOCounter and Complete in one round trip,
// for a reply to a session the caller has just read as running: such a
// reply completes the session whether its counter is new or already
// accepted (the SMSC redelivering a reply whose completion was not
// stored), so the two need not wait for each other. counterErr is
// AcceptMOCounter's verdict (nil, ErrReplay, or why it could not be
// stored); the session and err are Complete's.
func (s *Store) AcceptMOAndComplete(ctx context.Context, iccid string, cntr uint64, id string, res Result) (sess Session, counterErr, err error) {
	return s.acceptMOAndComplete(ctx, iccid, cntr, id, res, "")
}

// acceptMOAndComplete is AcceptMOAndComplete; a non-empty subDigest has the
// completion check the subscriber's record first (scriptComplete).
func (s *Store) acceptMOAndComplete(ctx context.Context, iccid string, cntr uint64, id string, res Result, subDigest string) (sess Session, counterErr, err error) {
	if err := validICCID(iccid); err != nil {
		return Session{}, nil, err
	}
	if cntr == 0 || cntr > MaxCounter {
		return Session{}, nil, invalidf("mo counter %d outside 1..2^40-1", cntr)
	}
	ref, err := refFromID(id)
	if err != nil {
		return Session{}, nil, err
	}
	now := s.opts.Now()
	args, err := s.completeArgs(id, res, now)
	if err != nil {
		return Session{}, nil, err
	}
	args[7] = subDigest
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	pipe := s.rdb.Pipeline()
	acc := evalOnce(octx, pipe, scriptAcceptMO, []string{s.counterKey(iccid)}, cntr)
	cmp := evalOnce(octx, pipe, scriptComplete, completeKeys(ref, id, now), args...)
	_, _ = pipe.Exec(octx)

	switch n, err := acc.Int(); {
	case isNoScript(err):
		counterErr = s.AcceptMOCounter(ctx, iccid, cntr)
	case err != nil:
		counterErr = storeErr("accept mo counter", err)
	case n != 1:
		counterErr = fmt.Errorf("sessions: accept mo counter: %w", ErrReplay)
	}
	reply, err := cmp.Slice()
	if isNoScript(err) && subDigest != "" {
		return Session{}, counterErr, fmt.Errorf("sessions: complete: %w", ErrSubscriberChanged)
	}
	if isNoScript(err) {
		sess, err = s.Complete(ctx, id, res)
		return sess, counterErr, err
	}
	if err != nil {
		return Session{}, counterErr, storeErr("complete", err)
	}
	sess, err = s.completeReply(id, res, reply, now)
	return sess, counterErr, err
}

// SubscriberAndRunning reads, in one round trip, the subscriber of phone
// and the id of its running session ("" when none), for an MO: the reply
// usually answers the running session, whose id then spares the lookup by
// transaction id. ErrNotFound when the phone is unknown.
func (s *Store) SubscriberAndRunning(ctx context.Context, phone string) (Subscriber, string, error) {
	if err := validPhone(phone); err != nil {
		return Subscriber{}, "", err
	}
	ref := s.phone(phone)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	pipe := s.rdb.Pipeline()
	get := pipe.Get(ctx, ref.subscriberKey())
	run := pipe.Get(ctx, ref.runKey())
	_, _ = pipe.Exec(ctx)
	rec, err := get.Bytes()
	if err != nil {
		return Subscriber{}, "", storeErr("subscriber", err)
	}
	sub, _, err := decodeSubscriber(rec)
	if err != nil {
		return Subscriber{}, "", err
	}
	v, err := run.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Subscriber{}, "", storeErr("running by phone", err)
	}
	id, _, _ := strings.Cut(v, "|")
	if _, err := refFromID(id); err != nil {
		id = ""
	}
	return sub, id, nil
}

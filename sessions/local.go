package sessions

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The sessions this process started are remembered here while they run
// and for a few seconds after, with the subscriber record they were
// started with (doc.go, "Local sessions"). Two paths use them to spare
// round trips:
//
//   - a wait on this process is answered from the completion notice, which
//     carries the completed record (CompletionRecordChannel), instead of
//     reading the record back; this holds only while the completion
//     subscription has been up without a break since the session started,
//     so no notice can have been missed;
//   - a reply from the card is checked against the remembered session and
//     subscriber, and completes the session with one script that first
//     checks that the subscriber's record is still the one read at the
//     start (its SHA-1), so a change in between is never overlooked.
//
// Neither path trusts the memory for anything the scripts do not check
// again: a stale entry only costs the round trips it would have spared.

// maxLocalSessions bounds the entries (a subscriber record is 1–2 KB, so
// under about 40 MB); beyond it the oldest go first and their sessions take
// the ordinary paths.
const maxLocalSessions = 16384

// localKeep is how long a completed entry stays, for a long-poll that
// arrives just after the completion.
const localKeep = 10 * time.Second

// localEntry is one session this process started.
type localEntry struct {
	sess      Session    // as started, stamped, or as the notice reported it completed
	sub       Subscriber // the subscriber read at the start
	subDigest string     // SHA-1 (hex) of sub's stored record
	gen       int64      // the notifier's subscription generation at the start; -1: none
	pending   bool       // the start is still under way
	done      bool       // the completion notice arrived
	doneAt    time.Time
	// doneDigest is the subscriber record's digest the notice reported.
	doneDigest string
	// idOnly: a completion was announced without its record (by an
	// instance of an earlier version): waits read the store.
	idOnly bool
}

// localSessions is the process's memory of the sessions it started.
type localSessions struct {
	mu      sync.Mutex
	byID    map[string]*localEntry
	byPhone map[string]string // phone → id of its running entry
	fifo    []string          // ids in the order they were tracked
	now     func() time.Time
}

func newLocalSessions(now func() time.Time) *localSessions {
	return &localSessions{byID: map[string]*localEntry{}, byPhone: map[string]string{}, now: now}
}

// digest is the SHA-1 in hex of a stored subscriber record, as the
// completion script computes it (redis.sha1hex): a change detector, not a
// security function (only the gateway writes records).
func digest(rec []byte) string {
	d := sha1.Sum(rec)
	return hex.EncodeToString(d[:])
}

// track remembers session sess (its ID drawn, its start not yet run) with
// its subscriber, before the start runs, so a completion notice can never
// outrun the entry.
func (l *localSessions) track(sess *Session, sub Subscriber, subDigest string, gen int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep()
	l.byID[sess.ID] = &localEntry{sess: *sess, sub: sub, subDigest: subDigest, gen: gen, pending: true}
	l.fifo = append(l.fifo, sess.ID)
}

// started confirms the start of id (ok) or forgets the entry.
func (l *localSessions) started(id string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byID[id]
	if e == nil {
		return
	}
	if !ok {
		delete(l.byID, id)
		return
	}
	e.pending = false
	l.byPhone[e.sess.Phone] = id
}

// sweep drops completed entries older than localKeep, entries of sessions
// expired that long ago, and the oldest beyond maxLocalSessions. l.mu is
// held.
func (l *localSessions) sweep() {
	now := l.now()
	for len(l.fifo) > 0 {
		id := l.fifo[0]
		e := l.byID[id]
		switch {
		case e == nil:
		case e.done && now.Sub(e.doneAt) > localKeep,
			!e.done && !e.pending && now.Sub(e.sess.ExpiresAt) > localKeep,
			len(l.byID) >= maxLocalSessions:
			l.drop(id, e)
		default:
			return
		}
		l.fifo[0] = ""
		l.fifo = l.fifo[1:]
	}
}

func (l *localSessions) drop(id string, e *localEntry) {
	delete(l.byID, id)
	if l.byPhone[e.sess.Phone] == id {
		delete(l.byPhone, e.sess.Phone)
	}
}

// update applies fn to the running entry of id, if any.
func (l *localSessions) update(id string, fn func(*Session)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.byID[id]; e != nil && !e.done {
		fn(&e.sess)
	}
}

// completed records the completion notice of id: the completed record
// and the digest of the subscriber's record at that moment.
func (l *localSessions) completed(id string, sess Session, subDigest string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byID[id]
	if e == nil {
		return
	}
	e.sess, e.done, e.doneAt, e.doneDigest = sess, true, l.now(), subDigest
	if l.byPhone[sess.Phone] == id {
		delete(l.byPhone, sess.Phone)
	}
}

// idNoticed handles a completion announced on CompletionChannel, which
// carries the id alone and follows the record notice of the same
// completion: an entry still running then was completed by an instance
// that publishes no record, so its waits must read the store. It returns
// id, to be woken.
func (l *localSessions) idNoticed(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.byID[id]; e != nil && !e.done {
		e.idOnly = true
	}
	return id
}

// has reports whether id is remembered (a notice worth decoding).
func (l *localSessions) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id] != nil
}

// forWait returns the entry of id for a wait when it can be trusted: the
// subscription has been up without a break (generation gen) since the
// session started. sub is set, and subOK true, when the entry is complete
// and the subscriber's record was unchanged at the completion.
func (l *localSessions) forWait(id string, gen int64) (sess Session, sub Subscriber, subOK, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byID[id]
	if e == nil || e.pending || e.gen < 0 || e.gen != gen || e.idOnly && !e.done {
		return Session{}, Subscriber{}, false, false
	}
	if e.done && e.doneDigest != "" && e.doneDigest == e.subDigest {
		return e.sess, e.sub, true, true
	}
	return e.sess, Subscriber{}, false, true
}

// running returns the running entry of phone.
func (l *localSessions) running(phone string) (Session, Subscriber, string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byID[l.byPhone[phone]]
	if e == nil || e.pending || e.done {
		return Session{}, Subscriber{}, "", false
	}
	return e.sess, e.sub, e.subDigest, true
}

// LocalRunning returns the running session of phone that this process
// started, with the subscriber as read at its start, when it still
// remembers them (ok false otherwise). Only AcceptMOAndCompleteIfUnchanged
// may act on them without reading the store again: the session may have
// been completed, and the subscriber changed, by another process since.
func (s *Store) LocalRunning(phone string) (sess Session, sub Subscriber, ok bool) {
	sess, sub, _, ok = s.local.running(phone)
	return sess, sub, ok
}

// ErrSubscriberChanged: the subscriber's record is no longer the one the
// session was started with; nothing changed (AcceptMOAndCompleteIfUnchanged).
var ErrSubscriberChanged = errors.New("sessions: subscriber changed since the start")

// AcceptMOAndCompleteIfUnchanged is AcceptMOAndComplete for a reply judged
// with the session and subscriber LocalRunning returned: the completion
// also checks, in its script, that the subscriber's record is unchanged
// since the start, and otherwise changes nothing and returns
// ErrSubscriberChanged (the caller then takes the ordinary path, which
// reads it). The counter is accepted either way, as the reply is authentic.
func (s *Store) AcceptMOAndCompleteIfUnchanged(ctx context.Context, iccid string, cntr uint64, id string, res Result) (Session, error, error) {
	s.local.mu.Lock()
	e := s.local.byID[id]
	d := ""
	if e != nil && !e.pending {
		d = e.subDigest
	}
	s.local.mu.Unlock()
	if d == "" {
		return Session{}, nil, fmt.Errorf("sessions: complete: %w", ErrSubscriberChanged)
	}
	return s.acceptMOAndComplete(ctx, iccid, cntr, id, res, d)
}

// decodeNotice parses a completion record notice: the id, the digest of
// the subscriber's record, then "field len value" lines (scriptComplete).
func decodeNotice(p string) (id, subDigest string, m map[string]string, err error) {
	bad := errors.New("malformed completion notice")
	var ok bool
	if id, p, ok = cutLine(p); !ok {
		return "", "", nil, bad
	}
	subDigest, p, ok = cutLine(p)
	if !ok && p != "" {
		return "", "", nil, bad
	}
	m = make(map[string]string, 16)
	for p != "" {
		sp := strings.IndexByte(p[:min(len(p), 8)], ' ')
		if sp <= 0 {
			return "", "", nil, bad
		}
		k := p[:sp]
		for i := 0; i < len(k); i++ {
			if k[i] < 'a' || k[i] > 'z' { // field names are short lower-case words
				return "", "", nil, bad
			}
		}
		p = p[sp+1:]
		sp = strings.IndexByte(p[:min(len(p), 12)], ' ')
		if sp <= 0 {
			return "", "", nil, bad
		}
		n, err := strconv.Atoi(p[:sp])
		if err != nil || n < 0 || n > len(p)-sp-1 {
			return "", "", nil, bad
		}
		m[k] = p[sp+1 : sp+1+n]
		p = p[sp+1+n:]
		if p != "" {
			if p[0] != '\n' {
				return "", "", nil, bad
			}
			p = p[1:]
		}
	}
	return id, subDigest, m, nil
}

// cutLine splits p at its first newline; ok is false without one.
func cutLine(p string) (line, rest string, ok bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '\n' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

// noticed applies a completion record notice to the local entries and
// returns the session id it names, to be woken.
func (s *Store) noticed(payload string) string {
	id, _, _ := cutLine(payload)
	if !s.local.has(id) {
		return id
	}
	nid, d, m, err := decodeNotice(payload)
	if err != nil {
		s.log.Warn("completion notice unreadable", "err", err)
		return id
	}
	sess, err := decodeSession(nid, m)
	if err != nil {
		s.log.Warn("completion notice unreadable", "err", err)
		return id
	}
	s.local.completed(nid, sess, d)
	return id
}

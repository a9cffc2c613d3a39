package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/sessions"
)

// SessionsStore binds the Store interface to package sessions, translating
// types and errors at the boundary.
type SessionsStore struct {
	st  *sessions.Store
	rdb redis.UniversalClient
}

var (
	_ Store            = (*SessionsStore)(nil)
	_ checkStarter     = (*SessionsStore)(nil)
	_ replyCompleter   = (*SessionsStore)(nil)
	_ runningReader    = (*SessionsStore)(nil)
	_ subscriberWaiter = (*SessionsStore)(nil)
)

// NewSessionsStore wraps a sessions store and the client it uses (for Ping).
func NewSessionsStore(st *sessions.Store, rdb redis.UniversalClient) *SessionsStore {
	return &SessionsStore{st: st, rdb: rdb}
}

// storeError translates package sessions' errors into the gateway's.
func storeError(err error) error {
	var le *sessions.LockedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		return &LockedError{RetryAfter: le.RetryAfter}
	case errors.Is(err, sessions.ErrLocked):
		return &LockedError{}
	case errors.Is(err, sessions.ErrBadUserID):
		return ErrBadUserID
	case errors.Is(err, sessions.ErrOutstanding):
		return ErrOutstanding
	case errors.Is(err, sessions.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, sessions.ErrDuplicate), errors.Is(err, sessions.ErrExpired):
		return ErrDuplicate
	case errors.Is(err, sessions.ErrReplay):
		return ErrReplay
	case errors.Is(err, sessions.ErrUnavailable):
		return errors.Join(ErrUnavailable, err)
	}
	return err
}

func fromSubscriber(s sessions.Subscriber) Subscriber {
	out := Subscriber{Phone: s.Phone, ICCID: s.ICCID, Operator: s.Operator}
	for _, c := range s.Certificates {
		typ := c.Type
		if c.KeyRef == AuthKeyRef {
			// The registry files the authentication certificate under the
			// holder's type; the API calls it what it is used for.
			typ = CertAuthentication
		}
		out.Certificates = append(out.Certificates, Certificate{Type: typ, TaxID: c.TaxID, KeyRef: c.KeyRef, DER: c.DER,
			NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: c.Status})
	}
	return out
}

func fromSession(s sessions.Session) Session {
	return Session{ID: s.ID, Portal: s.Portal, Operation: Operation(s.Operation), Phone: s.Phone, ICCID: s.ICCID,
		KeyRef: s.KeyRef, Hash: s.Hash, HashAlg: s.HashAlg, VerificationCode: s.VerificationCode, TxnID: s.TxnID,
		State: s.State, Result: s.Result, Signature: s.Signature, SigAlg: s.SigAlg, MessageIDs: s.MessageIDs,
		Accepted: s.Accepted, Submitted: s.Submitted, Delivered: s.Delivered, Completed: s.Completed,
		ExpiresAt: s.ExpiresAt, CallbackURL: s.CallbackURL, IdempotencyKey: s.IdempotencyKey}
}

func toSession(s *Session) sessions.Session {
	return sessions.Session{ID: s.ID, Portal: s.Portal, Operation: string(s.Operation), Phone: s.Phone, ICCID: s.ICCID,
		KeyRef: s.KeyRef, Hash: s.Hash, HashAlg: s.HashAlg, VerificationCode: s.VerificationCode, TxnID: s.TxnID,
		State: s.State, CallbackURL: s.CallbackURL, IdempotencyKey: s.IdempotencyKey}
}

// CheckUserID implements Store.
func (a *SessionsStore) CheckUserID(ctx context.Context, phone, userID string) (Subscriber, error) {
	s, err := a.st.CheckUserID(ctx, phone, userID)
	return fromSubscriber(s), storeError(err)
}

// Subscriber implements Store.
func (a *SessionsStore) Subscriber(ctx context.Context, phone string) (Subscriber, error) {
	s, err := a.st.Subscriber(ctx, phone)
	return fromSubscriber(s), storeError(err)
}

// Start implements Store.
func (a *SessionsStore) Start(ctx context.Context, s *Session, ttl time.Duration) error {
	ss := toSession(s)
	err := a.st.Start(ctx, &ss, ttl)
	if err == nil || errors.Is(err, sessions.ErrDuplicate) {
		*s = fromSession(ss)
	}
	return storeError(err)
}

// CheckAndStart does CheckUserID, Start and NextMTCounter in two round
// trips (see sessions.Store.CheckAndStart).
func (a *SessionsStore) CheckAndStart(ctx context.Context, phone, userID string,
	build func(Subscriber) (*Session, time.Duration, error)) (Subscriber, uint64, error) {
	var gs *Session
	var ss sessions.Session
	sub, counter, err := a.st.CheckAndStart(ctx, phone, userID, func(sub sessions.Subscriber) (*sessions.Session, time.Duration, error) {
		s, ttl, err := build(fromSubscriber(sub))
		if err != nil {
			return nil, 0, err // the certificate policy's *Error passes through storeError unchanged
		}
		gs, ss = s, toSession(s)
		return &ss, ttl, nil
	})
	if gs != nil && (err == nil || errors.Is(err, sessions.ErrDuplicate)) {
		*gs = fromSession(ss)
	}
	return fromSubscriber(sub), counter, storeError(err)
}

// SubscriberAndRunning reads a phone's subscriber and the id of its
// running session in one round trip (see sessions.Store.SubscriberAndRunning).
func (a *SessionsStore) SubscriberAndRunning(ctx context.Context, phone string) (Subscriber, string, error) {
	s, id, err := a.st.SubscriberAndRunning(ctx, phone)
	return fromSubscriber(s), id, storeError(err)
}

// AcceptMOAndComplete does AcceptMOCounter and Complete in one round trip
// (see sessions.Store.AcceptMOAndComplete).
func (a *SessionsStore) AcceptMOAndComplete(ctx context.Context, iccid string, counter uint64, id string, res Result) (Session, error, error) {
	s, cerr, err := a.st.AcceptMOAndComplete(ctx, iccid, counter, id, sessions.Result{Code: res.Result, SigAlg: res.SigAlg, Signature: res.Signature})
	return fromSession(s), storeError(cerr), storeError(err)
}

// MarkSubmitted implements Store.
func (a *SessionsStore) MarkSubmitted(ctx context.Context, id string, ids []string, at time.Time) error {
	return storeError(a.st.MarkSubmitted(ctx, id, ids, at))
}

// MarkDelivered implements Store.
func (a *SessionsStore) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	return storeError(a.st.MarkDelivered(ctx, id, at))
}

// Complete implements Store. The store stamps the completion time itself.
func (a *SessionsStore) Complete(ctx context.Context, id string, res Result) (Session, error) {
	s, err := a.st.Complete(ctx, id, sessions.Result{Code: res.Result, SigAlg: res.SigAlg, Signature: res.Signature})
	return fromSession(s), storeError(err)
}

// Get implements Store.
func (a *SessionsStore) Get(ctx context.Context, id string) (Session, error) {
	s, err := a.st.Get(ctx, id)
	return fromSession(s), storeError(err)
}

// ByTxn implements Store.
func (a *SessionsStore) ByTxn(ctx context.Context, txn [8]byte) (Session, error) {
	s, err := a.st.ByTxn(ctx, txn)
	return fromSession(s), storeError(err)
}

// RunningByPhone implements Store.
func (a *SessionsStore) RunningByPhone(ctx context.Context, phone string) (Session, error) {
	s, err := a.st.RunningByPhone(ctx, phone)
	return fromSession(s), storeError(err)
}

// Wait implements Store.
func (a *SessionsStore) Wait(ctx context.Context, id, portal string) (Session, error) {
	s, err := a.st.WaitOwned(ctx, id, portal)
	return fromSession(s), storeError(err)
}

// WaitWithSubscriber is Wait that reads the subscriber with the completed
// session when the completion woke it (see sessions.Store.WaitOwnedSubscriber).
func (a *SessionsStore) WaitWithSubscriber(ctx context.Context, id, portal string) (Session, Subscriber, error) {
	s, sub, err := a.st.WaitOwnedSubscriber(ctx, id, portal)
	var gsub Subscriber
	if sub.Phone != "" {
		gsub = fromSubscriber(sub)
	}
	return fromSession(s), gsub, storeError(err)
}

// NextMTCounter implements Store.
func (a *SessionsStore) NextMTCounter(ctx context.Context, iccid string) (uint64, error) {
	c, err := a.st.NextMTCounter(ctx, iccid)
	return c, storeError(err)
}

// AcceptMOCounter implements Store.
func (a *SessionsStore) AcceptMOCounter(ctx context.Context, iccid string, c uint64) error {
	return storeError(a.st.AcceptMOCounter(ctx, iccid, c))
}

// Ping implements Store: the Redis server answers.
func (a *SessionsStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return a.rdb.Ping(ctx).Err()
}

package gateway

import (
	"context"
	"errors"
	"time"
)

var errUnexpected = errors.New("fake: unexpected call")

// fakeStore has one function field per Store method (nil: unexpected call).
type fakeStore struct {
	CheckUserIDFn     func(ctx context.Context, phone, userID string) (Subscriber, error)
	SubscriberFn      func(ctx context.Context, phone string) (Subscriber, error)
	StartFn           func(ctx context.Context, s *Session, ttl time.Duration) error
	MarkSubmittedFn   func(ctx context.Context, id string, ids []string, at time.Time) error
	MarkDeliveredFn   func(ctx context.Context, id string, at time.Time) error
	CompleteFn        func(ctx context.Context, id string, res Result) (Session, error)
	GetFn             func(ctx context.Context, id string) (Session, error)
	ByTxnFn           func(ctx context.Context, txn [8]byte) (Session, error)
	RunningByPhoneFn  func(ctx context.Context, phone string) (Session, error)
	WaitFn            func(ctx context.Context, id string) (Session, error)
	NextMTCounterFn   func(ctx context.Context, iccid string) (uint64, error)
	AcceptMOCounterFn func(ctx context.Context, iccid string, c uint64) error
	PingFn            func(ctx context.Context) error
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) CheckUserID(ctx context.Context, phone, userID string) (Subscriber, error) {
	if f.CheckUserIDFn == nil {
		return Subscriber{}, errUnexpected
	}
	return f.CheckUserIDFn(ctx, phone, userID)
}
func (f *fakeStore) Subscriber(ctx context.Context, phone string) (Subscriber, error) {
	if f.SubscriberFn == nil {
		return Subscriber{}, errUnexpected
	}
	return f.SubscriberFn(ctx, phone)
}
func (f *fakeStore) Start(ctx context.Context, s *Session, ttl time.Duration) error {
	if f.StartFn == nil {
		return errUnexpected
	}
	return f.StartFn(ctx, s, ttl)
}
func (f *fakeStore) MarkSubmitted(ctx context.Context, id string, ids []string, at time.Time) error {
	if f.MarkSubmittedFn == nil {
		return errUnexpected
	}
	return f.MarkSubmittedFn(ctx, id, ids, at)
}
func (f *fakeStore) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	if f.MarkDeliveredFn == nil {
		return errUnexpected
	}
	return f.MarkDeliveredFn(ctx, id, at)
}
func (f *fakeStore) Complete(ctx context.Context, id string, res Result) (Session, error) {
	if f.CompleteFn == nil {
		return Session{}, errUnexpected
	}
	return f.CompleteFn(ctx, id, res)
}
func (f *fakeStore) Get(ctx context.Context, id string) (Session, error) {
	if f.GetFn == nil {
		return Session{}, errUnexpected
	}
	return f.GetFn(ctx, id)
}
func (f *fakeStore) ByTxn(ctx context.Context, txn [8]byte) (Session, error) {
	if f.ByTxnFn == nil {
		return Session{}, errUnexpected
	}
	return f.ByTxnFn(ctx, txn)
}
func (f *fakeStore) RunningByPhone(ctx context.Context, phone string) (Session, error) {
	if f.RunningByPhoneFn == nil {
		return Session{}, errUnexpected
	}
	return f.RunningByPhoneFn(ctx, phone)
}
func (f *fakeStore) Wait(ctx context.Context, id, _ string) (Session, error) {
	if f.WaitFn == nil {
		return Session{}, errUnexpected
	}
	return f.WaitFn(ctx, id)
}
func (f *fakeStore) NextMTCounter(ctx context.Context, iccid string) (uint64, error) {
	if f.NextMTCounterFn == nil {
		return 0, errUnexpected
	}
	return f.NextMTCounterFn(ctx, iccid)
}
func (f *fakeStore) AcceptMOCounter(ctx context.Context, iccid string, c uint64) error {
	if f.AcceptMOCounterFn == nil {
		return errUnexpected
	}
	return f.AcceptMOCounterFn(ctx, iccid, c)
}
func (f *fakeStore) Ping(ctx context.Context) error {
	if f.PingFn == nil {
		return nil
	}
	return f.PingFn(ctx)
}

// fakeSender has one function field per Sender method.
type fakeSender struct {
	SubmitFn func(ctx context.Context, msisdn string, segs [][]byte) ([]string, error)
}

var _ Sender = (*fakeSender)(nil)

func (f *fakeSender) Submit(ctx context.Context, msisdn string, segs [][]byte) ([]string, error) {
	if f.SubmitFn == nil {
		return nil, errUnexpected
	}
	return f.SubmitFn(ctx, msisdn, segs)
}

// fakeOTA has one function field per OTA method; ValidateDisplayText
// defaults to a 60-character limit.
type fakeOTA struct {
	SealFn     func(iccid string, counter uint64, cmd *Command, ref byte) ([][]byte, error)
	OpenFn     func(iccid string, ud []byte) (MO, error)
	ValidateFn func(s string) error
}

var _ OTA = (*fakeOTA)(nil)

func (f *fakeOTA) Seal(iccid string, counter uint64, cmd *Command, ref byte) ([][]byte, error) {
	if f.SealFn == nil {
		return [][]byte{{0x02, 0x70, 0x00}}, nil
	}
	return f.SealFn(iccid, counter, cmd, ref)
}
func (f *fakeOTA) Open(iccid string, ud []byte) (MO, error) {
	if f.OpenFn == nil {
		return MO{}, errUnexpected
	}
	return f.OpenFn(iccid, ud)
}
func (f *fakeOTA) ValidateDisplayText(s string) error {
	if f.ValidateFn != nil {
		return f.ValidateFn(s)
	}
	if len([]rune(s)) > 60 {
		return errors.New("longer than 60 characters")
	}
	return nil
}

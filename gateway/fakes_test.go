package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

var errUnexpected = errors.New("fake: unexpected call")

// fakeStore has one function field per Store method (nil: unexpected call).
type fakeStore struct {
	CheckAndStartFn func(ctx context.Context, phone, userID string,
		build func(sessions.Subscriber) (*sessions.Session, time.Duration, error)) (sessions.Subscriber, uint64, error)
	NextMTCounterFn        func(ctx context.Context, iccid string) (uint64, error)
	MarkSubmittedFn        func(ctx context.Context, id string, ctr uint64, ids []string, at time.Time) error
	MarkDeliveredFn        func(ctx context.Context, id string, at time.Time) error
	CompleteFn             func(ctx context.Context, id string, res sessions.Result) (sessions.Session, error)
	GetFn                  func(ctx context.Context, id string) (sessions.Session, error)
	WaitOwnedSubscriberFn  func(ctx context.Context, id, portal string) (sessions.Session, sessions.Subscriber, error)
	CheckUserIDFn          func(ctx context.Context, phone, userID string) (sessions.Subscriber, error)
	SubscriberFn           func(ctx context.Context, phone string) (sessions.Subscriber, error)
	SubscriberAndRunningFn func(ctx context.Context, phone string) (sessions.Subscriber, string, error)
	ByTxnFn                func(ctx context.Context, txn [8]byte) (sessions.Session, error)
	RunningByPhoneFn       func(ctx context.Context, phone string) (sessions.Session, error)
	AcceptMOAndCompleteFn  func(ctx context.Context, iccid string, c uint64, id string, res sessions.Result) (sessions.Session, error, error)
	AcceptMOCounterFn      func(ctx context.Context, iccid string, c uint64) error
	PingFn                 func(ctx context.Context) error
	ResyncMTCounterFn      func(ctx context.Context, iccid string, echoed uint64) (uint64, error)
	ClaimResendFn          func(ctx context.Context, id string, old, next uint64) error
	MarkResubmittedFn      func(ctx context.Context, id string, ids []string) error
	PortalBlockedUntilFn   func(ctx context.Context, portal string) (time.Time, error)
	SpendPortalBudgetFn    func(ctx context.Context, portal string, b sessions.Budget) (time.Time, error)
	// MarkSubmittedDeliveredFn nil: MarkSubmitted, then MarkDelivered if delivered is set.
	MarkSubmittedDeliveredFn func(ctx context.Context, id string, ctr uint64, ids []string, at, delivered time.Time) error
	// LocalRunningFn nil: nothing remembered, every MO takes the ordinary path.
	LocalRunningFn                   func(phone string) (sessions.Session, sessions.Subscriber, bool)
	AcceptMOAndCompleteIfUnchangedFn func(ctx context.Context, iccid string, c uint64, id string, res sessions.Result) (sessions.Session, error, error)
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) CheckAndStart(ctx context.Context, phone, userID string,
	build func(sessions.Subscriber) (*sessions.Session, time.Duration, error)) (sessions.Subscriber, uint64, error) {
	if f.CheckAndStartFn == nil {
		return sessions.Subscriber{}, 0, errUnexpected
	}
	return f.CheckAndStartFn(ctx, phone, userID, build)
}
func (f *fakeStore) NextMTCounter(ctx context.Context, iccid string) (uint64, error) {
	if f.NextMTCounterFn == nil {
		return 0, errUnexpected
	}
	return f.NextMTCounterFn(ctx, iccid)
}
func (f *fakeStore) MarkSubmitted(ctx context.Context, id string, ctr uint64, ids []string, at time.Time) error {
	if f.MarkSubmittedFn == nil {
		return errUnexpected
	}
	return f.MarkSubmittedFn(ctx, id, ctr, ids, at)
}
func (f *fakeStore) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	if f.MarkDeliveredFn == nil {
		return errUnexpected
	}
	return f.MarkDeliveredFn(ctx, id, at)
}
func (f *fakeStore) Complete(ctx context.Context, id string, res sessions.Result) (sessions.Session, error) {
	if f.CompleteFn == nil {
		return sessions.Session{}, errUnexpected
	}
	return f.CompleteFn(ctx, id, res)
}
func (f *fakeStore) Get(ctx context.Context, id string) (sessions.Session, error) {
	if f.GetFn == nil {
		return sessions.Session{}, errUnexpected
	}
	return f.GetFn(ctx, id)
}
func (f *fakeStore) WaitOwnedSubscriber(ctx context.Context, id, portal string) (sessions.Session, sessions.Subscriber, error) {
	if f.WaitOwnedSubscriberFn == nil {
		return sessions.Session{}, sessions.Subscriber{}, errUnexpected
	}
	return f.WaitOwnedSubscriberFn(ctx, id, portal)
}
func (f *fakeStore) CheckUserID(ctx context.Context, phone, userID string) (sessions.Subscriber, error) {
	if f.CheckUserIDFn == nil {
		return sessions.Subscriber{}, errUnexpected
	}
	return f.CheckUserIDFn(ctx, phone, userID)
}
func (f *fakeStore) Subscriber(ctx context.Context, phone string) (sessions.Subscriber, error) {
	if f.SubscriberFn == nil {
		return sessions.Subscriber{}, errUnexpected
	}
	return f.SubscriberFn(ctx, phone)
}
func (f *fakeStore) SubscriberAndRunning(ctx context.Context, phone string) (sessions.Subscriber, string, error) {
	if f.SubscriberAndRunningFn == nil {
		return sessions.Subscriber{}, "", errUnexpected
	}
	return f.SubscriberAndRunningFn(ctx, phone)
}
func (f *fakeStore) ByTxn(ctx context.Context, txn [8]byte) (sessions.Session, error) {
	if f.ByTxnFn == nil {
		return sessions.Session{}, errUnexpected
	}
	return f.ByTxnFn(ctx, txn)
}
func (f *fakeStore) RunningByPhone(ctx context.Context, phone string) (sessions.Session, error) {
	if f.RunningByPhoneFn == nil {
		return sessions.Session{}, errUnexpected
	}
	return f.RunningByPhoneFn(ctx, phone)
}
func (f *fakeStore) AcceptMOAndComplete(ctx context.Context, iccid string, c uint64, id string, res sessions.Result) (sessions.Session, error, error) {
	if f.AcceptMOAndCompleteFn == nil {
		return sessions.Session{}, nil, errUnexpected
	}
	return f.AcceptMOAndCompleteFn(ctx, iccid, c, id, res)
}
func (f *fakeStore) AcceptMOCounter(ctx context.Context, iccid string, c uint64) error {
	if f.AcceptMOCounterFn == nil {
		return errUnexpected
	}
	return f.AcceptMOCounterFn(ctx, iccid, c)
}
func (f *fakeStore) Ping(ctx context.Context) error {
	if f.PingFn == nil {
		return errUnexpected
	}
	return f.PingFn(ctx)
}

func (f *fakeStore) ResyncMTCounter(ctx context.Context, iccid string, echoed uint64) (uint64, error) {
	if f.ResyncMTCounterFn == nil {
		return 0, errUnexpected
	}
	return f.ResyncMTCounterFn(ctx, iccid, echoed)
}
func (f *fakeStore) ClaimResend(ctx context.Context, id string, old, next uint64) error {
	if f.ClaimResendFn == nil {
		return errUnexpected
	}
	return f.ClaimResendFn(ctx, id, old, next)
}
func (f *fakeStore) MarkResubmitted(ctx context.Context, id string, ids []string) error {
	if f.MarkResubmittedFn == nil {
		return errUnexpected
	}
	return f.MarkResubmittedFn(ctx, id, ids)
}

// PortalBlockedUntil of a fake without the Fn reports no block: most
// tests do not exercise the budget.
func (f *fakeStore) PortalBlockedUntil(ctx context.Context, portal string) (time.Time, error) {
	if f.PortalBlockedUntilFn == nil {
		return time.Time{}, nil
	}
	return f.PortalBlockedUntilFn(ctx, portal)
}
func (f *fakeStore) SpendPortalBudget(ctx context.Context, portal string, b sessions.Budget) (time.Time, error) {
	if f.SpendPortalBudgetFn == nil {
		return time.Time{}, nil
	}
	return f.SpendPortalBudgetFn(ctx, portal, b)
}

func (f *fakeStore) MarkSubmittedDelivered(ctx context.Context, id string, ctr uint64, ids []string, at, delivered time.Time) error {
	if f.MarkSubmittedDeliveredFn != nil {
		return f.MarkSubmittedDeliveredFn(ctx, id, ctr, ids, at, delivered)
	}
	if err := f.MarkSubmitted(ctx, id, ctr, ids, at); err != nil || delivered.IsZero() {
		return err
	}
	return f.MarkDelivered(ctx, id, delivered)
}

func (f *fakeStore) LocalRunning(phone string) (sessions.Session, sessions.Subscriber, bool) {
	if f.LocalRunningFn == nil {
		return sessions.Session{}, sessions.Subscriber{}, false
	}
	return f.LocalRunningFn(phone)
}

func (f *fakeStore) AcceptMOAndCompleteIfUnchanged(ctx context.Context, iccid string, c uint64, id string, res sessions.Result) (sessions.Session, error, error) {
	if f.AcceptMOAndCompleteIfUnchangedFn == nil {
		return sessions.Session{}, nil, sessions.ErrSubscriberChanged
	}
	return f.AcceptMOAndCompleteIfUnchangedFn(ctx, iccid, c, id, res)
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

// fakeOTA has one function field per OTA method; Seal defaults to one
// empty reply-shaped segment.
type fakeOTA struct {
	SealFn func(iccid string, counter uint64, cmd *applet.Command, ref byte) ([][]byte, error)
	OpenFn func(iccid string, ud []byte) (applet.MO, error)
}

var _ OTA = (*fakeOTA)(nil)

func (f *fakeOTA) Seal(iccid string, counter uint64, cmd *applet.Command, ref byte) ([][]byte, error) {
	if f.SealFn == nil {
		return [][]byte{{0x02, 0x70, 0x00}}, nil
	}
	return f.SealFn(iccid, counter, cmd, ref)
}
func (f *fakeOTA) Open(iccid string, ud []byte) (applet.MO, error) {
	if f.OpenFn == nil {
		return applet.MO{}, errUnexpected
	}
	return f.OpenFn(iccid, ud)
}

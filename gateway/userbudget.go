package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/imzagate/imzagate/sessions"
)

// budgetRefresh is how often an instance asks the store whether a portal
// is blocked: a block set by another instance reaches this one within it,
// at one store read per portal per interval, not one per request.
const budgetRefresh = time.Second

// userIDBudgets keeps each portal's budget of wrong User IDs. The phone's
// lockout stops guessing on one phone; a portal key (or a leaked one)
// could still spread guesses over many phones, each below its lockout.
// Every wrong User ID is counted in the store (shared by all instances)
// against the portal's sessions.Budget; once it is spent, the portal's
// starts and certificate lookups are refused with 429
// USER_ID_BUDGET_EXCEEDED until the block ends.
type userIDBudgets struct {
	store   Store
	metrics *metrics
	logKey  []byte
	now     func() time.Time
	mu      sync.Mutex
	state   map[string]*budgetState // by portal id: the configured portals only
}

// budgetState is what this instance knows of one portal's block.
type budgetState struct {
	until   time.Time // the block's end (zero: not blocked)
	checked time.Time // when the store was last asked
}

func newUserIDBudgets(store Store, m *metrics, ps []*Portal, logKey []byte, now func() time.Time) *userIDBudgets {
	b := &userIDBudgets{store: store, metrics: m, logKey: logKey, now: now, state: make(map[string]*budgetState, len(ps))}
	for _, p := range ps {
		b.state[p.ID] = &budgetState{}
	}
	return b
}

// check refuses a request of portal p while p is blocked. Should the
// store not answer, the request goes on: its own store call then reports
// the outage.
func (b *userIDBudgets) check(ctx context.Context, p *Portal) error {
	now := b.now()
	b.mu.Lock()
	st := b.state[p.ID]
	if now.Before(st.until) {
		until := st.until
		b.mu.Unlock()
		return b.refuse(p, until.Sub(now))
	}
	if now.Sub(st.checked) < budgetRefresh {
		b.mu.Unlock()
		return nil
	}
	st.checked = now
	b.mu.Unlock()
	until, err := b.store.PortalBlockedUntil(ctx, p.ID)
	if err != nil {
		return nil
	}
	b.mu.Lock()
	st.until = until
	b.mu.Unlock()
	if now.Before(until) {
		return b.refuse(p, until.Sub(now))
	}
	return nil
}

func (b *userIDBudgets) refuse(p *Portal, wait time.Duration) error {
	b.metrics.userIDRefusals.WithLabelValues(p.ID).Inc()
	return &sessions.BudgetError{RetryAfter: max(wait, time.Second)}
}

// failed counts err against portal p's budget when it is a wrong User ID
// (or an unknown phone) for phone, and logs it with the portal and, through
// log, the request id.
func (b *userIDBudgets) failed(ctx context.Context, log *slog.Logger, p *Portal, phone string, err error) {
	if !errors.Is(err, sessions.ErrBadUserID) {
		return
	}
	b.metrics.userIDFailures.WithLabelValues(p.ID).Inc()
	log.LogAttrs(ctx, slog.LevelWarn, "wrong User ID", slog.String("portal", p.ID), phoneAttr(b.logKey, phone))
	until, err := b.store.SpendPortalBudget(ctx, p.ID, p.UserIDBudget)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "wrong User ID not counted for the portal", slog.String("portal", p.ID), slog.String("err", err.Error()))
		return
	}
	if until.IsZero() {
		return
	}
	now := b.now()
	b.mu.Lock()
	st := b.state[p.ID]
	fresh := !now.Before(st.until)
	st.until, st.checked = until, now
	b.mu.Unlock()
	if fresh {
		b.metrics.userIDBlocks.WithLabelValues(p.ID).Inc()
		log.LogAttrs(ctx, slog.LevelWarn, "portal blocked: budget of wrong User IDs spent", slog.String("portal", p.ID),
			slog.Time("until", until))
	}
}

package sessions

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/redis/go-redis/v9"
)

// TestLifecycle runs every administrator change against a real
// redis-server and a real three-master Cluster.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	backends := map[string]backend{
		"redis": {client: func(t *testing.T) redis.UniversalClient { return clientFor(t, srv.Addr) }},
	}
	if !testing.Short() {
		cl := redistest.StartCluster(t)
		backends["cluster"] = backend{client: func(t *testing.T) redis.UniversalClient { return clientFor(t, cl.Addrs...) }}
	}
	for name, be := range backends {
		t.Run(name, func(t *testing.T) { runLifecycle(t, be) })
	}
}

func runLifecycle(t *testing.T, be backend) {
	ctx := context.Background()
	t.Run("register issues a user id once and refuses a second registration", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		uid, err := e.store.RegisterSubscriber(ctx, sub, "")
		if err != nil || len(uid) != 6 {
			t.Fatalf("register = %q, %v", uid, err)
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, uid); err != nil {
			t.Fatalf("the issued User ID does not work: %v", err)
		}
		if _, err := e.store.RegisterSubscriber(ctx, sub, "123456"); !errors.Is(err, ErrExists) {
			t.Fatalf("second register = %v, want ErrExists", err)
		}
		given, err := e.store.RegisterSubscriber(ctx, sampleSubscriber(newPhone()), "654321")
		if err != nil || given != "" {
			t.Fatalf("register with a given User ID = %q, %v; want it not echoed", given, err)
		}
	})
	t.Run("user id reset: old id fails like a wrong one, new works, lockout cleared", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		if _, err := e.store.RegisterSubscriber(ctx, sub, "111111"); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			_, _ = e.store.CheckUserID(ctx, sub.Phone, "999999")
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, "111111"); !errors.Is(err, ErrLocked) {
			t.Fatalf("after 5 wrong: %v, want locked", err)
		}
		uid, err := e.store.ResetUserID(ctx, sub.Phone)
		if err != nil || uid == "111111" || len(uid) != 6 {
			t.Fatalf("reset = %q, %v", uid, err)
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, "111111"); !errors.Is(err, ErrBadUserID) {
			t.Fatalf("old User ID: %v, want ErrBadUserID (as a wrong one)", err)
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, uid); err != nil {
			t.Fatalf("new User ID: %v", err)
		}
		if _, err := e.store.ResetUserID(ctx, newPhone()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("reset of an unknown phone: %v", err)
		}
	})
	t.Run("lockout reset lets the right user id in at once", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		if _, err := e.store.RegisterSubscriber(ctx, sub, "222222"); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			_, _ = e.store.CheckUserID(ctx, sub.Phone, "999999")
		}
		p, err := e.store.SubscriberProfile(ctx, sub.Phone)
		if err != nil || p.Failures != 5 || p.LockedUntil.IsZero() {
			t.Fatalf("profile while locked: %+v, %v", p, err)
		}
		n, err := e.store.ResetLockout(ctx, sub.Phone)
		if err != nil || n != 5 {
			t.Fatalf("reset lockout = %d, %v", n, err)
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, "222222"); err != nil {
			t.Fatalf("login after reset: %v", err)
		}
		if _, err := e.store.ResetLockout(ctx, newPhone()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown phone: %v", err)
		}
	})
	t.Run("suspend, resume, close and their conflicts", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		if _, err := e.store.RegisterSubscriber(ctx, sub, "333333"); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			state string
			want  error
			read  string
		}{
			{SubscriberActive, ErrConflict, SubscriberActive},
			{SubscriberSuspended, nil, SubscriberSuspended},
			{SubscriberSuspended, ErrConflict, SubscriberSuspended},
			{SubscriberActive, nil, SubscriberActive},
			{SubscriberClosed, nil, SubscriberClosed},
			{SubscriberActive, ErrConflict, SubscriberClosed},
			{SubscriberClosed, ErrConflict, SubscriberClosed},
		}
		for i, st := range steps {
			err := e.store.SetSubscriberState(ctx, sub.Phone, st.state)
			if !errors.Is(err, st.want) && (st.want != nil || err != nil) {
				t.Fatalf("step %d to %s: %v, want %v", i, st.state, err, st.want)
			}
			got, err := e.store.Subscriber(ctx, sub.Phone)
			if err != nil || got.StateOf() != st.read {
				t.Fatalf("step %d: state %q, %v; want %s", i, got.StateOf(), err, st.read)
			}
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, "333333"); !errors.Is(err, ErrBadUserID) {
			t.Fatalf("closed subscriber's User ID: %v, want ErrBadUserID as for an unknown phone", err)
		}
		uid, err := e.store.RegisterSubscriber(ctx, sub, "")
		if err != nil {
			t.Fatalf("re-register a closed number: %v", err)
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, uid); err != nil {
			t.Fatalf("re-registered: %v", err)
		}
	})
	t.Run("sim swap: new iccid, mo counter of the new card reset, blocked flag cleared", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		if _, err := e.store.RegisterSubscriber(ctx, sub, "444444"); err != nil {
			t.Fatal(err)
		}
		const newICCID = "8999409999999999991"
		if err := e.store.AcceptMOCounter(ctx, newICCID, 1000); err != nil {
			t.Fatal(err)
		}
		sess := sampleSession(sub.Phone)
		if err := e.store.Start(ctx, sess, time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultPINBlocked}); err != nil {
			t.Fatal(err)
		}
		if p, _ := e.store.SubscriberProfile(ctx, sub.Phone); p.Blocked != ResultPINBlocked {
			t.Fatalf("blocked flag %q after PIN_BLOCKED", p.Blocked)
		}
		if err := e.store.SwapSIM(ctx, sub.Phone, newICCID, 2); err != nil {
			t.Fatal(err)
		}
		p, err := e.store.SubscriberProfile(ctx, sub.Phone)
		if err != nil || p.Subscriber.ICCID != newICCID || p.Subscriber.KeyVersion != 2 || p.Blocked != "" {
			t.Fatalf("after swap: %+v, %v", p, err)
		}
		if err := e.store.AcceptMOCounter(ctx, newICCID, 1); err != nil {
			t.Fatalf("the new card's first MO counter: %v", err)
		}
		if _, err := e.store.CheckUserID(ctx, sub.Phone, "444444"); err != nil {
			t.Fatalf("User ID after swap: %v", err)
		}
		if err := e.store.SwapSIM(ctx, newPhone(), newICCID, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("swap of an unknown phone: %v", err)
		}
	})
	t.Run("number change keeps the user id when given, else issues one", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		if _, err := e.store.RegisterSubscriber(ctx, sub, "555555"); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetSubscriberState(ctx, sub.Phone, SubscriberSuspended); err != nil {
			t.Fatal(err)
		}
		to := newPhone()
		if _, err := e.store.ChangeNumber(ctx, sub.Phone, to, "000000"); !errors.Is(err, ErrBadUserID) {
			t.Fatalf("wrong User ID: %v", err)
		}
		issued, err := e.store.ChangeNumber(ctx, sub.Phone, to, "555555")
		if err != nil || issued != "" {
			t.Fatalf("change = %q, %v", issued, err)
		}
		if _, err := e.store.Subscriber(ctx, sub.Phone); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old number still there: %v", err)
		}
		got, err := e.store.CheckUserID(ctx, to, "555555")
		if err != nil || got.ICCID != sub.ICCID || got.State != SubscriberSuspended || len(got.Certificates) != 2 {
			t.Fatalf("new number: %+v, %v", got, err)
		}
		to2 := newPhone()
		issued, err = e.store.ChangeNumber(ctx, to, to2, "")
		if err != nil || len(issued) != 6 {
			t.Fatalf("change without User ID = %q, %v", issued, err)
		}
		if _, err := e.store.CheckUserID(ctx, to2, issued); err != nil {
			t.Fatalf("issued User ID: %v", err)
		}
	})
	t.Run("number change to a taken number is refused and undone", func(t *testing.T) {
		e := newEnv(t, be, nil)
		a, b := sampleSubscriber(newPhone()), sampleSubscriber(newPhone())
		b.ICCID = "8999401111111111111"
		for _, s := range []Subscriber{a, b} {
			if _, err := e.store.RegisterSubscriber(ctx, s, "666666"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.store.ChangeNumber(ctx, a.Phone, b.Phone, ""); !errors.Is(err, ErrConflict) {
			t.Fatalf("change to a taken number: %v", err)
		}
		p, err := e.store.SubscriberProfile(ctx, a.Phone)
		if err != nil || p.Subscriber.StateOf() != SubscriberActive || p.MovingTo != "" {
			t.Fatalf("old number after the refused move: %+v, %v", p, err)
		}
	})
	t.Run("a number change interrupted after its first step completes when run again", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		if _, err := e.store.RegisterSubscriber(ctx, sub, "777777"); err != nil {
			t.Fatal(err)
		}
		to := newPhone()
		if _, err := e.store.moveOut(ctx, sub.Phone, to, ""); err != nil {
			t.Fatal(err)
		}
		p, _ := e.store.SubscriberProfile(ctx, sub.Phone)
		if p.Subscriber.State != SubscriberMoving || p.MovingTo != to {
			t.Fatalf("after step 1: %+v", p)
		}
		if _, err := e.store.ChangeNumber(ctx, sub.Phone, newPhone(), ""); !errors.Is(err, ErrConflict) {
			t.Fatalf("a second move elsewhere: %v", err)
		}
		if _, err := e.store.ChangeNumber(ctx, sub.Phone, to, "777777"); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if _, err := e.store.CheckUserID(ctx, to, "777777"); err != nil {
			t.Fatalf("new number: %v", err)
		}
	})
	t.Run("certificate status with time and reason survives the round trip", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		if _, err := e.store.RegisterSubscriber(ctx, sub, "888888"); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		_, err := e.store.UpdateSubscriber(ctx, sub.Phone, func(s *Subscriber) error {
			s.Certificates[1].Status, s.Certificates[1].StatusAt, s.Certificates[1].StatusReason = StatusSuspended, at, "keyCompromise"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := e.store.Subscriber(ctx, sub.Phone)
		c := got.Certificates[1]
		if c.Status != StatusSuspended || !c.StatusAt.Equal(at) || c.StatusReason != "keyCompromise" {
			t.Fatalf("stored %+v", c)
		}
	})
	t.Run("concurrent updates are all applied", func(t *testing.T) {
		e := newEnv(t, be, nil)
		sub := sampleSubscriber(newPhone())
		sub.Certificates = nil
		if _, err := e.store.RegisterSubscriber(ctx, sub, "999999"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, err := e.store.UpdateSubscriber(ctx, sub.Phone, func(s *Subscriber) error {
					s.Certificates = append(s.Certificates, sampleCert(byte(2+i), CertPersonal))
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := e.store.Subscriber(ctx, sub.Phone)
		if len(got.Certificates) != 4 {
			t.Fatalf("%d certificates after 4 concurrent adds", len(got.Certificates))
		}
	})
	t.Run("usage counts each completion once", func(t *testing.T) {
		e := newEnv(t, be, nil)
		results := []string{ResultOK, ResultOK, ResultUserCancelled}
		for _, r := range results {
			sess := sampleSession(newPhone())
			sess.Operator = "azercell"
			if err := e.store.Start(ctx, sess, time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Complete(ctx, sess.ID, Result{Code: r}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Complete(ctx, sess.ID, Result{Code: r}); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("second complete: %v", err)
			}
		}
		rows, err := e.store.Usage(ctx, e.clock.Now(), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// Only this subtest starts sessions with an operator.
		got := map[string]int64{}
		for _, r := range rows {
			if r.Operator == "azercell" && r.Portal == "e-taxes" {
				got[r.Result] += r.Count
			}
		}
		if got[ResultOK] != 2 || got[ResultUserCancelled] != 1 || len(got) != 2 {
			t.Fatalf("usage %v", got)
		}
	})
	t.Run("pepper canary", func(t *testing.T) {
		e := newEnv(t, be, nil)
		_ = e.rdb.Del(ctx, canaryKey).Err()
		if created, err := e.store.CheckPepper(ctx, true); err != nil || !created {
			t.Fatalf("first = %v, %v", created, err)
		}
		if created, err := e.store.CheckPepper(ctx, true); err != nil || created {
			t.Fatalf("second = %v, %v", created, err)
		}
		other, _ := New(e.rdb, Options{Pepper: randomPepper()})
		if _, err := other.CheckPepper(ctx, false); !errors.Is(err, ErrWrongPepper) {
			t.Fatalf("wrong pepper: %v", err)
		}
		_ = e.rdb.Del(ctx, canaryKey).Err()
	})
}

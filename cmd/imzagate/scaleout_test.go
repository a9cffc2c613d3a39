package main

// Scale-out and failure tests with real processes: several
// `imzagate serve` children over one Redis, a Redis Cluster and a Redis
// Sentinel set, the test SMSC and the SIM farm in this process. Each test
// logs how many sessions it ran and checks that none was lost or applied
// twice.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// TestScaleOutThreeInstances: three gateways share one Redis (then a
// three-master Cluster) and one SMSC account. A and C bind transmitter-only,
// so the SMSC can deliver every reply only to B: each session starts on A,
// its reply is applied by B, and the portal long-polls C. The result must
// arrive once: completed by B alone, the same on every instance, no replay.
func TestScaleOutThreeInstances(t *testing.T) {
	redistest.RequireBinaries(t)
	for _, tc := range []struct {
		name  string
		redis func(t *testing.T) []string
	}{
		{"one Redis", func(t *testing.T) []string { return []string{redistest.Start(t).Addr} }},
		{"Redis Cluster", func(t *testing.T) []string { return redistest.StartCluster(t).Addrs }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 30
			f := newFleet(t, fleetOptions{RedisAddrs: tc.redis(t), Cards: n, UserDelay: 50 * time.Millisecond})
			a, b, c := f.gateway("a", "transmitter"), f.gateway("b", "transceiver"), f.gateway("c", "transmitter")
			ctx := t.Context()
			ss := make([]*session, n)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 10)
			for i := range n {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					s := f.startSession(ctx, a, i, false)
					if s.outcome == "" {
						f.poll(ctx, s, time.Now().Add(30*time.Second), func(int) []*gwProc { return []*gwProc{c} })
					}
					ss[i] = s
				})
			}
			wg.Wait()
			if got := tally(ss); got[sessions.ResultOK] != n {
				t.Fatalf("outcomes %v, want %d OK", got, n)
			}
			// Once: B applied every reply and completed every session; A
			// and C saw no MO and completed nothing.
			for _, chk := range []struct {
				g      *gwProc
				series string
				label  string
				want   float64
			}{
				{a, "imzagate_mo_received_total", `kind="reply"`, 0},
				{b, "imzagate_mo_received_total", `kind="reply"`, n},
				{c, "imzagate_mo_received_total", `kind="reply"`, 0},
				{a, "imzagate_sessions_completed_total", `result="OK"`, 0},
				{b, "imzagate_sessions_completed_total", `result="OK"`, n},
				{c, "imzagate_sessions_completed_total", `result="OK"`, 0},
				{a, "imzagate_mo_replays_total", "", 0},
				{b, "imzagate_mo_replays_total", "", 0},
				{c, "imzagate_mo_replays_total", "", 0},
			} {
				if got := chk.g.mustMetric(chk.series, chk.label); got != chk.want {
					t.Errorf("gateway %s %s{%s} = %v, want %v", chk.g.name, chk.series, chk.label, got, chk.want)
				}
			}
			// Every instance answers the same final result.
			for _, s := range ss {
				for _, g := range []*gwProc{a, b} {
					st, m, err := f.get(ctx, g, s.id, 0)
					if err != nil || st != http.StatusOK || m["result"] != sessions.ResultOK {
						t.Fatalf("session on %s: %d %v %v", g.name, st, m, err)
					}
				}
				if cs := f.hs.counters("" + f.records[s.card].MSISDN); len(cs) != 1 {
					t.Fatalf("card %d accepted MT counters %v, want one", s.card, cs)
				}
			}
			st := f.sm.Stats()
			if st.Lost != 0 || st.BindsRefused != 0 || st.PeakBinds > fleetBindCap {
				t.Fatalf("SMSC %+v: want nothing lost and the bind cap kept", st)
			}
			t.Logf("%s: %d sessions started on A, replies applied on B, polled on C: %d OK, 0 lost, 0 applied twice",
				tc.name, n, n)
		})
	}
}

// loadRun drives a steady closed-loop load over the live gateways until
// stop is closed: workers take a card from a pool, start a login on one
// instance and long-poll another. A card whose start did not give a clear
// answer is retired (its phone may hold a running session).
type loadRun struct {
	f       *fleet
	gws     []*gwProc
	down    sync.Map // *gwProc → true once the test killed or stopped it
	cards   chan int
	mu      sync.Mutex
	ss      []*session
	started atomic.Int64
	done    atomic.Int64
}

func newLoad(f *fleet, gws []*gwProc, cards []int) *loadRun {
	l := &loadRun{f: f, gws: gws, cards: make(chan int, len(cards))}
	for _, c := range cards {
		l.cards <- c
	}
	return l
}

// live lists the instances the test has not taken down, starting at i.
func (l *loadRun) live(i int) []*gwProc {
	var out []*gwProc
	for k := range l.gws {
		g := l.gws[(i+k)%len(l.gws)]
		if _, down := l.down.Load(g); !down {
			out = append(out, g)
		}
	}
	return out
}

// run starts workers and returns a function that stops them and waits.
func (l *loadRun) run(ctx context.Context, workers int, pace time.Duration) (stop func() []*session) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var quit atomic.Bool
	for w := range workers {
		wg.Go(func() {
			for i := w; !quit.Load() && ctx.Err() == nil; i += workers {
				var card int
				select {
				case card = <-l.cards:
				case <-ctx.Done():
					return
				}
				gs := l.live(i)
				if len(gs) == 0 {
					return
				}
				s := l.f.startSession(ctx, gs[0], card, false)
				if s.outcome == "" {
					l.started.Add(1)
					l.f.poll(ctx, s, time.Now().Add(40*time.Second), func(attempt int) []*gwProc { return l.live(i + 1 + attempt) })
					l.done.Add(1)
				}
				l.mu.Lock()
				l.ss = append(l.ss, s)
				l.mu.Unlock()
				if s.outcome != outcomeStartCut && s.outcome != outcomeStartFailed {
					l.cards <- card // its phone is free again
				}
				if pace > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(pace):
					}
				}
			}
		})
	}
	return func() []*session {
		quit.Store(true)
		wg.Wait()
		cancel()
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.Clone(l.ss)
	}
}

// waitDone waits until n more sessions than now have finished.
func (l *loadRun) waitDone(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	target := l.done.Load() + n
	testutil.Eventually(t, d, fmt.Sprintf("%d sessions finished", target), func() bool { return l.done.Load() >= target })
}

// checkCounters checks, for every card, that it accepted exactly one MT
// counter per session that reached it with a result, all increasing (the
// card itself refuses anything else).
func checkCounters(t *testing.T, f *fleet, ss []*session) (total int) {
	t.Helper()
	perCard := map[int]int{}
	for _, s := range ss {
		if s.outcome == sessions.ResultOK {
			perCard[s.card]++
		}
	}
	for card, n := range perCard {
		cs := f.hs.counters(f.records[card].MSISDN)
		if len(cs) != n || !slices.IsSorted(cs) || len(slices.Compact(slices.Clone(cs))) != len(cs) {
			t.Errorf("card %d: %d OK sessions but accepted MT counters %v", card, n, cs)
		}
		total += len(cs)
	}
	return total
}

// TestSentinelFailover: three gateways over a master, a replica and three
// sentinels, under a steady load. The master is killed; the gateways follow
// the failover; every session started after it completes; no card ever
// accepts a reused MT counter; replies that arrive while there is no master
// are answered with a temporary error and redelivered, so none is lost.
// What asynchronous replication may lose (a session written just before
// the kill) may only end as TIMEOUT or not found, never as a wrong result.
func TestSentinelFailover(t *testing.T) {
	t.Parallel() // alongside TestSentinelLossyFailover, which mostly waits
	redistest.RequireBinaries(t, "redis-server", "redis-cli", "redis-sentinel")
	set := redistest.StartSentinel(t)
	const cards = 48
	f := newFleet(t, fleetOptions{RedisAddrs: set.SentinelAddrs, MasterName: redistest.SentinelMasterName, ProvisionAddr: set.Master.Addr,
		Cards: cards, UserDelay: 100 * time.Millisecond})
	gws := []*gwProc{f.gateway("a", "transceiver"), f.gateway("b", "transceiver"), f.gateway("c", "transceiver")}
	pool := make([]int, cards)
	for i := range pool {
		pool[i] = i
	}
	l := newLoad(f, gws, pool)
	stop := l.run(t.Context(), 6, 0)
	l.waitDone(t, 30, 30*time.Second)

	oldMaster := set.Master.Addr
	redeliveredBefore := f.sm.Stats().Redeliveries
	killAt := time.Now()
	set.Master.Stop() // SIGKILL: no shutdown, no last write
	testutil.Eventually(t, 30*time.Second, "a new master", func() bool {
		addr, err := set.MasterAddr()
		return err == nil && addr != oldMaster
	})
	// Followed: every instance reaches the new master (readyz pings it).
	for _, g := range gws {
		g.waitReady(30 * time.Second)
	}
	failedOver := time.Now()
	l.waitDone(t, 40, 60*time.Second)
	ss := stop()

	var after, before, lostToReplication int
	for _, s := range ss {
		switch {
		case s.outcome == outcomeStartFailed || s.outcome == outcomeStartCut:
			if s.started.After(failedOver) {
				t.Errorf("start after the failover refused: %s %s", s.outcome, s.code)
			}
		case s.started.After(failedOver):
			after++
			if s.outcome != sessions.ResultOK {
				t.Errorf("session started after the failover on %s: %s", s.startOn, s.outcome)
			}
		case s.outcome == sessions.ResultOK:
			before++
		case (s.outcome == sessions.ResultTimeout || s.outcome == outcomeNotFound) && s.started.After(killAt.Add(-time.Second)):
			// Written to the old master just before the kill and not yet
			// replicated: the portal sees TIMEOUT or not found, never a
			// wrong result.
			lostToReplication++
		default:
			t.Errorf("session started before the failover on %s: %s", s.startOn, s.outcome)
		}
	}
	var porErrors, tempAnswers float64
	for _, g := range gws {
		porErrors += g.mustMetric("imzagate_ota_errors_total", `reason="por_status"`)
		tempAnswers += g.mustMetric("imzagate_smpp_deliver_sm_answered_total", `status="ESME_RX_T_APPN"`)
	}
	accepted := checkCounters(t, f, ss)
	st := f.sm.Stats()
	if porErrors != 0 {
		t.Errorf("%v error PoRs: a card refused an MT counter", porErrors)
	}
	if st.Lost != 0 {
		t.Errorf("SMSC gave up %d deliveries", st.Lost)
	}
	if tempAnswers == 0 || st.Redeliveries == redeliveredBefore {
		t.Errorf("no deliver_sm answered ESME_RX_T_APPN (%v) or redelivered (%d) during the failover", tempAnswers, st.Redeliveries-redeliveredBefore)
	}
	t.Logf("Sentinel failover in %v: %d sessions OK before/across it, %d started after it all OK, %d lost to asynchronous replication (TIMEOUT/not found), "+
		"%d start refusals during it; %d MT counters accepted, none reused; %v deliver_sm answered with a temporary error, %d redeliveries, 0 replies lost; outcomes %v",
		failedOver.Sub(killAt).Round(time.Millisecond), before, after, lostToReplication,
		tally(ss)[outcomeStartFailed]+tally(ss)[outcomeStartCut], accepted, tempAnswers, st.Redeliveries-redeliveredBefore, tally(ss))
}

// TestProcessFaults: three gateways on one Redis under load. A gateway
// killed with SIGKILL loses no reply: what it had not acknowledged the SMSC
// redelivers to the others. It restarts and rebinds within the operator's
// bind cap once its old session is gone. A gateway stopped with SIGTERM
// drains: it turns unready and takes no new session, its running sessions
// finish, its bind unbinds, and it exits within its shutdown bound.
func TestProcessFaults(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	const (
		cards     = 60
		loadCards = 45 // cards 0–44 carry the load; 45–49 are for single checks
		slowFrom  = 50 // cards 50–59 answer slowly: sessions in flight at SIGTERM
		slowDelay = 1500 * time.Millisecond
	)
	f := newFleet(t, fleetOptions{RedisAddrs: []string{srv.Addr}, Cards: cards, UserDelay: 150 * time.Millisecond,
		SlowFrom: slowFrom, SlowDelay: slowDelay})
	a, b, c := f.gateway("a", "transceiver"), f.gateway("b", "transceiver"), f.gateway("c", "transceiver")
	gws := []*gwProc{a, b, c}
	if n := f.sm.Bound(fleetAccount); n != fleetBindCap {
		t.Fatalf("%d binds, want %d", n, fleetBindCap)
	}

	t.Run("SIGKILL mid-load loses no reply", func(t *testing.T) {
		pool := make([]int, loadCards)
		for i := range pool {
			pool[i] = i
		}
		l := newLoad(f, gws, pool)
		stop := l.run(t.Context(), 6, 0)
		l.waitDone(t, 20, 30*time.Second)
		before := f.sm.Stats()
		// Freeze b first (SIGSTOP) so that the SMSC's round robin hands it
		// replies it never answers, then kill it: replies are certainly in
		// the dead instance's hands. (The bind's system_type is the
		// instance's name.)
		l.down.Store(b, true)
		b.signal(syscall.SIGSTOP)
		testutil.Eventually(t, 10*time.Second, "b to hold a reply", func() bool { return f.sm.PendingReplies(fleetAccount, "b") > 0 })
		held := f.sm.PendingReplies(fleetAccount, "b")
		b.kill()
		l.waitDone(t, 30, 60*time.Second)
		ss := stop()
		got := tally(ss)
		started := 0
		for _, s := range ss {
			if s.outcome == outcomeStartFailed || s.outcome == outcomeStartCut {
				continue // the portal got no session id: nothing to lose
			}
			started++
			if s.outcome != sessions.ResultOK {
				t.Errorf("session started on %s ended %s", s.startOn, s.outcome)
			}
		}
		after := f.sm.Stats()
		if after.Lost != 0 || after.Disconnects == before.Disconnects {
			t.Errorf("SMSC %+v: want nothing lost and the killed bind seen as a disconnect", after)
		}
		checkCounters(t, f, ss)
		t.Logf("SIGKILL of b mid-load, holding %d unacknowledged replies: %d sessions started, all OK (%d started on b); %d starts cut by the kill; %d redeliveries; outcomes %v",
			held, started, countOn(ss, "b"), got[outcomeStartCut], after.Redeliveries-before.Redeliveries, got)
	})

	t.Run("restart rebinds within the bind cap", func(t *testing.T) {
		testutil.Eventually(t, 10*time.Second, "the SMSC to drop the killed bind", func() bool { return f.sm.Bound(fleetAccount) == fleetBindCap-1 })
		b.start()
		b.waitReady(30 * time.Second)
		st := f.sm.Stats()
		if n := f.sm.Bound(fleetAccount); n != fleetBindCap || st.BindsRefused != 0 || st.PeakBinds > fleetBindCap {
			t.Fatalf("after restart: %d bound, stats %+v: want %d bound, no refusal, peak within the cap", n, st, fleetBindCap)
		}
		s := f.startSession(t.Context(), b, loadCards, false)
		f.poll(t.Context(), s, time.Now().Add(30*time.Second), func(int) []*gwProc { return []*gwProc{b} })
		if s.outcome != sessions.ResultOK {
			t.Fatalf("session on the restarted instance: %s %s", s.outcome, s.code)
		}
		t.Logf("b restarted: %d of %d binds in use, none refused, peak %d", fleetBindCap, fleetBindCap, st.PeakBinds)
	})

	t.Run("SIGTERM drains", func(t *testing.T) {
		ctx := t.Context()
		var inflight []*session
		for card := slowFrom; card < cards; card++ {
			s := f.startSession(ctx, c, card, false)
			if s.outcome != "" {
				t.Fatalf("start on c: %s %s", s.outcome, s.code)
			}
			inflight = append(inflight, s)
		}
		before := f.sm.Stats()
		sigAt := time.Now()
		c.signal(syscall.SIGTERM)
		// Unready (or gone) first; after that no new session starts there.
		testutil.Eventually(t, 10*time.Second, "c to turn unready", func() bool { return c.readyStatus() != http.StatusOK })
		var refused []string
		for card := loadCards + 1; card <= loadCards+3; card++ {
			s := f.startSession(ctx, c, card, true)
			if s.outcome == "" {
				t.Fatalf("a session started on c while it drains: %s", s.id)
			}
			refused = append(refused, s.outcome+" "+s.code)
		}
		if err := c.wait(15 * time.Second); err != nil {
			t.Fatalf("c did not exit cleanly within its bound: %v", err)
		}
		drained := time.Since(sigAt)
		if drained > 12*time.Second {
			t.Fatalf("drain took %v, bound is the 10 s shutdownTimeout", drained)
		}
		for _, s := range inflight {
			f.poll(ctx, s, time.Now().Add(30*time.Second), func(int) []*gwProc { return []*gwProc{a, b} })
			if s.outcome != sessions.ResultOK {
				t.Errorf("in-flight session of c ended %s", s.outcome)
			}
		}
		after := f.sm.Stats()
		if after.Unbinds != before.Unbinds+1 || after.Disconnects != before.Disconnects || after.Lost != 0 {
			t.Errorf("SMSC before %+v after %+v: want one unbind, no disconnect, nothing lost", before, after)
		}
		testutil.Eventually(t, 5*time.Second, "c's place in the bind cap freed", func() bool { return f.sm.Bound(fleetAccount) == fleetBindCap-1 })
		c.start()
		c.waitReady(30 * time.Second)
		if st := f.sm.Stats(); st.BindsRefused != 0 || f.sm.Bound(fleetAccount) != fleetBindCap {
			t.Fatalf("c restarted: %d bound, stats %+v", f.sm.Bound(fleetAccount), st)
		}
		t.Logf("SIGTERM of c: exited in %v; %d in-flight sessions finished OK on a and b; starts while draining refused (%q); bind unbound, then rebound within the cap",
			drained.Round(time.Millisecond), len(inflight), refused)
	})
}

func countOn(ss []*session, name string) int {
	n := 0
	for _, s := range ss {
		if s.startOn == name && s.id != "" {
			n++
		}
	}
	return n
}

// TestSentinelLossyFailover makes asynchronous replication lose writes on
// purpose, to show what a portal then sees. Replication is cut (the
// replica frozen and its link dropped) while session Z, already replicated,
// completes on the master and session X starts there; then the master dies
// and the stale replica is promoted. Z's completion is gone: it runs again
// and ends TIMEOUT. X is unknown: the poll answers not found and the card's
// reply, redelivered until there is a master, is acknowledged without
// effect. Neither ends with a wrong result, and both cards accept their next
// session (their MT counters were not reused).
func TestSentinelLossyFailover(t *testing.T) {
	t.Parallel() // mostly waits for Z's timeout: let the other failover test use the time
	redistest.RequireBinaries(t, "redis-server", "redis-cli", "redis-sentinel")
	set := redistest.StartSentinel(t)
	const cardZ, cardX = 2, 3 // cards 2 and 3 take 2 s to answer: Z is still running when replication is cut
	f := newFleet(t, fleetOptions{RedisAddrs: set.SentinelAddrs, MasterName: redistest.SentinelMasterName, ProvisionAddr: set.Master.Addr,
		Cards: 4, UserDelay: 50 * time.Millisecond, SlowFrom: 2, SlowDelay: 2 * time.Second})
	a, b := f.gateway("a", "transceiver"), f.gateway("b", "transceiver")
	ctx := t.Context()
	both := func(int) []*gwProc { return []*gwProc{a, b} }
	run := func(g *gwProc, card int) *session {
		t.Helper()
		s := f.startSession(ctx, g, card, false)
		if s.outcome != "" {
			t.Fatalf("start card %d: %s %s", card, s.outcome, s.code)
		}
		return s
	}
	var all []*session
	for card := range 2 { // warm-up: both instances have worked against this master
		s := run(a, card)
		f.poll(ctx, s, time.Now().Add(20*time.Second), both)
		all = append(all, s)
	}

	z := run(a, cardZ)
	offset := replOffset(t, set.Master, "master_repl_offset")
	testutil.Eventually(t, 10*time.Second, "the replica to hold session Z", func() bool {
		return replOffset(t, set.Replica, "slave_repl_offset") >= offset
	})
	if err := set.Replica.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Master.Do("CLIENT", "KILL", "TYPE", "replica"); err != nil {
		t.Fatal(err)
	}
	if st, m, err := f.get(ctx, b, z.id, 5000); err != nil || m["result"] != sessions.ResultOK {
		t.Fatalf("Z on the master before the failover: %d %v %v", st, m, err)
	}
	x := run(b, cardX)
	if st, m, err := f.get(ctx, a, x.id, 0); err != nil || m["state"] != "RUNNING" {
		t.Fatalf("X on the master: %d %v %v", st, m, err)
	}
	set.Master.Stop()
	if err := set.Replica.Resume(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the stale replica promoted", func() bool {
		addr, err := set.MasterAddr()
		return err == nil && addr == set.Replica.Addr
	})
	a.waitReady(30 * time.Second)
	b.waitReady(30 * time.Second)

	// Z: its completion was lost, so it is running again, and its timer
	// (on a, which started it) ends it as TIMEOUT; never another result.
	var zState any
	testutil.Eventually(t, 10*time.Second, "Z readable on the new master", func() bool {
		st, m, err := f.get(ctx, b, z.id, 0)
		zState = m["state"]
		return err == nil && st == http.StatusOK
	})
	if zState != "RUNNING" {
		t.Fatalf("Z after the lossy failover is %v: replication was not cut, the test proves nothing", zState)
	}
	f.poll(ctx, z, time.Now().Add(30*time.Second), both)
	if z.outcome != sessions.ResultTimeout {
		t.Fatalf("Z ended %s, want TIMEOUT", z.outcome)
	}
	// X: unknown to the new master; its reply is acknowledged without effect.
	f.poll(ctx, x, time.Now().Add(10*time.Second), both)
	if x.outcome != outcomeNotFound {
		t.Fatalf("X ended %s, want not found", x.outcome)
	}
	testutil.Eventually(t, 30*time.Second, "X's reply acknowledged without effect", func() bool {
		return a.mustMetric("imzagate_mo_unmatched_total", `reason="no_session"`)+
			b.mustMetric("imzagate_mo_unmatched_total", `reason="no_session"`) >= 1
	})
	// Both phones work again, with MT counters the cards accept.
	for _, card := range []int{cardZ, cardX} {
		s := run(a, card)
		f.poll(ctx, s, time.Now().Add(20*time.Second), both)
		if s.outcome != sessions.ResultOK {
			t.Fatalf("card %d after the failover: %s", card, s.outcome)
		}
		all = append(all, s)
	}
	for _, card := range []int{cardZ, cardX} {
		if cs := f.hs.counters(f.records[card].MSISDN); len(cs) != 2 || cs[1] <= cs[0] {
			t.Fatalf("card %d accepted MT counters %v, want two increasing", card, cs)
		}
	}
	if st := f.sm.Stats(); st.Lost != 0 {
		t.Fatalf("SMSC gave up %d deliveries", st.Lost)
	}
	t.Logf("lossy failover: session Z (completed, completion lost) ended TIMEOUT; session X (start lost) not found, its reply acknowledged without effect; "+
		"%d other sessions OK, both cards accepted higher MT counters afterwards", len(all))
}

// replOffset reads a replication offset field from INFO replication.
func replOffset(t *testing.T, s *redistest.Server, field string) int64 {
	t.Helper()
	info, err := s.Do("INFO", "replication")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", field, err)
			}
			return n
		}
	}
	t.Fatalf("INFO replication of %s has no %s", s.Addr, field)
	return 0
}

package audit

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/redis/go-redis/v9"
)

// deployRedisArgs turns the shipped redis.conf into redis-server arguments.
func deployRedisArgs(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../deploy/redis/redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var args []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		args = append(args, "--"+key, strings.TrimSpace(val))
	}
	return args
}

// adminRefs returns the subject refs of the admin records the store holds.
func adminRefs(t *testing.T, tr *Trail) map[string]bool {
	t.Helper()
	rep, err := verifyAll(t, tr)
	if err != nil {
		t.Fatal(err)
	}
	_ = rep
	got := map[string]bool{}
	now := tr.opts.Now()
	err = tr.forEachEntry(context.Background(), now.Add(-48*time.Hour), now.Add(48*time.Hour),
		func(sessions.AuditChainInfo) error { return nil },
		func(_ string, e sessions.AuditEntry) error {
			rec, err := ParseRecord(e.Data)
			if err == nil && rec.Kind == KindAdminCall {
				got[rec.Subject.Ref] = true
			}
			return err
		},
		func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Admin records acknowledged by AppendSync survive a kill and restart of a
// redis-server configured as deploy/redis ships it, with appendfsync
// always: the shipped everysec acknowledges a write before it reaches the
// AOF file while a background fsync is slow, and Redis 7.0 has no WAITAOF
// to wait for it (docs/audit.md says what that costs).
func TestAdminRecordsSurviveRedisRestart(t *testing.T) {
	t.Parallel()
	args := append(deployRedisArgs(t), "--appendonly", "yes", "--appendfsync", "always")
	srv := redistest.StartWith(t, redistest.Options{Args: args})
	rdb := clientFor(t, srv.Addr)
	tr := newTrail(t, rdb, nil)
	r := start(t, tr)
	ctx := context.Background()
	acked := map[string]bool{}
	for i := range 20 {
		rec := adminRecord(i)
		if err := tr.AppendSync(ctx, rec); err != nil {
			t.Fatal(err)
		}
		acked[rec.Subject.Ref] = true
	}
	srv.Restart(t) // SIGKILL, then start on the same files
	// The writer goes on in the same chain after the restart.
	testutil.Eventually(t, 10*time.Second, "an admin record after the restart", func() bool {
		return tr.AppendSync(ctx, adminRecord(100)) == nil
	})
	acked[adminRecord(100).Subject.Ref] = true
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	got := adminRefs(t, tr)
	for ref := range acked {
		if !got[ref] {
			t.Errorf("acknowledged admin record %q lost across the restart", ref)
		}
	}
	rep, _ := verifyAll(t, tr)
	if len(rep.Chains) != 1 || !rep.Chains[0].Final {
		t.Fatalf("chains after the restart: %+v; want one closed chain (no gap: nothing was lost)", rep.Chains)
	}
}

// With a Sentinel-managed master and replica, AppendSync returns only once
// the replica has the record, so a failover loses no acknowledged admin
// record; while the replica is stalled, AppendSync fails rather than
// acknowledge a record a failover could lose.
func TestAdminRecordsSurviveSentinelFailover(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("failover in -short mode")
	}
	set := redistest.StartSentinel(t)
	rdb := redis.NewUniversalClient(sessions.ClientOptions(set.SentinelAddrs, redistest.SentinelMasterName))
	t.Cleanup(func() { _ = rdb.Close() })
	tr := newTrail(t, rdb, func(o *Options) { o.ReplicaTimeout = 300 * time.Millisecond; o.SyncTimeout = 2 * time.Second })
	r := start(t, tr)
	ctx := context.Background()
	acked := map[string]bool{}
	for i := range 20 {
		rec := adminRecord(i)
		if err := tr.AppendSync(ctx, rec); err != nil {
			t.Fatal(err)
		}
		acked[rec.Subject.Ref] = true
	}
	// A stalled replica: the master still counts it connected, WAIT gets
	// no acknowledgement, the admin call must not be acknowledged.
	if err := set.Replica.Pause(); err != nil {
		t.Fatal(err)
	}
	err := tr.AppendSync(ctx, adminRecord(50))
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, sessions.ErrNotReplicated) {
		t.Fatalf("AppendSync with the replica stalled = %v; want ErrNotDurable wrapping ErrNotReplicated", err)
	}
	if err := set.Replica.Resume(); err != nil {
		t.Fatal(err)
	}
	rec := adminRecord(51)
	if err := tr.AppendSync(ctx, rec); err != nil {
		t.Fatalf("AppendSync after the replica resumed: %v", err)
	}
	acked[rec.Subject.Ref] = true
	set.Master.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if addr, err := set.MasterAddr(); err == nil && addr == set.Replica.Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no failover to the replica")
		}
		time.Sleep(100 * time.Millisecond)
	}
	testutil.Eventually(t, 20*time.Second, "an admin record on the new master", func() bool {
		return tr.AppendSync(ctx, adminRecord(99)) == nil
	})
	acked[adminRecord(99).Subject.Ref] = true
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	got := adminRefs(t, tr)
	for ref := range acked {
		if !got[ref] {
			t.Errorf("acknowledged admin record %q lost in the failover", ref)
		}
	}
	if _, err := verifyAll(t, tr); err != nil {
		t.Fatalf("after the failover: %v", err)
	}
	t.Logf("%d acknowledged admin records all on the promoted replica %s", len(acked), set.Replica.Addr)
}

// A failover to a replica that missed the last asynchronous records: the
// writer finds its chain shorter than it left it, starts a new chain whose
// chain.start names the lost records, and verification reports a loss,
// not tampering.
func TestLossyFailoverReadsAsLoss(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("failover in -short mode")
	}
	set := redistest.StartSentinel(t)
	rdb := redis.NewUniversalClient(sessions.ClientOptions(set.SentinelAddrs, redistest.SentinelMasterName))
	t.Cleanup(func() { _ = rdb.Close() })
	tr := newTrail(t, rdb, func(o *Options) { o.CheckpointEvery = 1_000_000 })
	r := start(t, tr)
	ctx := context.Background()
	for i := range 50 {
		if err := tr.Append(ctx, sessionRecord(tr, i)); err != nil {
			t.Fatal(err)
		}
	}
	// The replica has the first 50 (a durable record waits for it).
	if err := tr.AppendSync(ctx, adminRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := set.Replica.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Master.Do("CLIENT", "KILL", "TYPE", "replica"); err != nil {
		t.Fatal(err)
	}
	for i := range 30 { // reach only the master
		if err := tr.Append(ctx, sessionRecord(tr, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, "the writer to store the last records", func() bool {
		return len(tr.queue) == 0 && counterValue(tr.m.records.WithLabelValues(string(KindSessionStart))) == 80
	})
	set.Master.Stop()
	if err := set.Replica.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if addr, err := set.MasterAddr(); err == nil && addr == set.Replica.Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no failover to the replica")
		}
		time.Sleep(100 * time.Millisecond)
	}
	testutil.Eventually(t, 20*time.Second, "a record on the new master", func() bool {
		return tr.AppendSync(ctx, adminRecord(2)) == nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyAll(t, tr)
	if err != nil {
		t.Fatalf("a lossy failover must not read as tampering: %v", err)
	}
	// Chains are listed by id (random): find the cut one and its successor.
	if len(rep.Chains) != 2 || rep.Chains[0].Final == rep.Chains[1].Final {
		t.Fatalf("chains %+v; want the cut chain and a closed successor", rep.Chains)
	}
	cut := rep.Chains[0]
	if cut.Final {
		cut = rep.Chains[1]
	}
	if cut.LastSeq != 52 {
		t.Fatalf("the cut chain ends at seq %d, want 52 (what the replica had)", cut.LastSeq)
	}
	found := false
	for _, n := range rep.Notices {
		found = found || strings.Contains(n, "lost records 53..82")
	}
	if !found {
		t.Fatalf("no notice of the lost records 53..82 (1 start, 50 records, 1 admin kept; 30 lost): %q", rep.Notices)
	}
	t.Logf("notices: %q", rep.Notices)
}

package sessions

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/redis/go-redis/v9"
)

func TestContractSentinel(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("sentinel start-up in -short mode")
	}
	set := redistest.StartSentinel(t)
	runContract(t, backend{
		client: func(t *testing.T) redis.UniversalClient {
			c := redis.NewUniversalClient(ClientOptions(set.SentinelAddrs, redistest.SentinelMasterName))
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		sentinel:    true,
		memoryUsage: true,
	})
}

// The MT counter stays above every value handed out across a Sentinel
// failover to a replica that missed the last writes: the clock floor, not
// the replicated value, carries it.
func TestMTCounterAcrossLossyFailover(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("failover in -short mode")
	}
	set := redistest.StartSentinel(t)
	opts := ClientOptions(set.SentinelAddrs, redistest.SentinelMasterName)
	rdb := redis.NewUniversalClient(opts)
	defer rdb.Close()
	s, err := New(rdb, Options{Pepper: randomPepper(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const iccid = "8999401234567890123"
	for range 5 {
		if _, err := s.NextMTCounter(ctx, iccid); err != nil {
			t.Fatal(err)
		}
	}
	// Cut replication: freeze the replica and drop its link, so what the
	// master writes from now on never reaches it.
	if err := set.Replica.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Master.Do("CLIENT", "KILL", "TYPE", "replica"); err != nil {
		t.Fatal(err)
	}
	var highest uint64
	for range 20 {
		if highest, err = s.NextMTCounter(ctx, iccid); err != nil {
			t.Fatal(err)
		}
	}
	set.Master.Stop()
	if err := set.Replica.Resume(); err != nil {
		t.Fatal(err)
	}
	// Wait for the promotion, then check that the writes were really lost.
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
	stored, _ := set.Replica.Do("HGET", s.counterKey(iccid), "t")
	if v, _ := strconv.ParseUint(stored, 10, 64); v >= highest {
		t.Fatalf("the promoted replica has counter %d ≥ %d: replication was not cut, the test proves nothing", v, highest)
	}
	next := retry(t, func() (uint64, error) { return s.NextMTCounter(ctx, iccid) })
	if next <= highest {
		t.Fatalf("after a lossy failover the MT counter is %d, not above %d handed out before", next, highest)
	}
	t.Logf("replica had %s, last value handed out %d, next after failover %d", stored, highest, next)
}

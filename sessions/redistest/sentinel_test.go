package redistest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// TestSentinelFailsOver kills the master and waits for the sentinels to
// promote the replica: the helper is only useful if a real failover happens.
func TestSentinelFailsOver(t *testing.T) {
	set := redistest.StartSentinel(t)
	addr, err := set.MasterAddr()
	if err != nil {
		t.Fatal(err)
	}
	if addr != set.Master.Addr {
		t.Fatalf("sentinels report master %q, want %s", addr, set.Master.Addr)
	}
	if _, err := set.Master.Do("SET", "before", "failover"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the write replicate before the kill
	set.Master.Stop()

	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := set.Replica.Do("INFO", "replication")
		if err == nil && strings.Contains(info, "role:master") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica was not promoted: %v %q", err, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if addr, err = set.MasterAddr(); err == nil && addr == set.Replica.Addr {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if addr != set.Replica.Addr {
		t.Fatalf("sentinels still report %q after failover, want %s", addr, set.Replica.Addr)
	}
	if got, err := set.Replica.Do("GET", "before"); err != nil || got != "failover" {
		t.Fatalf("promoted replica GET before = %q, %v", got, err)
	}
	t.Logf("real sentinel failover: %s -> %s", set.Master.Addr, set.Replica.Addr)
}

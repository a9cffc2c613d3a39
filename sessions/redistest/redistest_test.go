package redistest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/sessions/redistest"
)

func TestStartServesCommands(t *testing.T) {
	srv := redistest.Start(t)
	if got, err := srv.Do("SET", "k", "v"); err != nil || got != "+OK" {
		t.Fatalf("SET = %q, %v; want +OK", got, err)
	}
	if got, err := srv.Do("GET", "k"); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	info, err := srv.Do("INFO", "server")
	if err != nil || !strings.Contains(info, "redis_version:") {
		t.Fatalf("INFO server = %q, %v", info, err)
	}
	t.Logf("real redis-server at %s: %s", srv.Addr, versionLine(info))
}

func TestStopEndsServer(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	if _, err := srv.Do("PING"); err == nil {
		t.Fatal("PING after Stop succeeded; the server should be gone")
	}
	srv.Stop() // idempotent
}

func TestRestartKeepsAppendOnlyData(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true})
	if _, err := srv.Do("SET", "durable", "yes"); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	if got, err := srv.Do("GET", "durable"); err != nil || got != "yes" {
		t.Fatalf("after restart GET = %q, %v; want yes", got, err)
	}
}

func TestRestartWithoutPersistenceLosesData(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do("SET", "volatile", "yes"); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	if got, err := srv.Do("GET", "volatile"); err != nil || got != "" {
		t.Fatalf("after restart without AOF GET = %q; want nil", got)
	}
}

func TestClusterHasThreeMastersCoveringAllSlots(t *testing.T) {
	cl := redistest.StartCluster(t)
	if len(cl.Addrs) != 3 {
		t.Fatalf("cluster has %d nodes, want 3", len(cl.Addrs))
	}
	info, err := cl.Nodes[0].Do("CLUSTER", "INFO")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:3", "cluster_size:3"} {
		if !strings.Contains(info, want) {
			t.Errorf("CLUSTER INFO lacks %q:\n%s", want, info)
		}
	}
	// A key whose slot another master owns is redirected, proving the nodes
	// really split the keyspace.
	moved := 0
	for _, key := range []string{"a", "b", "c", "d", "e", "f"} {
		if _, err := cl.Nodes[0].Do("SET", key, "1"); err != nil && strings.Contains(err.Error(), "MOVED") {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no key was redirected from node 0; the slots are not spread over the masters")
	}
	t.Logf("real 3-node Redis Cluster at %v", cl.Addrs)
}

func versionLine(info string) string {
	for _, l := range strings.Split(info, "\n") {
		if strings.HasPrefix(l, "redis_version:") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// TestMissingRedisFailsUnderCI runs this test binary again with an empty
// PATH: with CI set a missing redis-server must fail the test, without CI it
// must skip it.
func TestMissingRedisFailsUnderCI(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "1" {
		redistest.Start(t)
		t.Fatal("Start returned without redis-server on PATH")
	}
	for _, tc := range []struct {
		name, ci string
		wantFail bool
		wantText string
	}{
		{name: "ci", ci: "true", wantFail: true, wantText: "CI is set, so a missing tool is a failure"},
		{name: "laptop", ci: "", wantFail: false, wantText: "--- SKIP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingRedisFailsUnderCI$", "-test.v")
			cmd.Env = []string{"PATH=" + t.TempDir(), "REDISTEST_CHILD=1", "CI=" + tc.ci, "HOME=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Fatalf("child failed=%v, want %v; output:\n%s", failed, tc.wantFail, out)
			}
			if !strings.Contains(string(out), tc.wantText) {
				t.Fatalf("child output lacks %q:\n%s", tc.wantText, out)
			}
		})
	}
}

package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMasterName is the name the sentinels started by StartSentinel
// monitor; clients pass it as redis.FailoverOptions.MasterName.
const SentinelMasterName = "imzagate"

// SentinelSet is a replicated Redis watched by three sentinels: one master,
// one replica and a quorum of two, the smallest layout that fails over.
type SentinelSet struct {
	// Master is the server that starts as master.
	Master *Server
	// Replica replicates Master and is promoted when Master dies.
	Replica *Server
	// Sentinels are the three redis-sentinel processes.
	Sentinels []*Server
	// SentinelAddrs are the sentinels' host:port addresses.
	SentinelAddrs []string
}

// StartSentinel runs a master, a replica and three sentinels with short
// timeouts (down-after 1 s, failover timeout 5 s) so failover tests finish in
// seconds. Everything stops when the test ends.
func StartSentinel(t testing.TB) *SentinelSet {
	t.Helper()
	RequireBinaries(t, "redis-server", "redis-cli", "redis-sentinel")
	set := &SentinelSet{}
	set.Master = StartWith(t, Options{AppendOnly: true})
	set.Replica = StartWith(t, Options{AppendOnly: true, Args: []string{
		"--replicaof", "127.0.0.1", strconv.Itoa(set.Master.Port),
	}})
	deadline := time.Now().Add(startTimeout)
	for {
		info, err := set.Replica.Do("INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica never linked to master: %v %q", err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		s := startSentinel(t, set.Master.Port)
		set.Sentinels = append(set.Sentinels, s)
		set.SentinelAddrs = append(set.SentinelAddrs, s.Addr)
	}
	// Wait until every sentinel knows the replica and the other sentinels,
	// otherwise a failover right after start would have no quorum.
	for _, s := range set.Sentinels {
		for {
			out, err := s.Do("SENTINEL", "CKQUORUM", SentinelMasterName)
			if err == nil && strings.HasPrefix(out, "+OK") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: sentinel %s has no quorum: %v %q", s.Addr, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return set
}

// MasterAddr asks the first reachable sentinel which server is master now,
// as host:port.
func (set *SentinelSet) MasterAddr() (string, error) {
	var lastErr error
	for _, s := range set.Sentinels {
		out, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMasterName)
		if err != nil {
			lastErr = err
			continue
		}
		host, port, ok := strings.Cut(out, "\n")
		if !ok {
			return "", fmt.Errorf("sentinel %s: unexpected reply %q", s.Addr, out)
		}
		return host + ":" + port, nil
	}
	return "", fmt.Errorf("no sentinel answered: %w", lastErr)
}

func startSentinel(t testing.TB, masterPort int) *Server {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nprotected-mode no\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n",
			port, dir, SentinelMasterName, masterPort, SentinelMasterName, SentinelMasterName, SentinelMasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &Server{Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir}
		if lastErr = s.launchCommand(exec.Command("redis-sentinel", conf)); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: start sentinel: %v", lastErr)
	return nil
}

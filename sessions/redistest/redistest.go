package redistest

import (
	"bufio"
	"context"
	"fmt"
	"github.com/imzagate/imzagate/internal/testutil"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to accept connections.
// redis-server starts in a few milliseconds; a slow CI machine under load
// still gets ample room.
const startTimeout = 15 * time.Second

// Server is one running redis-server process.
type Server struct {
	// Addr is the host:port the server listens on (always loopback).
	Addr string
	// Port is the TCP port of Addr.
	Port int
	// Dir is the server's working directory (its AOF and RDB files live there).
	Dir string

	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Cluster is a running three-master Redis Cluster.
type Cluster struct {
	// Addrs lists the masters' host:port addresses.
	Addrs []string
	// Nodes are the individual servers, in the order of Addrs.
	Nodes []*Server
}

// Options tune a server started by StartWith.
type Options struct {
	// AppendOnly turns on AOF persistence with fsync on every write, for
	// tests that restart the server and expect data to survive.
	AppendOnly bool
	// Args are extra redis-server arguments, such as "--maxmemory 10mb".
	Args []string
	// ConfigFile, when set, is loaded first; the helper's own arguments
	// (port, bind, dir, persistence) and Args then override it, which lets a
	// test prove that a shipped redis.conf is accepted by a real server.
	ConfigFile string
}

// RequireBinaries skips the test when redis-server or redis-cli is not on
// PATH, or fails it when the CI environment variable is set.
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = []string{"redis-server", "redis-cli"}
	}
	testutil.RequireTools(t, names...)
}

// Start runs a redis-server without persistence on a free loopback port.
// The server is stopped and its directory removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a redis-server configured by opts.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	RequireBinaries(t, "redis-server")
	dir := t.TempDir()
	args := []string{"--bind", "127.0.0.1", "--dir", dir, "--save", "", "--protected-mode", "no"}
	if opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, opts.Args...)
	if opts.ConfigFile != "" {
		args = append([]string{opts.ConfigFile}, args...)
	}
	s := &Server{Dir: dir, args: args}
	if err := s.startOnFreePort(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// startOnFreePort retries a few times because a port found free can be taken
// by another process before redis-server binds it.
func (s *Server) startOnFreePort() error {
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			return err
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.launch(); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (s *Server) launch() error {
	args := s.args
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		// redis-server wants its configuration file as the first argument.
		args = append([]string{args[0], "--port", strconv.Itoa(s.Port)}, args[1:]...)
	} else {
		args = append([]string{"--port", strconv.Itoa(s.Port)}, args...)
	}
	return s.launchCommand(exec.Command("redis-server", args...))
}

// launchCommand starts cmd (a redis-server or redis-sentinel listening on
// s.Addr) with its output in the server's log, and waits until it answers.
func (s *Server) launchCommand(cmd *exec.Cmd) error {
	logPath := filepath.Join(s.Dir, "redis.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := waitReady(s.Addr, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		tail, _ := os.ReadFile(logPath)
		return fmt.Errorf("%s on %s: %w; log: %s", filepath.Base(cmd.Path), s.Addr, err, lastLines(string(tail), 5))
	}
	return nil
}

// Stop kills the server and waits for it to exit. It is safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart stops the server and starts it again on the same port and
// directory, so that with AppendOnly the data survives as it would in
// production.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	for range 50 { // the port can linger briefly after the kill
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("redistest: restart: %v", err)
}

// Do sends one command and returns the reply: a bulk string whole ("" for
// nil), an array as its elements joined by newlines, any other reply as its
// line (for example "+PONG"). It needs no client library, so helpers and tests of
// any package can poke the server.
func (s *Server) Do(args ...string) (string, error) {
	return do(s.Addr, args...)
}

// StartCluster runs three cluster-enabled redis-servers and joins them into a
// cluster of three masters without replicas, waiting until every slot is
// served. Everything stops when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	RequireBinaries(t, "redis-server", "redis-cli")
	c := &Cluster{}
	for range 3 {
		n := StartWith(t, Options{Args: []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "2000"}})
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, addr := range c.Addrs {
		for {
			info, err := do(addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster not ready on %s: %v %q", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// FreePort asks the kernel for a free TCP port on the loopback interface.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := do(addr, "PING")
		if err == nil && reply == "+PONG" {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before accepting connections")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", startTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// do speaks RESP directly: it sends the command as an array of bulk strings
// and returns the reply as readReply renders it.
func do(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

// readReply reads one RESP reply: bulk strings whole ("" for nil), arrays as
// their elements joined by newlines, other replies as their line; an error
// reply is also returned as an error.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '$':
		n, err := strconv.Atoi(line[1:])
		if n == -1 && err == nil {
			return "", nil // nil bulk reply: the key does not exist
		}
		if err != nil || n < 0 || n > 64<<20 {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if n == -1 && err == nil {
			return "", nil
		}
		if err != nil || n < 0 || n > 1<<16 {
			return "", fmt.Errorf("bad array reply %q", line)
		}
		parts := make([]string, 0, n)
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	case '-':
		return line, fmt.Errorf("redis: %s", line[1:])
	}
	return line, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

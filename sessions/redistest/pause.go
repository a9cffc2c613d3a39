package redistest

import (
	"errors"
	"syscall"
)

// Pause stops the server process (SIGSTOP): it keeps its sockets open but
// answers nothing, like a Redis stuck in a long command or a half-dead
// host. A paused replica also stops reading its master's stream, which lets
// a test cut replication short before a failover.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return errors.New("redistest: server is not running")
	}
	return cmd.Process.Signal(sig)
}

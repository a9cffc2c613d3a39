package redistest_test

import (
	"net"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

func TestPauseStopsAnswers(t *testing.T) {
	srv := redistest.Start(t)
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr) // the kernel still accepts
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("PING\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 16)); err == nil {
		t.Fatalf("paused server answered %d octets", n)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if got, err := srv.Do("PING"); err != nil || got != "+PONG" {
		t.Fatalf("after Resume PING = %q, %v", got, err)
	}
	srv.Stop()
	if err := srv.Pause(); err == nil {
		t.Fatal("Pause of a stopped server succeeded")
	}
}

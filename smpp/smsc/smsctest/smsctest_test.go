package smsctest_test

import (
	"net"
	"testing"

	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

func TestStartAndCleanup(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) {
		srv := smsctest.Start(t, smsc.Options{})
		addr = srv.Addr()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial running SMSC: %v", err)
		}
		c.Close()
	})
	// The subtest's cleanup closed the listener.
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("SMSC at %s still accepting after cleanup", addr)
	}
}

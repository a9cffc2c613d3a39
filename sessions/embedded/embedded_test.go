package embedded

import (
	"context"
	"testing"
	"time"
)

func TestServesAndExpires(t *testing.T) {
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	c := srv.Client()
	if err := c.Set(ctx, "k", "v", 500*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, "k").Val(); v != "v" {
		t.Fatalf("GET = %q", v)
	}
	// The TTL clock follows the wall clock in steps of tick.
	deadline := time.Now().Add(5 * tick)
	for c.Exists(ctx, "k").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("key with a 500ms TTL still there after 5 ticks: the clock does not advance")
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Close()
	srv.Close() // idempotent
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING after Close succeeded")
	}
}

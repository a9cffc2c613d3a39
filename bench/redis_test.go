package bench

import (
	"os"
	"os/exec"
	"testing"
)

func TestStartRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server missing and CI is set")
		}
		t.Skip("redis-server not on PATH")
	}
	s, err := StartRedis(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatalf("started server does not answer: %v", err)
	}
	dir := s.dir
	s.Close()
	s.Close() // twice is fine
	if err := ping(s.Addr); err == nil {
		t.Error("server still answers after Close")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory left behind: %v", err)
	}
	if _, err := StartRedis(t.Context(), "--no-such-option", "1"); err == nil {
		t.Error("a bad option did not fail the start")
	}
}

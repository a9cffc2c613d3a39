package sessions

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// The documented Redis settings load in a real redis-server and give the
// store what it relies on: AOF on and no eviction.
func TestDeployRedisConfig(t *testing.T) {
	f, err := os.Open("../deploy/redis/redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var args []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		args = append(args, "--"+key, strings.TrimSpace(val))
	}
	srv := redistest.StartWith(t, redistest.Options{Args: args})
	rdb := clientFor(t, srv.Addr)
	for key, want := range map[string]string{"appendonly": "yes", "maxmemory-policy": "noeviction", "appendfsync": "everysec"} {
		got, err := rdb.ConfigGet(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got[key] != want {
			t.Errorf("%s = %q; want %q", key, got[key], want)
		}
	}
}

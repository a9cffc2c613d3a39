package sessions

import (
	"testing"

	"github.com/imzagate/imzagate/sessions/embedded"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/redis/go-redis/v9"
)

func clientFor(t testing.TB, addrs ...string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(ClientOptions(addrs, ""))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestContractRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	runContract(t, backend{
		client:      func(t *testing.T) redis.UniversalClient { return clientFor(t, srv.Addr) },
		memoryUsage: true,
	})
}

func TestContractCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("cluster start-up in -short mode")
	}
	cl := redistest.StartCluster(t)
	runContract(t, backend{
		client:      func(t *testing.T) redis.UniversalClient { return clientFor(t, cl.Addrs...) },
		memoryUsage: true,
	})
}

func TestContractEmbedded(t *testing.T) {
	t.Parallel()
	srv, err := embedded.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	runContract(t, backend{
		client: func(t *testing.T) redis.UniversalClient { return clientFor(t, srv.Addr()) },
	})
}

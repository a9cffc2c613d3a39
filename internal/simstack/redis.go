package simstack

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/embedded"
)

// openRedis connects to the Redis r names, or starts the embedded one.
func openRedis(r Redis) (redisConn, error) {
	switch {
	case r.Client != nil:
		return redisConn{client: r.Client}, nil
	case r.URL != "":
		ro, err := redis.ParseURL(r.URL)
		if err != nil {
			return redisConn{}, fmt.Errorf("simstack: Redis URL: %w", err)
		}
		ro.ContextTimeoutEnabled = true
		if r.PoolSize > 0 {
			ro.PoolSize = r.PoolSize
		}
		dial := func() redis.UniversalClient { o := *ro; return redis.NewClient(&o) }
		return redisConn{client: dial(), owned: true, dial: dial}, nil
	case len(r.Addrs) > 0:
		dial := func() redis.UniversalClient {
			return redis.NewUniversalClient(clientOptions(r.Addrs, r.MasterName, r.PoolSize))
		}
		return redisConn{client: dial(), owned: true, dial: dial}, nil
	}
	srv, err := embedded.Start()
	if err != nil {
		return redisConn{}, fmt.Errorf("simstack: embedded Redis: %w", err)
	}
	dial := func() redis.UniversalClient {
		return redis.NewUniversalClient(clientOptions([]string{srv.Addr()}, "", r.PoolSize))
	}
	return redisConn{client: srv.Client(), embedded: srv, dial: dial}, nil
}

// clientOptions are sessions.ClientOptions with the pool size set.
func clientOptions(addrs []string, masterName string, poolSize int) *redis.UniversalOptions {
	o := sessions.ClientOptions(addrs, masterName)
	o.PoolSize = poolSize
	return o
}

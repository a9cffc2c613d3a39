// Package redistest starts real Redis servers for tests: a single
// redis-server on a free loopback port, or a three-master Redis Cluster.
//
// Flow of a test that needs Redis:
//
//	srv := redistest.Start(t)            // redis-server --port 0-free --save "" --appendonly no
//	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
//	...                                   // t.Cleanup stops the server and removes its files
//
//	cl := redistest.StartCluster(t)      // three redis-server --cluster-enabled yes,
//	                                      // then redis-cli --cluster create ... --cluster-yes
//	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs})
//
// The servers are real processes, so tests exercise the same Lua, pub/sub,
// persistence and cluster redirection behaviour as production. When the
// binaries are missing a test is skipped on a developer's laptop, but fails
// when the CI environment variable is set: there a missing server is a broken
// setup, never a reason to pass.
package redistest

// Package embedded runs an in-process Redis (github.com/alicebob/miniredis/v2)
// for the gateway's zero-setup demo mode, when no Redis is configured. It is
// never a production backend: it keeps everything in memory and dies with the
// process.
//
// Flow:
//
//	srv, err := embedded.Start()       // listens on 127.0.0.1:<free port>
//	store, err := sessions.New(srv.Client(), opts)
//	...
//	srv.Close()
//
// miniredis only expires keys when told that time has passed, so the server
// advances its clock from the wall clock once a second; without that,
// expired sessions would read correctly (the store decides expiry from its
// own clock) but never leave memory.
package embedded

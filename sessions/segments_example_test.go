package sessions_test

import (
	"context"
	"fmt"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/embedded"
)

// Two gateway instances each receive part of a three-part MO; the one
// whose Add completes the set gets every part, in order, and calls Done
// once the reply has been handled.
func ExampleStore_MOSegments() {
	srv, err := embedded.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	pepper := []byte("example pepper, 32 bytes long...")
	a, _ := sessions.New(srv.Client(), sessions.Options{Pepper: pepper})
	b, _ := sessions.New(srv.Client(), sessions.Options{Pepper: pepper})
	defer a.Close()
	defer b.Close()
	segA, err := a.MOSegments(sessions.SegmentOptions{})
	if err != nil {
		panic(err)
	}
	segB, _ := b.MOSegments(sessions.SegmentOptions{})
	ctx := context.Background()
	key := "azercell|994501234567|08|4660|3"

	parts, err := segA.Add(ctx, key, 3, 2, []byte("two"))
	fmt.Println(parts == nil, err)
	parts, err = segB.Add(ctx, key, 3, 3, []byte("three"))
	fmt.Println(parts == nil, err)
	parts, err = segA.Add(ctx, key, 3, 1, []byte("one"))
	fmt.Printf("%q %v\n", parts, err)
	fmt.Println(segA.Done(ctx, key))
	// Output:
	// true <nil>
	// true <nil>
	// ["one" "two" "three"] <nil>
	// <nil>
}

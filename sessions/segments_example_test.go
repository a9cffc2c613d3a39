package sessions_test

import (
	"context"
	"fmt"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/embedded"
)

// Two gateway instances each receive part of a three-part MO from a
// subscriber; the one whose Add completes the set gets every part, in
// order, and calls Done once the reply has been handled. A number that is
// not a subscriber leaves nothing behind.
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
	const phone = "+994501234567"
	sub := sessions.Subscriber{Phone: phone, ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell"}
	if err := a.PutSubscriber(ctx, sub, "123456"); err != nil {
		panic(err)
	}
	key := "azercell|994501234567|08|4660|3"

	parts, err := segA.Add(ctx, phone, key, 3, 2, []byte("two"))
	fmt.Println(parts == nil, err)
	parts, err = segB.Add(ctx, phone, key, 3, 3, []byte("three"))
	fmt.Println(parts == nil, err)
	parts, err = segA.Add(ctx, phone, key, 3, 1, []byte("one"))
	fmt.Printf("%q %v\n", parts, err)
	fmt.Println(segA.Done(ctx, phone, key))
	_, err = segA.Add(ctx, "+994557654321", "azercell|994557654321|00|1|2", 2, 1, []byte("junk"))
	fmt.Println(err)
	// Output:
	// true <nil>
	// true <nil>
	// ["one" "two" "three"] <nil>
	// <nil>
	// sessions: MO part from a number that is not a subscriber
}

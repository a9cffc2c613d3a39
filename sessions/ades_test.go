package sessions

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// testAdESState checks that a session's AdES state and its completion's
// container survive the store byte for byte, through the plain and the
// pipelined completion and a read by another instance, and that the
// bounds are enforced.
func testAdESState(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	// Every octet value, and more than a listpack value holds.
	state := make([]byte, 3000)
	for i := range state {
		state[i] = byte(i * 7)
	}
	container := bytes.Repeat([]byte{0x30, 0x00, 0xff, '\n'}, 700)
	for i, pipelined := range []bool{false, true} {
		sess := sampleSession(newPhone())
		sess.AdES = state
		if err := e.store.Start(ctx, sess, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := e.peer().Get(ctx, sess.ID)
		if err != nil || !bytes.Equal(got.AdES, state) || got.Container != nil {
			t.Fatalf("running session: AdES %d octets, container %d, %v", len(got.AdES), len(got.Container), err)
		}
		res := Result{Code: ResultOK, SigAlg: "ECDSA_P256", Signature: make([]byte, 64), Container: container}
		var done Session
		if pipelined {
			done, _, err = e.store.AcceptMOAndComplete(ctx, sess.ICCID, uint64(i+1), sess.ID, res)
		} else {
			done, err = e.store.Complete(ctx, sess.ID, res)
		}
		if err != nil || !bytes.Equal(done.Container, container) || !bytes.Equal(done.AdES, state) {
			t.Fatalf("completion (pipelined %v): container %d octets, AdES %d, %v", pipelined, len(done.Container), len(done.AdES), err)
		}
		if got, err := e.peer().Get(ctx, sess.ID); err != nil || !bytes.Equal(got.Container, container) {
			t.Fatalf("completed session read elsewhere: %d octets, %v", len(got.Container), err)
		}
	}
	big := sampleSession(newPhone())
	big.AdES = make([]byte, MaxAdESLen+1)
	if err := e.store.Start(ctx, big, time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Start with %d octets of AdES state = %v, want ErrInvalid", len(big.AdES), err)
	}
	early := sampleSession(newPhone())
	early.Container = []byte{1}
	if err := e.store.Start(ctx, early, time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Start with a container = %v, want ErrInvalid", err)
	}
	sess := e.start(newPhone())
	if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultOK, Container: make([]byte, MaxContainerLen+1)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Complete with an oversized container = %v, want ErrInvalid", err)
	}
}

// A stored record whose AdES state or container is empty or too long is
// refused like any other bad field.
func TestDecodeAdESBounds(t *testing.T) {
	base := func() map[string]string {
		m := map[string]string{}
		s := sampleSession("+994501234567")
		s.Accepted, s.ExpiresAt = time.UnixMilli(1e12), time.UnixMilli(1e12+60000)
		f := encodeSession(s)
		for i := 0; i < len(f); i += 2 {
			switch v := f[i+1].(type) {
			case string:
				m[f[i].(string)] = v
			case []byte:
				m[f[i].(string)] = string(v)
			}
		}
		return m
	}
	for _, tc := range []struct {
		field, value string
		ok           bool
	}{
		{sAdES, "x", true},
		{sAdES, "", false},
		{sAdES, string(make([]byte, MaxAdESLen+1)), false},
		{sContain, "y", true},
		{sContain, "", false},
		{sContain, string(make([]byte, MaxContainerLen+1)), false},
	} {
		m := base()
		m[tc.field] = tc.value
		sess, err := decodeSession("id", m)
		if (err == nil) != tc.ok {
			t.Fatalf("%s of %d octets: %v, want ok=%v", tc.field, len(tc.value), err, tc.ok)
		}
		if tc.ok && string(sess.AdES)+string(sess.Container) != tc.value {
			t.Fatalf("%s decoded as AdES %q container %q", tc.field, sess.AdES, sess.Container)
		}
	}
}

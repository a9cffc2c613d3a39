package gateway

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// A reply waits for its session's submit to be recorded on this instance,
// at most maxSubmitWait, and not at all when no submit is in progress.
func TestSubmitGate(t *testing.T) {
	tests := []struct {
		name    string
		pending bool          // a submit is in progress
		endAt   time.Duration // when it is recorded (0: never)
		cancel  time.Duration // when the reply's context ends (0: never)
		want    time.Duration // how long awaitSubmit takes
	}{
		{"no submit in progress", false, 0, 0, 0},
		{"recorded after 30 ms", true, 30 * time.Millisecond, 0, 30 * time.Millisecond},
		{"never recorded: bounded", true, 0, 0, maxSubmitWait},
		{"context ends first", true, 0, 100 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore(newTestUser(t))
				s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
				const id = "00112233445566778899aabbccddeeff"
				if tt.pending {
					ch := s.done.submits.begin(id)
					end := func() { s.done.submits.end(id, ch) }
					if tt.endAt > 0 {
						time.AfterFunc(tt.endAt, end)
					} else {
						defer end()
					}
				}
				ctx := context.Background()
				if tt.cancel > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.cancel)
					defer cancel()
				}
				start := time.Now()
				s.done.submits.wait(ctx, id)
				if got := time.Since(start); got != tt.want {
					t.Fatalf("wait took %v; want %v", got, tt.want)
				}
				s.done.submits.mu.Lock()
				_, left := s.done.submits.pending[id]
				s.done.submits.mu.Unlock()
				if left && tt.endAt > 0 {
					t.Fatal("the submit stayed registered after it was recorded")
				}
			})
		})
	}
}

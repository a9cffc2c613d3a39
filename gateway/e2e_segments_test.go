package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// spreadWorld is two gateway instances on one redis-server and one SMSC
// account whose handset replies (ML-DSA-44 signatures, about 20 segments)
// are spread over both binds part by part.
type spreadWorld struct {
	sm     *smsc.Server
	a, b   *gateway.Gateway
	regA   *prometheus.Registry
	regB   *prometheus.Registry
	ea, eb *env
}

// crashHook makes a gateway's Redis fail once it has stored `after` MO
// segments, as if the process had died right after acknowledging them.
type crashHook struct {
	after   int64
	stored  atomic.Int64
	crashed chan struct{}
	once    sync.Once
}

var errCrashed = errors.New("instance crashed")

func (h *crashHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *crashHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.stored.Load() >= h.after {
			return errCrashed
		}
		return next(ctx, cmds)
	}
}
func (h *crashHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.stored.Load() >= h.after {
			cmd.SetErr(errCrashed)
			return errCrashed
		}
		err := next(ctx, cmd)
		if err == nil && segmentCommand(cmd) && h.stored.Add(1) == h.after {
			h.once.Do(func() { close(h.crashed) })
		}
		return err
	}
}

// segmentCommand reports whether cmd is the segment store's script on a
// sender's "{bbbb}g:…" key.
func segmentCommand(cmd redis.Cmder) bool {
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && len(s) > 8 && s[0] == '{' && s[5] == '}' && strings.HasPrefix(s[6:], "g:") {
			return true
		}
	}
	return false
}

func startSpreadWorld(t *testing.T, cards int, hookB redis.Hook) (*spreadWorld, []simcard.Record) {
	t.Helper()
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	st := startStack(t, multiInstance(simstack.Options{
		Redis: simstack.Redis{Addrs: []string{srv.Addr}},
		SIMs:  cards, Seed: "spread", Prefixes: []string{"99450"},
		Behaviour: func(int) simcard.Behaviour {
			return simcard.Behaviour{Action: simcard.Approve, Delay: 10 * time.Millisecond}
		},
		Profile: func(int) []simcard.SlotSpec {
			return []simcard.SlotSpec{
				{Ref: applet.KeyRefAuth, Alg: applet.SigECDSAP256, Kind: testca.Personal},
				{Ref: 0x04, Alg: applet.SigMLDSA44, Kind: testca.Government, Organization: "Agency", VOEN: govVOEN},
			}
		},
		SMSC:   smsc.Options{SpreadReplyParts: true, MaxAttempts: 100, RedeliveryDelay: 20 * time.Millisecond},
		Pepper: bytes.Repeat([]byte{7}, 32), ShutdownTimeout: 2 * time.Second,
		Server:    gateway.ServerOptions{UserTimeout: 10 * time.Second, DeliveryGrace: 20 * time.Second},
		SimLogger: testLogger(t),
	}))
	w := &spreadWorld{sm: st.SMSC()}
	w.a, w.regA = startInstance(t, st, "a", nil)
	w.b, w.regB = startInstance(t, st, "b", hookB)
	records := records(t, st)
	deadline := time.Now().Add(5 * time.Second)
	for w.sm.Bound("gw") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("binds did not come up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.ea = &env{base: "http://" + w.a.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}
	w.eb = &env{base: "http://" + w.b.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}
	return w, records
}

// sign starts an ML-DSA-44 signature on card i through e.
func (w *spreadWorld) sign(t *testing.T, e *env, i int) string {
	t.Helper()
	st, m, _ := e.do(t, "p1", "POST", "/v1/signatures", e.startReq(i, "SHA384", map[string]any{"type": "government"}))
	if st != 201 {
		t.Fatalf("start %d: %d %v", i, st, m)
	}
	return m["sessionId"].(string)
}

func wantSigned(t *testing.T, got map[string]any) {
	t.Helper()
	sig, _ := got["signature"].(map[string]any)
	if got["result"] != sessions.ResultOK || sig == nil || sig["algorithm"] != applet.SigMLDSA44.String() {
		t.Fatalf("session %v: result %v, signature %v", got["sessionId"], got["result"], sig)
	}
}

// TestRepliesSpreadOverInstances: the SMSC hands the ~20 segments of each
// ML-DSA-44 reply to two gateway instances alternately. Neither holds a
// whole reply, yet every session completes OK, and each reply is handled
// exactly once.
func TestRepliesSpreadOverInstances(t *testing.T) {
	const cards = 4
	w, _ := startSpreadWorld(t, cards, nil)
	ids := make([]string, cards)
	for i := range cards {
		e := w.ea
		if i%2 == 1 {
			e = w.eb
		}
		ids[i] = w.sign(t, e, i)
	}
	for i, id := range ids {
		e := w.eb
		if i%2 == 1 {
			e = w.ea
		}
		wantSigned(t, e.finish(t, "p1", id))
	}
	// The pool counts a completed message after its handler returned and the
	// parts were released, which can be just after the portal saw the result.
	completedAll := func() float64 {
		return metricSum(t, w.regA, "imzagate_smpp_mo_segments_total", "completed") +
			metricSum(t, w.regB, "imzagate_smpp_mo_segments_total", "completed")
	}
	testutil.Eventually(t, 5*time.Second, "every reply counted as completed", func() bool { return completedAll() >= cards })
	heldA := metricSum(t, w.regA, "imzagate_smpp_mo_segments_total", "held")
	heldB := metricSum(t, w.regB, "imzagate_smpp_mo_segments_total", "held")
	doneA := metricSum(t, w.regA, "imzagate_smpp_mo_segments_total", "completed")
	doneB := metricSum(t, w.regB, "imzagate_smpp_mo_segments_total", "completed")
	if heldA < cards*5 || heldB < cards*5 {
		t.Fatalf("segments held a=%v b=%v: the replies were not spread", heldA, heldB)
	}
	if doneA+doneB != cards {
		t.Fatalf("replies completed a=%v b=%v, want %d in all (exactly once each)", doneA, doneB, cards)
	}
	replies := metricSum(t, w.regA, "imzagate_mo_received_total", "reply") + metricSum(t, w.regB, "imzagate_mo_received_total", "reply")
	if replies != cards {
		t.Fatalf("replies handled %v, want %d", replies, cards)
	}
	if st := w.sm.Stats(); st.Lost != 0 {
		t.Fatalf("SMSC lost %d deliveries", st.Lost)
	}
}

// TestReplyPartsSurviveAnInstanceCrash: instance b stores and acknowledges
// a few segments of a reply, then dies (its Redis calls fail, then its
// binds close). The SMSC redelivers what b refused to instance a, which
// finds b's parts in Redis and completes the session.
func TestReplyPartsSurviveAnInstanceCrash(t *testing.T) {
	hook := &crashHook{after: 3, crashed: make(chan struct{})}
	w, _ := startSpreadWorld(t, 1, hook)
	id := w.sign(t, w.ea, 0)
	select {
	case <-hook.crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("instance b never stored a segment")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = w.b.Shutdown(ctx) // its binds unbind: the SMSC sends the rest to a
	cancel()
	wantSigned(t, w.ea.finish(t, "p1", id))
	testutil.Eventually(t, 5*time.Second, "instance a counts the reply as completed", func() bool {
		return metricSum(t, w.regA, "imzagate_smpp_mo_segments_total", "completed") >= 1
	})
	if done := metricSum(t, w.regA, "imzagate_smpp_mo_segments_total", "completed"); done != 1 {
		t.Fatalf("instance a completed %v replies, want 1", done)
	}
	// Workers already past the hook when it tripped may store one or two
	// more; b must have acknowledged some parts and completed none.
	if held := metricSum(t, w.regB, "imzagate_smpp_mo_segments_total", "held"); held < 3 {
		t.Fatalf("instance b held %v segments before it died, want at least 3", held)
	}
	if done := metricSum(t, w.regB, "imzagate_smpp_mo_segments_total", "completed"); done != 0 {
		t.Fatalf("instance b completed %v replies after it died", done)
	}
	if st := w.sm.Stats(); st.Lost != 0 {
		t.Fatalf("SMSC lost %d deliveries", st.Lost)
	}
}

package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// maxRoundTripsPerSession is the budget of Redis round trips of one full
// session (docs/performance.md §2): the start, the long-poll, the card's
// reply and the delivery receipt.
const maxRoundTripsPerSession = 4

// tripHook records a gateway's Redis round trips: one per command sent on
// its own, one per pipeline, each labelled with its commands and the kind
// of their first key ("evalsha x", "get r") and assigned to the step of
// the session that made it, found from the caller's frames. Audit appends
// ({a:…} keys, batched across sessions) and the commands a new pooled
// connection sends (HELLO, CLIENT) are kept apart, and so is the portal
// budget's refresh (once a second per portal, whatever the load).
type tripHook struct {
	mu       sync.Mutex
	trips    map[string][]string // step → labels
	audits   int
	dials    int
	periodic int // the portal budget's refresh, once a second per portal
}

func (h *tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.record([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (h *tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.record(cmds)
		return next(ctx, cmds)
	}
}

func (h *tripHook) record(cmds []redis.Cmder) {
	labels := make([]string, 0, len(cmds))
	audit, dial := false, false
	for _, c := range cmds {
		l := tripLabel(c)
		audit = audit || strings.HasSuffix(l, " a")
		dial = dial || strings.HasPrefix(l, "hello") || strings.HasPrefix(l, "client ")
		labels = append(labels, l)
	}
	step := sessionStep()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case audit:
		h.audits++
	case dial:
		h.dials++
	case step == stepPeriodic:
		h.periodic++
	default:
		if h.trips == nil {
			h.trips = map[string][]string{}
		}
		h.trips[step] = append(h.trips[step], strings.Join(labels, "+"))
	}
}

// Steps of a session, in sessionStep's terms.
const (
	stepStart   = "start POST"
	stepPoll    = "long-poll GET"
	stepReply   = "card's reply (MO)"
	stepReceipt = "DELIVRD receipt"
	stepOther   = "other"
	// stepPeriodic is kept apart: not a step of any one session.
	stepPeriodic = "portal budget refresh"
)

// stepBudget is each step's round trips (docs/performance.md §2); their
// sum is maxRoundTripsPerSession when the receipt rides with the submit's
// record, one more when it comes after the record was sent.
var stepBudget = map[string]int{stepStart: 3, stepPoll: 0, stepReply: 1, stepReceipt: 1, stepOther: 0}

// sessionStep names the step whose code is on the caller's stack.
func sessionStep() string {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(3, pc)])
	for {
		f, more := frames.Next()
		switch fn := f.Function; {
		case strings.Contains(fn, "gateway.(*userIDBudgets)."):
			return stepPeriodic
		case strings.Contains(fn, "gateway.(*sessionService)."):
			return stepStart
		case strings.Contains(fn, "gateway.(*Server).longPoll"), strings.Contains(fn, "gateway.(*Server).handleSessionGet"):
			return stepPoll
		case strings.Contains(fn, "gateway.(*correlator).HandleMO"):
			return stepReply
		case strings.Contains(fn, "gateway.(*correlator).HandleReceipt"):
			return stepReceipt
		}
		if !more {
			return stepOther
		}
	}
}

// tripLabel names a command by its name and its first key's kind (the
// letter after the hash tag).
func tripLabel(c redis.Cmder) string {
	args := c.Args()
	name := strings.ToLower(fmt.Sprint(args[0]))
	i := 1
	if name == "evalsha" || name == "eval" {
		i = 3
	}
	if len(args) <= i {
		return name
	}
	k, _ := args[i].(string)
	if name == "client" {
		return name + " " + k
	}
	if j := strings.IndexByte(k, '}'); j >= 0 && strings.HasPrefix(k, "{") {
		if strings.HasPrefix(k, "{a:") {
			return name + " a"
		}
		if strings.HasPrefix(k, "{c:") {
			return name + " c"
		}
		k = k[j+1:]
	}
	if j := strings.IndexByte(k, ':'); j > 0 {
		k = k[:j]
	}
	return name + " " + k
}

// take returns and forgets the round trips recorded so far (the periodic
// ones only counted: periodic is the running total).
func (h *tripHook) take() (trips map[string][]string, audits, dials int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	trips, audits, dials = h.trips, h.audits, h.dials
	h.trips, h.audits, h.dials = nil, 0, 0
	return trips, audits, dials
}

// TestRoundTripsPerSession counts the Redis round trips of full sessions
// through the whole system against a real redis-server: a login whose user
// answers at once (the start POST, the long-poll GET, the card's reply and
// the DELIVRD receipt). The budget is maxRoundTripsPerSession; the audit
// trail's batched appends are reported apart.
func TestRoundTripsPerSession(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	const cards, rounds = 4, 5
	st := startStack(t, multiInstance(simstack.Options{
		Redis: simstack.Redis{Addrs: []string{srv.Addr}},
		SIMs:  cards, Seed: "round trips per session", Prefixes: []string{"99450"},
		Behaviour: func(int) simcard.Behaviour {
			return simcard.Behaviour{Action: simcard.Approve, Delay: 30 * time.Millisecond}
		},
		Pepper: bytes.Repeat([]byte{6}, 32), ShutdownTimeout: 5 * time.Second,
		Server:    gateway.ServerOptions{UserTimeout: 10 * time.Second, DeliveryGrace: 20 * time.Second},
		SimLogger: testLogger(t),
	}))
	h := &tripHook{}
	gw, reg := startInstance(t, st, "rt", h)
	e := &env{base: "http://" + gw.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records(t, st)}

	sessionsRun := 0
	receipts := func() float64 {
		return metricSum(t, reg, "imzagate_receipts_total", "delivered") + metricSum(t, reg, "imzagate_receipts_total", "unmatched")
	}
	run := func(card int) {
		t.Helper()
		code, m, _ := e.do(t, "p1", "POST", "/v1/authentications", e.startReq(card, "SHA256", nil))
		if code != 201 {
			t.Fatalf("start: %d %v", code, m)
		}
		if got := e.finish(t, "p1", m["sessionId"].(string)); got["result"] != sessions.ResultOK {
			t.Fatalf("result %v", got["result"])
		}
		// The receipt may follow the reply: wait for it to be handled.
		testutil.Eventually(t, 10*time.Second, "the delivery receipt is handled", func() bool {
			return receipts() >= float64(sessionsRun+1)
		})
		sessionsRun++
	}
	// Warm up: scripts loaded, the OCSP answers of every card held.
	for i := range cards {
		run(i)
	}
	_, _, _ = h.take()
	perStep := map[string]int{}
	labels := map[string]int{}
	audits, dials, late := 0, 0, 0
	for r := range rounds {
		for i := range cards {
			run(i)
			trips, a, d := h.take()
			audits, dials = audits+a, dials+d
			total := 0
			for step, ls := range trips {
				total += len(ls)
				perStep[step] += len(ls)
				for _, l := range ls {
					labels[step+": "+l]++
				}
				if len(ls) > stepBudget[step] {
					t.Errorf("round %d card %d: %s took %d round trips, budget %d: %s", r, i, step, len(ls), stepBudget[step], strings.Join(ls, ", "))
				}
			}
			if total > maxRoundTripsPerSession {
				late++ // the receipt came after the submit's record was sent
				if total > maxRoundTripsPerSession+1 {
					t.Errorf("round %d card %d: %d round trips, budget %d", r, i, total, maxRoundTripsPerSession)
				}
			}
		}
	}
	n := rounds * cards
	if late > n/4 {
		t.Errorf("%d of %d sessions over %d round trips: the receipt did not ride with the submit's record", late, n, maxRoundTripsPerSession)
	}
	sum := 0
	for _, v := range perStep {
		sum += v
	}
	t.Logf("per session: %.2f round trips (%.2f with the audit trail's batched appends; apart: %d connection set-ups, %d portal budget refreshes)",
		float64(sum)/float64(n), float64(sum+audits)/float64(n), dials, h.periodic)
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %5.2f  %s", float64(labels[k])/float64(n), k)
	}
}

package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

func runFake(t *testing.T, f *fakePortal, o Options) *Result {
	t.Helper()
	o.Target = f.start(t)
	if o.APIKey == "" {
		o.APIKey = f.key
	}
	res, err := Run(t.Context(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// within reports whether got is within tol (relative) of want.
func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol*want }

func TestClosedLoopCountsPercentilesAndErrors(t *testing.T) {
	f := newFakePortal()
	f.failEvery = 10
	f.resultFor = func(n int) string {
		if n%7 == 0 {
			return "USER_CANCELLED"
		}
		return "OK"
	}
	res := runFake(t, f, Options{Users: testUsers(40), Concurrency: 8, Duration: time.Second, Mix: Mix{Auth: 0.5, Sign: 0.5}})
	answers, violations, signs := f.snapshot()
	if len(violations) > 0 {
		t.Fatalf("the generator sent what the API forbids: %s", joinViolations(violations))
	}
	// No warm-up and a full drain: every session the server saw is counted once.
	if got, want := res.Completed, int64(answers["OK"]); got != want {
		t.Errorf("completed = %d, server answered OK %d times", got, want)
	}
	for _, code := range []string{"USER_UNKNOWN", "USER_CANCELLED"} {
		if got, want := res.Errors[code], int64(answers[code]); got != want || want == 0 {
			t.Errorf("errors[%s] = %d, server answered it %d times (want equal, non-zero)", code, got, want)
		}
	}
	if len(res.Errors) != 2 {
		t.Errorf("errors = %v, want only USER_UNKNOWN and USER_CANCELLED", res.Errors)
	}
	if res.Failed != res.Errors["USER_UNKNOWN"]+res.Errors["USER_CANCELLED"] {
		t.Errorf("failed = %d, not the sum of %v", res.Failed, res.Errors)
	}
	total := res.Completed + res.Failed
	if signs == 0 || signs == int(total) {
		t.Errorf("mix 50/50 gave %d signatures out of %d sessions", signs, total)
	}
	// 8 workers and ~20 ms sessions: far more than 100 sessions in a second.
	if res.Completed < 100 {
		t.Fatalf("only %d sessions completed", res.Completed)
	}
	if !within(res.Throughput, float64(res.Completed), 1e-9) {
		t.Errorf("throughput %.1f/s over 1 s, completed %d", res.Throughput, res.Completed)
	}
	// Stage times come from the server's stamps: exact up to the histogram's precision.
	lat := res.Latency
	if !within(lat[StageSubmit].P50, 5, 0.01) || !within(lat[StageSubmit].Max, 5, 0.01) {
		t.Errorf("submit stage = %+v, want 5 ms throughout", lat[StageSubmit])
	}
	if !within(lat[StageReply].P99, 15, 0.01) {
		t.Errorf("reply stage = %+v, want 15 ms", lat[StageReply])
	}
	if e := lat[StageEndToEnd]; e.P50 < 20 || e.P50 > 500 || e.Max < e.P99 || e.P99 < e.P50 {
		t.Errorf("end to end = %+v, want p50 from 20 ms (server's completion time) and ordered percentiles", e)
	}
	if s := lat[StageStart]; s.Count != res.Completed || s.P50 <= 0 || s.P50 > lat[StageEndToEnd].P50 {
		t.Errorf("start stage = %+v with %d completed", s, res.Completed)
	}
}

func TestOpenLoopMeasuresFromIntendedStart(t *testing.T) {
	// Two users and 50 ms sessions serve at most 40 sessions/s. At 100/s
	// offered, sessions queue for a free user inside the generator: measured
	// from the intended start the latency grows to about a second; a
	// generator timing from the actual send would report ~50 ms.
	f := newFakePortal()
	f.completeAfter = 50 * time.Millisecond
	res := runFake(t, f, Options{Users: testUsers(2), Rate: 100, Duration: time.Second})
	if got := res.Completed + res.Failed; got != 100 {
		t.Errorf("an open loop at 100/s for 1 s scheduled %d sessions, want exactly 100", got)
	}
	if res.Failed != 0 {
		t.Errorf("errors %v", res.Errors)
	}
	e := res.Latency[StageEndToEnd]
	if e.P99 < 800 || e.Max < 1000 {
		t.Errorf("end to end = %+v: latency must grow with the backlog (p99 ≥ 800 ms, max ≥ 1 s)", e)
	}
	if e.P50 < 300 {
		t.Errorf("end-to-end p50 %.1f ms: the median session waited for half the backlog", e.P50)
	}
	if s := res.Latency[StageStart]; s.P50 > 100 {
		t.Errorf("start p50 %.1f ms: starts themselves are fast", s.P50)
	}
	if res.OfferedRate != 100 || res.Mode != "open" {
		t.Errorf("mode %q rate %v", res.Mode, res.OfferedRate)
	}
}

func TestOpenLoopSlowServerShowsQueueing(t *testing.T) {
	// A server that handles one start at a time in 20 ms serves 50/s; the
	// generator sends 100/s on time, so requests queue in the server and the
	// latency of the late ones grows from their intended start.
	f := newFakePortal()
	f.serialStarts = true
	f.startDelay = 20 * time.Millisecond
	f.completeAfter = 0
	res := runFake(t, f, Options{Users: testUsers(200), Rate: 100, Duration: 500 * time.Millisecond})
	if got := res.Completed; got != 50 {
		t.Errorf("completed %d, want all 50 scheduled (errors %v)", got, res.Errors)
	}
	// The 50th start is served at ~1 s, half a second after its slot.
	if e := res.Latency[StageEndToEnd]; e.Max < 400 || e.P50 < 150 {
		t.Errorf("end to end = %+v, want max ≥ 400 ms and p50 ≥ 150 ms from the serialised server", e)
	}
}

func TestOpenLoopBoundsInFlight(t *testing.T) {
	f := newFakePortal()
	f.completeAfter = 300 * time.Millisecond
	res := runFake(t, f, Options{Users: testUsers(100), Rate: 100, Duration: 500 * time.Millisecond, MaxInFlight: 5})
	if res.Completed+res.Failed != 50 {
		t.Errorf("scheduled %d, want 50", res.Completed+res.Failed)
	}
	if res.Errors[CodeOverload] < 30 {
		t.Errorf("overload = %d: with 5 in flight and 300 ms sessions at most ~%d can run", res.Errors[CodeOverload], 5*2)
	}
	if res.Completed < 5 || res.Completed > 15 {
		t.Errorf("completed %d, want about 5 per 300 ms", res.Completed)
	}
}

func TestWarmupIsNotMeasured(t *testing.T) {
	f := newFakePortal()
	res := runFake(t, f, Options{Users: testUsers(10), Concurrency: 2, Warmup: 300 * time.Millisecond, Duration: 300 * time.Millisecond})
	answers, _, _ := f.snapshot()
	if int64(answers["OK"]) != res.Sessions {
		t.Errorf("sessions %d, server completed %d", res.Sessions, answers["OK"])
	}
	measured := res.Completed + res.Failed
	if measured == 0 || res.Sessions <= measured {
		t.Errorf("measured %d of %d sessions; the warm-up's must not be among them", measured, res.Sessions)
	}
	if res.Latency[StageEndToEnd].Count != res.Completed {
		t.Errorf("histogram holds %d, completed %d", res.Latency[StageEndToEnd].Count, res.Completed)
	}
}

func TestSessionTimeoutHoldsUsersBack(t *testing.T) {
	f := newFakePortal()
	f.completeAfter = -1 // never completes
	res := runFake(t, f, Options{Users: testUsers(3), Concurrency: 3, Duration: 300 * time.Millisecond,
		SessionTimeout: 200 * time.Millisecond, PollTimeout: 50 * time.Millisecond})
	_, violations, _ := f.snapshot()
	if len(violations) > 0 {
		t.Fatalf("a user was reused while its session ran: %s", joinViolations(violations))
	}
	if res.Completed != 0 || res.Errors[CodeTimeout] < 3 || len(res.Errors) != 1 {
		t.Errorf("completed %d, errors %v: want only CLIENT_TIMEOUT", res.Completed, res.Errors)
	}
}

func TestWrongKeyCountsUnauthorized(t *testing.T) {
	f := newFakePortal()
	res := runFake(t, f, Options{APIKey: "wrong", Users: testUsers(4), Concurrency: 2, Duration: 200 * time.Millisecond})
	answers, _, _ := f.snapshot()
	if res.Completed != 0 || res.Errors["UNAUTHORIZED"] != int64(answers["UNAUTHORIZED"]) || res.Errors["UNAUTHORIZED"] == 0 {
		t.Errorf("errors %v, server refused %d", res.Errors, answers["UNAUTHORIZED"])
	}
}

func TestUnreachableTargetCountsTransport(t *testing.T) {
	res, err := Run(t.Context(), Options{Target: "http://127.0.0.1:1", APIKey: "k", Users: testUsers(2), Concurrency: 1, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors[CodeTransport] == 0 || res.Completed != 0 {
		t.Errorf("errors %v", res.Errors)
	}
}

func TestProgressAndTicks(t *testing.T) {
	f := newFakePortal()
	var buf bytes.Buffer
	var ticks []Tick
	res := runFake(t, f, Options{Users: testUsers(10), Concurrency: 4, Duration: 500 * time.Millisecond,
		Progress: &buf, ProgressInterval: 100 * time.Millisecond, OnTick: func(tk Tick) { ticks = append(ticks, tk) }})
	if len(ticks) < 3 {
		t.Fatalf("%d ticks in 500 ms at 100 ms", len(ticks))
	}
	var sum int64
	for _, tk := range ticks {
		if tk.Phase != "measure" && tk.Phase != "drain" {
			t.Errorf("phase %q without warm-up", tk.Phase)
		}
		sum = tk.Completed
		if tk.Finished < tk.Completed {
			t.Errorf("tick finished %d < completed %d", tk.Finished, tk.Completed)
		}
	}
	if sum > res.Sessions || sum == 0 {
		t.Errorf("ticks counted %d completions, run %d", sum, res.Sessions)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != len(ticks) || !strings.Contains(buf.String(), "p99") {
		t.Errorf("progress printed %d lines for %d ticks:\n%s", lines, len(ticks), buf.String())
	}
}

func TestRunCancelled(t *testing.T) {
	f := newFakePortal()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	o := Options{Target: f.start(t), APIKey: f.key, Users: testUsers(4), Concurrency: 2, Duration: time.Hour}
	res, err := Run(ctx, o)
	if err == nil || res == nil {
		t.Fatalf("Run = %v, %v; want a result and the context's error", res, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancelled run took %v", time.Since(start))
	}
	// Throughput is over the window actually run, not the hour asked for.
	if res.Measured <= 0 || res.Measured > 2*time.Second || res.Completed == 0 ||
		!within(res.Throughput, float64(res.Completed)/res.Measured.Seconds(), 1e-9) {
		t.Errorf("measured %v, completed %d, throughput %.1f", res.Measured, res.Completed, res.Throughput)
	}
}

func TestIntendedScheduleDoesNotDrift(t *testing.T) {
	origin := time.Unix(1000, 0)
	tests := []struct {
		name string
		i    int64
		rate float64
		want time.Duration
	}{
		{"first", 0, 2000, 0},
		{"second", 1, 2000, 500 * time.Microsecond},
		{"one minute at 2000/s", 120000, 2000, time.Minute},
		{"one hour at 3/s", 3 * 3600, 3, time.Hour},
		{"fractional rate", 7, 0.5, 14 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := intended(origin, tt.i, tt.rate).Sub(origin); got != tt.want {
				t.Errorf("intended = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkSession measures the generator's own cost per session against
// a portal that completes at once (server cost included).
func BenchmarkSession(b *testing.B) {
	f := newFakePortal()
	f.completeAfter = 0
	url := f.start(b)
	o := Options{Target: url, APIKey: f.key, Users: testUsers(4), Concurrency: 1}
	if err := o.validate(); err != nil {
		b.Fatal(err)
	}
	g := &generator{o: o, c: newClient(&o), rec: newRecorder(), parent: b.Context()}
	g.pool = make(chan int32, 4)
	for i := range int32(4) {
		g.pool <- i
	}
	b.ReportAllocs()
	for b.Loop() {
		g.session(b.Context(), time.Now(), true)
	}
	if g.rec.ok == 0 {
		b.Fatal("no session completed")
	}
}

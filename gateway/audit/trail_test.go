package audit

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/prometheus/client_golang/prometheus"
)

// clock is Options.Now for tests that cross midnight.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// At midnight UTC the writer closes its chain with a final checkpoint and
// starts the next day's chain, whose chain.start names the previous one.
func TestDayRollover(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := &clock{t: time.Date(2030, 5, 6, 23, 59, 59, 0, time.UTC)}
	tr := newTrail(t, clientFor(t, srv.Addr), func(o *Options) { o.Now = clk.Now; o.Retention = 48 * time.Hour })
	r := start(t, tr)
	ctx := context.Background()
	for i := range 5 {
		if err := tr.AppendSync(ctx, sessionRecord(tr, i)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(time.Date(2030, 5, 7, 0, 0, 1, 0, time.UTC))
	for i := range 5 {
		if err := tr.AppendSync(ctx, sessionRecord(tr, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyAll(t, tr)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Chains) != 2 || !rep.Chains[0].Final || !rep.Chains[1].Final ||
		!strings.HasPrefix(rep.Chains[0].ID, "20300506.") || !strings.HasPrefix(rep.Chains[1].ID, "20300507.") {
		t.Fatalf("chains %+v; want one closed chain per day", rep.Chains)
	}
	lines := lines(exportAll(t, tr))
	var start Record
	for _, l := range lines {
		if rec, _, err := ParseLine([]byte(l)); err == nil && rec.Chain == rep.Chains[1].ID && rec.Seq == 1 {
			start = rec
		}
	}
	if start.Kind != KindChainStart || start.Details["reason"] != "day" || start.Details["prev_chain"] != rep.Chains[0].ID ||
		start.Details["prev_seq"] != "7" {
		t.Fatalf("second day's first record %+v; want a chain.start naming %s ending at seq 7", start, rep.Chains[0].ID)
	}
	// Whole days are exported: a window inside the second day holds only it.
	var buf bytes.Buffer
	if err := tr.Export(ctx, &buf, clk.Now(), clk.Now()); err != nil {
		t.Fatal(err)
	}
	day2, err := VerifyFile(&buf, tr.PublicKey())
	if err != nil || len(day2.Chains) != 1 || day2.Chains[0].ID != rep.Chains[1].ID {
		t.Fatalf("export of the second day: %v, %+v", err, day2)
	}
	// The keys expire with the retention: end of the day + 48h.
	ttl, err := clientFor(t, srv.Addr).PExpireTime(ctx, "{a:"+rep.Chains[0].ID+"}").Result()
	if want := time.Date(2030, 5, 9, 0, 0, 0, 0, time.UTC); err != nil || time.UnixMilli(int64(ttl/time.Millisecond)).UTC() != want {
		t.Fatalf("chain expires at %v (%v), want %v", ttl, err, want)
	}
}

// With the writer stalled, a full queue drops records after EnqueueWait;
// the drops are counted and recorded in the trail once it writes again.
func TestDropsAreCountedAndRecorded(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	tr := newTrail(t, clientFor(t, srv.Addr), func(o *Options) { o.QueueSize = 4; o.EnqueueWait = -1 })
	ctx := context.Background()
	for i := range 4 {
		if err := tr.Append(ctx, sessionRecord(tr, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := tr.Append(ctx, sessionRecord(tr, 10+i)); !errors.Is(err, ErrDropped) {
			t.Fatalf("append to a full queue = %v, want ErrDropped", err)
		}
	}
	if got := counterValue(tr.m.dropped); got != 3 {
		t.Fatalf("imzagate_audit_dropped_total = %v, want 3", got)
	}
	r := start(t, tr)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Append(ctx, sessionRecord(tr, 99)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Run ended = %v, want ErrClosed", err)
	}
	var found bool
	for _, l := range lines(exportAll(t, tr)) {
		if rec, _, err := ParseLine([]byte(l)); err == nil && rec.Kind == KindDropped {
			found = rec.Details["count"] == "3"
		}
	}
	if !found {
		t.Fatal("no audit.dropped record with count 3 in the trail")
	}
}

// AppendSync without a running writer fails within SyncTimeout.
func TestAppendSyncWithoutWriterFails(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	tr := newTrail(t, clientFor(t, srv.Addr), func(o *Options) { o.SyncTimeout = 50 * time.Millisecond })
	start := time.Now()
	err := tr.AppendSync(context.Background(), adminRecord(1))
	if !errors.Is(err, ErrNotDurable) || time.Since(start) > 2*time.Second {
		t.Fatalf("AppendSync = %v after %s; want ErrNotDurable within the timeout", err, time.Since(start))
	}
}

func TestOptionsValidate(t *testing.T) {
	srv := redistest.Start(t)
	good := newTrail(t, clientFor(t, srv.Addr), nil).opts
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no store", func(o *Options) { o.Store = nil }, "Store"},
		{"no key", func(o *Options) { o.SigningKey = nil }, "SigningKey"},
		{"short phone key", func(o *Options) { o.PhoneKey = []byte("short") }, "PhoneKey"},
		{"instance", func(o *Options) { o.Instance = "GW.1" }, "Instance"},
		{"batch", func(o *Options) { o.MaxBatch = 5000 }, "MaxBatch"},
		{"retention", func(o *Options) { o.Retention = time.Hour }, "Retention"},
		{"kind", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			o.Registerer = nil
			if tc.mutate == nil {
				tr, err := New(o)
				if err != nil {
					t.Fatal(err)
				}
				if err := tr.Append(context.Background(), Record{Kind: KindCheckpoint}); !errors.Is(err, ErrInvalid) {
					t.Fatalf("a caller's checkpoint record = %v, want ErrInvalid", err)
				}
				return
			}
			tc.mutate(&o)
			if _, err := New(o); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want ErrInvalid about %s", err, tc.want)
			}
		})
	}
	if got := instanceName("Gateway_7.Prod.Example"); got != "gateway-7-prod-example" {
		t.Fatalf("instanceName = %q", got)
	}
}

func TestVerifyFileReportText(t *testing.T) {
	t.Parallel()
	tr, exp, ids := exportTwoChains(t)
	var out bytes.Buffer
	if err := VerifyFileReport(&out, bytes.NewReader(exp), tr.PublicKey()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"audit trail: OK", "records: 80 in 2 chains; exports sealed: 1", ids[0] + " ", "closed"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	bad := bytes.Replace(exp, []byte(`"seq":17,`), []byte(`"seq":71,`), 1)
	err := VerifyFileReport(&out, bytes.NewReader(bad), tr.PublicKey())
	if !errors.Is(err, ErrBroken) || !strings.Contains(out.String(), "audit trail: FAILED") ||
		!strings.Contains(out.String(), "first broken link: audit: chain "+ids[0]+" seq 17 (line 17)") {
		t.Fatalf("report of a broken file (%v):\n%s", err, out.String())
	}
}

// The metrics are registered on the Registerer passed in, under
// imzagate_audit_*.
func TestMetricsRegistered(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	tr := newTrail(t, clientFor(t, srv.Addr), func(o *Options) { o.Registerer = reg })
	r := start(t, tr)
	if err := tr.AppendSync(context.Background(), adminRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"imzagate_audit_records_total", "imzagate_audit_batch_records", "imzagate_audit_batch_duration_seconds",
		"imzagate_audit_queue_depth", "imzagate_audit_dropped_total", "imzagate_audit_write_errors_total",
		"imzagate_audit_chains_started_total", "imzagate_audit_verify_failures_total", "imzagate_audit_anchor_errors_total"} {
		if !got[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
	if v := counterValue(tr.m.records.WithLabelValues(string(KindAdminCall))); v != 1 {
		t.Errorf("admin.call records = %v, want 1", v)
	}
	if v := counterValue(tr.m.chains.WithLabelValues("start")); v != 1 {
		t.Errorf("chains started = %v, want 1", v)
	}
	if _, err := New(tr.opts); err == nil {
		t.Error("a second Trail on the same Registerer registered its metrics twice")
	}
}

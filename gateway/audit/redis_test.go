package audit

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// A chain of 10,000 records verifies online and from its export, and both
// report the same chain.
func TestTenThousandRecordsVerify(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	tr := newTrail(t, clientFor(t, srv.Addr), nil)
	r := start(t, tr)
	ctx := context.Background()
	for i := range 10_000 {
		rec := sessionRecord(tr, i)
		if i%1000 == 999 {
			if err := tr.AppendSync(ctx, adminRecord(i)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tr.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	online, err := verifyAll(t, tr)
	if err != nil {
		t.Fatal(err)
	}
	exp := exportAll(t, tr)
	offline, err := VerifyFile(bytes.NewReader(exp), tr.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	// 1 chain.start + 10,000 records + one checkpoint per 1000 records + the final one.
	const want = 1 + 10_000 + 10 + 1
	for name, rep := range map[string]*Report{"online": online, "export": offline} {
		if rep.Records != want || len(rep.Chains) != 1 || !rep.Chains[0].Final || rep.Chains[0].Checkpoints != 11 {
			t.Fatalf("%s: %d records, chains %+v; want %d records in one closed chain with 11 checkpoints", name, rep.Records, rep.Chains, want)
		}
		if len(rep.Notices) != 0 {
			t.Fatalf("%s notices: %v", name, rep.Notices)
		}
	}
	if offline.Seals != 1 || online.Chains[0] != offline.Chains[0] {
		t.Fatalf("online %+v, export %+v (seals %d)", online.Chains[0], offline.Chains[0], offline.Seals)
	}
	if got := counterValue(tr.m.records.WithLabelValues(string(KindSessionStart))); got != 9990 {
		t.Fatalf("imzagate_audit_records_total{kind=session.start} = %v, want 9990", got)
	}
	t.Logf("10,000 records: export of %d KiB, online and offline verification OK", len(exp)>>10)
}

// Tampering with the streams in Redis is found by the online Verify.
func TestOnlineTamperingIsDetected(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := clientFor(t, srv.Addr)
	ctx := context.Background()
	var ids []string
	var tr *Trail
	for range 2 {
		tr = newTrail(t, rdb, func(o *Options) { o.CheckpointEvery = 10 })
		r := start(t, tr)
		for i := range 30 {
			if err := tr.Append(ctx, sessionRecord(tr, i)); err != nil {
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
		for _, c := range rep.Chains { // listed by id: take the new one
			if !slices.Contains(ids, c.ID) {
				ids = append(ids, c.ID)
			}
		}
	}
	a, b := ids[0], ids[1]
	key := func(c string) string { return "{a:" + c + "}" }
	entry := func(c string, seq int) string {
		m, err := rdb.XRange(ctx, key(c), strconv.Itoa(seq)+"-0", strconv.Itoa(seq)+"-0").Result()
		if err != nil || len(m) != 1 {
			t.Fatalf("read %s seq %d: %v", c, seq, err)
		}
		return m[0].Values["r"].(string)
	}
	// rewrite replaces a stream with entries from..to of the original,
	// changed by edit (nil: unchanged; "" from edit deletes the entry).
	snapshot := func(c string) []redis.XMessage {
		m, err := rdb.XRange(ctx, key(c), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	restore := func(c string, msgs []redis.XMessage) {
		rdb.Del(ctx, key(c))
		for _, m := range msgs {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key(c), ID: m.ID, Values: m.Values}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	origA := snapshot(a)
	last := len(origA)
	tests := []struct {
		name   string
		tamper func()
		chain  string
		seq    uint64
		want   string
	}{
		{"delete middle entry", func() { rdb.XDel(ctx, key(a), "17-0") }, a, 18, "record 17 missing"},
		{"delete first entry", func() { rdb.XDel(ctx, key(a), "1-0") }, a, 2, "record 1 missing"},
		{"delete last entry (final checkpoint, kept as anchor)", func() {
			rdb.XDel(ctx, key(a), strconv.Itoa(last)+"-0")
		}, a, uint64(last), "holds its signed checkpoint"},
		{"edit a record", func() {
			msgs := snapshot(a)
			msgs[16].Values["r"] = strings.Replace(msgs[16].Values["r"].(string), `"STARTED"`, `"REFUSED"`, 1)
			restore(a, msgs)
		}, a, 18, "prev does not match the hash of seq 17"},
		{"record moved between chains", func() {
			msgs := snapshot(a)
			msgs[16].Values["r"] = entry(b, 17)
			restore(a, msgs)
		}, a, 17, "claims chain " + b},
		{"stored under another id", func() {
			msgs := snapshot(a)
			msgs[16].ID = "17-1"
			restore(a, msgs)
		}, a, 17, "stream id 17-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer restore(a, origA)
			tc.tamper()
			_, err := verifyAll(t, tr)
			mustBreak(t, err, tc.chain, tc.seq, tc.want)
		})
	}
	if _, err := verifyAll(t, tr); err != nil {
		t.Fatalf("after restoring the stream: %v", err)
	}
	if got := counterValue(tr.m.verifyFails); got != float64(len(tests)) {
		t.Fatalf("imzagate_audit_verify_failures_total = %v, want %d", got, len(tests))
	}
}

// countHook counts round trips: one per command or pipeline, handshakes
// excluded.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "hello", "client", "auth", "select":
		default:
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// Eight goroutines append session records at once: the batching writer
// coalesces them, so a record costs far less than one Redis round trip.
func TestConcurrentAppendsCostLessThanOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := clientFor(t, srv.Addr)
	hook := &countHook{}
	rdb.AddHook(hook)
	const goroutines, each = 8, 2000
	tr := newTrail(t, rdb, func(o *Options) { o.QueueSize = goroutines * each })
	r := start(t, tr)
	ctx := context.Background()
	var wg sync.WaitGroup
	var dropped atomic.Int64
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := tr.Append(ctx, sessionRecord(tr, g*each+i)); errors.Is(err, ErrDropped) {
					dropped.Add(1)
				} else if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	trips := hook.n.Load()
	perRecord := float64(trips) / (goroutines * each)
	t.Logf("%d records from %d goroutines in %d round trips: %.4f per record; dropped %d", goroutines*each, goroutines, trips, perRecord, dropped.Load())
	if perRecord >= 1 {
		t.Fatalf("%.3f round trips per record, want < 1", perRecord)
	}
	rep, err := verifyAll(t, tr)
	if err != nil {
		t.Fatal(err)
	}
	// chain.start, the records, a checkpoint per 1000 and the final one.
	if want := 1 + goroutines*each + goroutines*each/1000 + 1; dropped.Load() != 0 || rep.Records != want {
		t.Fatalf("verified %d records, want %d (dropped %d)", rep.Records, want, dropped.Load())
	}
}

// Chains of several writers land on different Cluster slots and nodes;
// export and verification read them all.
func TestCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("cluster start-up in -short mode")
	}
	cl := redistest.StartCluster(t)
	rdb := clientFor(t, cl.Addrs...)
	ctx := context.Background()
	var trails []*Trail
	for w := range 6 {
		tr := newTrail(t, rdb, func(o *Options) { o.CheckpointEvery = 50 })
		trails = append(trails, tr)
		r := start(t, tr)
		for i := range 120 {
			if err := tr.Append(ctx, sessionRecord(tr, w*1000+i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.AppendSync(ctx, adminRecord(w)); err != nil {
			t.Fatalf("durable append on a cluster: %v", err)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := verifyAll(t, trails[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Chains) != 6 {
		t.Fatalf("online verification found %d chains, want 6", len(rep.Chains))
	}
	nodes := map[string]bool{}
	cc := rdb.(*redis.ClusterClient)
	for _, c := range rep.Chains {
		m, err := cc.MasterForKey(ctx, "{a:"+c.ID+"}")
		if err != nil {
			t.Fatal(err)
		}
		nodes[m.Options().Addr] = true
	}
	if len(nodes) < 2 {
		t.Fatalf("all 6 chains on %d node(s); want them spread", len(nodes))
	}
	exp := exportAll(t, trails[3])
	off, err := VerifyFile(bytes.NewReader(exp), trails[0].PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if off.Records != rep.Records || len(off.Chains) != 6 || rep.Records != 6*(1+120+2+1+1) {
		t.Fatalf("export: %d records in %d chains; online %d records", off.Records, len(off.Chains), rep.Records)
	}
	t.Logf("6 chains on %d of 3 masters, %d records, verified online and from the export", len(nodes), rep.Records)
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

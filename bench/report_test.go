package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// fixedResult builds a Result from known samples without a server.
func fixedResult(t *testing.T, rate float64, e2eMs ...int) *Result {
	t.Helper()
	g := &generator{o: Options{Rate: rate, Concurrency: 4, Duration: 2 * time.Second, Mix: Mix{Auth: 1}}, rec: newRecorder()}
	for _, ms := range e2eMs {
		d := time.Duration(ms) * time.Millisecond
		g.rec.record(sample{measured: true, start: d / 4, submit: d / 8, reply: d / 2, e2e: d})
	}
	g.rec.record(sample{measured: true, code: "USER_UNKNOWN"})
	g.rec.record(sample{measured: true, code: CodeTimeout})
	g.rec.record(sample{measured: true, code: CodeTimeout})
	g.rec.record(sample{measured: false, code: CodeTimeout}) // warm-up: not tallied
	return g.result()
}

func TestResultSummaries(t *testing.T) {
	var ms []int
	for i := 1; i <= 1000; i++ {
		ms = append(ms, i)
	}
	r := fixedResult(t, 0, ms...)
	if r.Completed != 1000 || r.Failed != 3 || r.Errors[CodeTimeout] != 2 || r.Sessions != 1004 {
		t.Fatalf("counts: completed %d failed %d errors %v sessions %d", r.Completed, r.Failed, r.Errors, r.Sessions)
	}
	if r.Throughput != 500 {
		t.Errorf("throughput %v, want 1000 over 2 s", r.Throughput)
	}
	e := r.Latency[StageEndToEnd]
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"p50", e.P50, 500}, {"p90", e.P90, 900}, {"p99", e.P99, 990}, {"p99.9", e.P999, 999}, {"max", e.Max, 1000},
		{"mean", e.Mean, 500.5}, {"start p50", r.Latency[StageStart].P50, 125},
	} {
		if !within(tt.got, tt.want, 0.002) {
			t.Errorf("%s = %v ms, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	r := fixedResult(t, 2000, 10, 20, 30)
	r.Gateway = &GatewayStats{CPUSeconds: 12, Sessions: 8000, CPUPer1000: 1.5, CPUHow: "child process", RedisBytesPerSession: 800, RedisHow: "MEMORY USAGE", RedisCommandsPerSession: 12.5}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"open loop, 2000 sessions/s offered",
		"throughput  1.5 completed sessions/s (3 OK, 3 failed)",
		"end to end (→COMPLETE seen)",
		"errors      CLIENT_TIMEOUT=2 USER_UNKNOWN=1",
		"gateway CPU 1.50 s per 1,000 sessions (12.0 s over 8000 sessions; child process)",
		"800 bytes per running session",
		"12.5 commands per session",
		"p99.9",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := &Report{Version: 1, Target: "all-in-one", Runs: []*Result{fixedResult(t, 100, 5, 6, 7)}}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Runs []struct {
			Mode        string             `json:"mode"`
			OfferedRate float64            `json:"offeredRate"`
			Completed   int64              `json:"completed"`
			Errors      map[string]int64   `json:"errors"`
			Latency     map[string]Summary `json:"latency"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 1 || back.Runs[0].Completed != 3 || back.Runs[0].OfferedRate != 100 ||
		back.Runs[0].Errors["USER_UNKNOWN"] != 1 || !within(back.Runs[0].Latency["e2e"].Max, 7, 0.002) {
		t.Errorf("JSON round trip lost data: %s", buf.String())
	}
}

func TestPlots(t *testing.T) {
	runs := []*Result{fixedResult(t, 500, 3, 4, 5, 9), fixedResult(t, 1000, 4, 5, 8, 20), fixedResult(t, 2000, 6, 9, 30, 80)}
	tests := []struct {
		name   string
		format string
		draw   func(*bytes.Buffer, string) error
		magic  string
		text   string
	}{
		{"sweep svg", "svg", func(b *bytes.Buffer, f string) error { return WriteSweepPlot(b, runs, f) }, "<?xml", "offered load"},
		{"sweep png", "png", func(b *bytes.Buffer, f string) error { return WriteSweepPlot(b, runs, f) }, "\x89PNG", ""},
		{"histogram svg", "svg", func(b *bytes.Buffer, f string) error { return WriteHistogramPlot(b, runs[2], StageEndToEnd, f) }, "<?xml", "2000 sessions/s offered"},
		{"histogram png", "png", func(b *bytes.Buffer, f string) error { return WriteHistogramPlot(b, runs[0], StageStart, f) }, "\x89PNG", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.draw(&buf, tt.format); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(buf.String(), tt.magic) || (tt.text != "" && !strings.Contains(buf.String(), tt.text)) {
				t.Errorf("%d bytes starting %q, want %q and text %q", buf.Len(), buf.String()[:min(20, buf.Len())], tt.magic, tt.text)
			}
		})
	}
	var buf bytes.Buffer
	if err := WriteSweepPlot(&buf, runs, "gif"); err == nil {
		t.Error("gif accepted")
	}
	closed := fixedResult(t, 0, 5)
	if err := WriteSweepPlot(&buf, []*Result{closed}, "svg"); err == nil {
		t.Error("a sweep plot of closed-loop runs only was drawn")
	}
	if err := WriteHistogramPlot(&buf, closed, "nope", "svg"); err == nil {
		t.Error("unknown stage plotted")
	}
}

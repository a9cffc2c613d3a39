package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestRunSweepAndWrite: a sweep runs one open loop per rate in order and
// hands each result on; Write prints a table per run and writes the JSON
// and both plots where Outputs say.
func TestRunSweepAndWrite(t *testing.T) {
	f := newFakePortal()
	o := Options{Target: f.start(t), APIKey: f.key, Users: testUsers(50), Duration: 250 * time.Millisecond}
	var log bytes.Buffer
	rep := &Report{Version: 1, Target: "fake", Machine: Machine()}
	err := RunSweep(t.Context(), o, []float64{40, 80}, &log, func(r *Result) { rep.Runs = append(rep.Runs, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].OfferedRate != 40 || rep.Runs[1].OfferedRate != 80 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	if !strings.Contains(log.String(), "sweep: 40 sessions/s") || !strings.Contains(log.String(), "sweep: 80 sessions/s") {
		t.Fatalf("sweep log %q", log.String())
	}
	// The closing table: a header and a row per rate, after the runs.
	_, table, ok := strings.Cut(log.String(), "sweep: end-to-end latency by offered load\n")
	if rows := strings.Split(strings.TrimSpace(table), "\n"); !ok || len(rows) != 3 || !strings.Contains(rows[0], "offered/s") ||
		strings.Fields(rows[1])[0] != "40" || strings.Fields(rows[2])[0] != "80" {
		t.Fatalf("sweep log lacks the closing table: %q", log.String())
	}
	dir := t.TempDir()
	out := Outputs{JSON: filepath.Join(dir, "deep", "r.json"), PlotDir: filepath.Join(dir, "plots")}
	var stdout bytes.Buffer
	if err := rep.Write(&stdout, out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout.String(), "throughput"); n != 2 {
		t.Fatalf("%d tables, want 2:\n%s", n, stdout.String())
	}
	var back Report
	data, err := os.ReadFile(out.JSON)
	if err != nil || json.Unmarshal(data, &back) != nil || len(back.Runs) != 2 || back.Target != "fake" {
		t.Fatalf("JSON report %s: %v", data, err)
	}
	for _, p := range []string{"latency-histogram.svg", "latency-vs-load.svg"} {
		b, err := os.ReadFile(filepath.Join(out.PlotDir, p))
		if err != nil || !bytes.HasPrefix(b, []byte("<?xml")) || !strings.Contains(stdout.String(), p) {
			t.Errorf("plot %s: %v", p, err)
		}
	}
}

// TestRunSweepOnce: without rates the load runs once as given.
func TestRunSweepOnce(t *testing.T) {
	f := newFakePortal()
	o := Options{Target: f.start(t), APIKey: f.key, Users: testUsers(8), Concurrency: 2, Duration: 200 * time.Millisecond}
	var got []*Result
	if err := RunSweep(t.Context(), o, nil, nil, func(r *Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Completed == 0 || got[0].OfferedRate != 0 {
		t.Fatalf("results %+v", got)
	}
}

func TestMachine(t *testing.T) {
	m := Machine()
	if !strings.HasPrefix(m, runtime.GOOS+"/"+runtime.GOARCH) || !strings.Contains(m, runtime.Version()) {
		t.Fatalf("Machine() = %q", m)
	}
}

package bench

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sweepRuns are four open-loop runs whose last one falls behind: the
// knee is at 400/s.
func sweepRuns(t *testing.T) []*Result {
	runs := []*Result{fixedResult(t, 800, 50, 90, 200), fixedResult(t, 100, 3, 4, 5), fixedResult(t, 200, 4, 5, 6), fixedResult(t, 400, 5, 7, 9)}
	for i, tp := range []float64{500, 100, 199, 396} {
		runs[i].Throughput = tp
	}
	return runs
}

func TestKnee(t *testing.T) {
	runs := openRuns(sweepRuns(t))
	if k := Knee(runs); k != 2 || runs[k].OfferedRate != 400 {
		t.Fatalf("knee at %d, want the 400/s run (2)", k)
	}
	// Latency, not only throughput, ends the stretch that keeps up.
	runs[2].Latency[StageEndToEnd] = Summary{Count: 3, P99: 100}
	if k := Knee(runs); k != 1 {
		t.Fatalf("knee at %d after p99 ×20, want 1", k)
	}
	// Even the lightest run falls behind: no knee.
	runs[0].Throughput = 10
	if k := Knee(runs); k != -1 {
		t.Fatalf("knee at %d when nothing keeps up, want -1", k)
	}
}

var svgText = regexp.MustCompile(`<text x="([-0-9.]+)"[^>]*\n?[^>]*>([^<]*)</text>`)

// TestSweepPlotAxesAndKnee: the latency axis is logarithmic with labels
// at 1-2-5 steps through whole decades at both ends, the knee is drawn and
// named, and the legend lies right of the plot, clear of its lines.
func TestSweepPlotAxesAndKnee(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSweepPlot(&buf, sweepRuns(t), "svg"); err != nil {
		t.Fatal(err)
	}
	texts := map[string]float64{}
	for _, m := range svgText.FindAllStringSubmatch(buf.String(), -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		texts[m[2]] = x
	}
	// p50 of the runs spans 4..90 ms, p99.9 up to 200: the axis runs 1 to 1000.
	for _, want := range []string{"1", "2", "5", "10", "20", "50", "100", "200", "500", "1000", "latency (ms, log scale)", "knee 400/s", "End-to-end latency against offered load"} {
		if _, ok := texts[want]; !ok {
			t.Errorf("no text %q in the plot (texts %v)", want, texts)
		}
	}
	for _, absent := range []string{"3", "30", "300"} {
		if _, ok := texts[absent]; ok {
			t.Errorf("log axis labels %q: want 1-2-5 steps only", absent)
		}
	}
	right := texts["800"] // the last load tick
	for _, l := range []string{"p50", "p90", "p99", "p99.9", "knee 400/s"} {
		if x, ok := texts[l]; !ok || x <= right {
			t.Errorf("legend entry %q at x=%v, not right of the plot (last tick at %v)", l, x, right)
		}
	}
	if !strings.Contains(buf.String(), "stroke-dasharray") {
		t.Error("the knee is not drawn as a dashed line")
	}
	var png bytes.Buffer
	if err := WriteSweepPlot(&png, sweepRuns(t), "png"); err != nil || !strings.HasPrefix(png.String(), "\x89PNG") {
		t.Fatalf("png: %v", err)
	}
}

// TestSweepTable: one row per open-loop run by rising load, the knee
// marked on its row only.
func TestSweepTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSweepTable(&buf, sweepRuns(t)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "offered/s") || !strings.Contains(lines[0], "p99.9") {
		t.Fatalf("table:\n%s", buf.String())
	}
	for i, rate := range []string{"100", "200", "400", "800"} {
		f := strings.Fields(lines[i+1])
		if f[0] != rate {
			t.Errorf("row %d starts %q, want %s", i+1, f[0], rate)
		}
		if marked := strings.Contains(lines[i+1], "capacity knee"); marked != (rate == "400") {
			t.Errorf("row %s marked %v", rate, marked)
		}
	}
	if !strings.Contains(lines[3], "396.0") || !strings.Contains(lines[4], "200.1ms") {
		t.Errorf("rows lack the completed rate or the p99:\n%s", buf.String())
	}
	if err := WriteSweepTable(&buf, []*Result{fixedResult(t, 0, 5)}); err == nil {
		t.Error("a table of closed-loop runs only was written")
	}
}

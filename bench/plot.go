package bench

import (
	"errors"
	"fmt"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot sizes: wide enough for a README, small enough to read on a laptop.
const (
	plotW = 16 * vg.Centimeter
	plotH = 10 * vg.Centimeter
)

// plotFormat checks the output format: "svg" or "png".
func plotFormat(f string) error {
	if f != "svg" && f != "png" {
		return fmt.Errorf("bench: plot format %q: want svg or png", f)
	}
	return nil
}

// WriteSweepPlot draws end-to-end latency percentiles (p50, p90, p99,
// p99.9) against the offered load of open-loop runs, one point per run.
func WriteSweepPlot(w io.Writer, runs []*Result, format string) error {
	if err := plotFormat(format); err != nil {
		return err
	}
	var open []*Result
	for _, r := range runs {
		if r.Mode == "open" && r.Latency[StageEndToEnd].Count > 0 {
			open = append(open, r)
		}
	}
	if len(open) == 0 {
		return errors.New("bench: sweep plot: no open-loop run with completed sessions")
	}
	p := plot.New()
	p.Title.Text = "End-to-end latency against offered load"
	p.X.Label.Text = "offered load (sessions/s)"
	p.Y.Label.Text = "latency (ms)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	pick := []struct {
		name string
		get  func(Summary) float64
	}{
		{"p50", func(s Summary) float64 { return s.P50 }},
		{"p90", func(s Summary) float64 { return s.P90 }},
		{"p99", func(s Summary) float64 { return s.P99 }},
		{"p99.9", func(s Summary) float64 { return s.P999 }},
	}
	var args []any
	for _, pk := range pick {
		pts := make(plotter.XYs, len(open))
		for i, r := range open {
			pts[i].X = r.OfferedRate
			pts[i].Y = pk.get(r.Latency[StageEndToEnd])
		}
		args = append(args, pk.name, pts)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return fmt.Errorf("bench: sweep plot: %w", err)
	}
	p.Y.Min = 0
	return writePlot(w, p, format)
}

// WriteHistogramPlot draws the distribution of one stage's latency (up to
// its p99.9, so a few outliers do not squash the body into one bar; the
// title gives the max).
func WriteHistogramPlot(w io.Writer, r *Result, stage, format string) error {
	if err := plotFormat(format); err != nil {
		return err
	}
	h := r.Histogram(stage)
	if h == nil || h.TotalCount() == 0 {
		return fmt.Errorf("bench: histogram plot: no samples for stage %q", stage)
	}
	limit := h.ValueAtQuantile(99.9)
	var pts plotter.XYs
	for _, b := range h.Distribution() {
		if b.Count == 0 || b.From > limit {
			continue
		}
		pts = append(pts, plotter.XY{X: float64(b.From+b.To) / 2000, Y: float64(b.Count)})
	}
	hist, err := plotter.NewHistogram(pts, 60)
	if err != nil {
		return fmt.Errorf("bench: histogram plot: %w", err)
	}
	p := plot.New()
	load := fmt.Sprintf("%d workers", r.Concurrency)
	if r.Mode == "open" {
		load = fmt.Sprintf("%.0f sessions/s offered", r.OfferedRate)
	}
	p.Title.Text = fmt.Sprintf("%s latency, %s (%d sessions, max %s)", stageTitle[stage], load, h.TotalCount(), fmtMs(float64(h.Max())/1000))
	p.X.Label.Text = "latency (ms), up to p99.9"
	p.Y.Label.Text = "sessions"
	p.Add(plotter.NewGrid(), hist)
	return writePlot(w, p, format)
}

func writePlot(w io.Writer, p *plot.Plot, format string) error {
	wt, err := p.WriterTo(plotW, plotH, format)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}

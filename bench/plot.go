package bench

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"sort"
	"strconv"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
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
// p99.9) against the offered load of open-loop runs, one point per run, on
// a logarithmic latency axis (a knee turns latency up by orders of
// magnitude), with the capacity knee (Knee) marked and the legend beside
// the plot rather than over its lines.
func WriteSweepPlot(w io.Writer, runs []*Result, format string) error {
	if err := plotFormat(format); err != nil {
		return err
	}
	open := openRuns(runs)
	if len(open) == 0 {
		return errors.New("bench: sweep plot: no open-loop run with completed sessions")
	}
	p := plot.New()
	p.Title.Text = "End-to-end latency against offered load"
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = "offered load (sessions/s)"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top = true
	lo, hi := math.Inf(1), 0.0
	for i, pk := range percentiles {
		pts := make(plotter.XYs, len(open))
		for k, r := range open {
			pts[k].X = r.OfferedRate
			pts[k].Y = max(pk.get(r.Latency[StageEndToEnd]), minPlotMs)
			lo, hi = min(lo, pts[k].Y), max(hi, pts[k].Y)
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("bench: sweep plot: %w", err)
		}
		l.Color, sc.Color, sc.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, sc)
		leg.Add(pk.name, l, sc)
	}
	// Whole decades at both ends, so the first and last labels are drawn.
	p.Y.Min, p.Y.Max = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min * 10
	}
	// From zero, so the load ticks fall on round numbers, with room
	// right of the last point.
	p.X.Min, p.X.Max = 0, open[len(open)-1].OfferedRate*1.05
	if k := Knee(open); k >= 0 {
		at := open[k].OfferedRate
		knee, err := plotter.NewLine(plotter.XYs{{X: at, Y: p.Y.Min}, {X: at, Y: p.Y.Max}})
		if err != nil {
			return fmt.Errorf("bench: sweep plot: %w", err)
		}
		knee.Color = color.RGBA{R: 200, A: 255}
		knee.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		knee.Width = vg.Points(1.5)
		p.Add(knee)
		leg.Add(fmt.Sprintf("knee %.0f/s", at), knee)
	}
	return writePlotWithLegend(w, p, leg, format)
}

// percentiles are the sweep plot's lines.
var percentiles = []struct {
	name string
	get  func(Summary) float64
}{
	{"p50", func(s Summary) float64 { return s.P50 }},
	{"p90", func(s Summary) float64 { return s.P90 }},
	{"p99", func(s Summary) float64 { return s.P99 }},
	{"p99.9", func(s Summary) float64 { return s.P999 }},
}

// minPlotMs is the least latency a log axis shows (a zero has no place on it).
const minPlotMs = 0.01

// openRuns are the open-loop runs with completed sessions, by offered rate.
func openRuns(runs []*Result) []*Result {
	var open []*Result
	for _, r := range runs {
		if r.Mode == "open" && r.Latency[StageEndToEnd].Count > 0 {
			open = append(open, r)
		}
	}
	sort.SliceStable(open, func(i, j int) bool { return open[i].OfferedRate < open[j].OfferedRate })
	return open
}

// Knee criteria: a run keeps up when it completes this share of the
// offered load and its p99 stays within this factor of the lightest run's.
const (
	kneeThroughput = 0.95
	kneeP99Factor  = 3
)

// Knee returns the index in runs (open-loop, by rising offered rate) of
// the capacity knee: the last run of the leading stretch that keeps up
// (kneeThroughput of the offered load completed, p99 within kneeP99Factor
// of the lightest run's), or -1 when even the lightest does not.
func Knee(runs []*Result) int {
	knee := -1
	for i, r := range runs {
		base := runs[0].Latency[StageEndToEnd].P99
		if r.Throughput < kneeThroughput*r.OfferedRate || r.Latency[StageEndToEnd].P99 > kneeP99Factor*max(base, minPlotMs) {
			break
		}
		knee = i
	}
	return knee
}

// logTicks labels a logarithmic axis at 1, 2 and 5 times each power of
// ten, with unlabelled minor ticks at the other multiples.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for dec := math.Pow(10, math.Floor(math.Log10(lo))); dec <= hi; dec *= 10 {
		for m := 1; m < 10; m++ {
			v := dec * float64(m)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// legendWidth is the strip right of the plot that holds its legend.
const legendWidth = 4 * vg.Centimeter

// writePlotWithLegend draws p in the left part of the image and leg in a
// strip to its right, so no legend covers a line.
func writePlotWithLegend(w io.Writer, p *plot.Plot, leg plot.Legend, format string) error {
	var cw vg.CanvasWriterTo
	switch format {
	case "svg":
		cw = vgsvg.New(plotW, plotH)
	default:
		cw = vgimg.PngCanvas{Canvas: vgimg.New(plotW, plotH)}
	}
	dc := draw.New(cw)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	right := draw.Crop(dc, plotW-legendWidth+vg.Points(6), 0, 0, -vg.Points(28))
	leg.Draw(right)
	_, err := cw.WriteTo(w)
	return err
}

// WriteSweepTable writes the closing table of a sweep: per offered rate,
// the completed rate, end-to-end percentiles and failures, the capacity
// knee marked.
func WriteSweepTable(w io.Writer, runs []*Result) error {
	open := openRuns(runs)
	if len(open) == 0 {
		return errors.New("bench: sweep table: no open-loop run with completed sessions")
	}
	knee := Knee(open)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\tcompleted/s\tp50\tp90\tp99\tp99.9\tfailed\t\t")
	for i, r := range open {
		mark := ""
		if i == knee {
			mark = "<- capacity knee"
		}
		s := r.Latency[StageEndToEnd]
		fmt.Fprintf(tw, "%.0f\t%.1f\t%s\t%s\t%s\t%s\t%d\t%s\t\n", r.OfferedRate, r.Throughput,
			fmtMs(s.P50), fmtMs(s.P90), fmtMs(s.P99), fmtMs(s.P999), r.Failed, mark)
	}
	return tw.Flush()
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

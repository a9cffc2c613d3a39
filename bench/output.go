package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Outputs say where a report goes besides the tables on standard output.
type Outputs struct {
	// JSON, when set, is the file the report is written to.
	JSON string
	// PlotDir, when set, receives latency-histogram.<PlotFormat> of the
	// last run and, with several runs, latency-vs-load.<PlotFormat>.
	PlotDir string
	// PlotFormat is svg or png (default svg).
	PlotFormat string
}

// Write prints the table of every run to w, then writes the JSON file and
// the plots out names, each named on w once written.
func (rep *Report) Write(w io.Writer, out Outputs) error {
	for i, r := range rep.Runs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := r.WriteTable(w); err != nil {
			return err
		}
	}
	if out.JSON != "" {
		if err := WriteFile(out.JSON, rep.WriteJSON); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nreport: %s\n", out.JSON)
	}
	if out.PlotDir == "" || len(rep.Runs) == 0 {
		return nil
	}
	return rep.writePlots(w, out)
}

// writePlots draws the last run's end-to-end histogram and, for a sweep,
// latency against load.
func (rep *Report) writePlots(w io.Writer, out Outputs) error {
	format := out.PlotFormat
	if format == "" {
		format = "svg"
	}
	if err := os.MkdirAll(out.PlotDir, 0o755); err != nil {
		return err
	}
	last := rep.Runs[len(rep.Runs)-1]
	if last.Latency[StageEndToEnd].Count > 0 {
		p := filepath.Join(out.PlotDir, "latency-histogram."+format)
		if err := WriteFile(p, func(f io.Writer) error { return WriteHistogramPlot(f, last, StageEndToEnd, format) }); err != nil {
			return err
		}
		fmt.Fprintf(w, "plot: %s\n", p)
	}
	if len(rep.Runs) > 1 {
		p := filepath.Join(out.PlotDir, "latency-vs-load."+format)
		if err := WriteFile(p, func(f io.Writer) error { return WriteSweepPlot(f, rep.Runs, format) }); err != nil {
			return err
		}
		fmt.Fprintf(w, "plot: %s\n", p)
	}
	return nil
}

// WriteFile creates path (and its directory) and fills it with write.
func WriteFile(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// Machine describes the box the figures come from: OS, architecture,
// CPUs and their model, Go version.
func Machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs %s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, runtime.Version())
}

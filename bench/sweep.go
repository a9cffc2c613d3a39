package bench

import (
	"context"
	"fmt"
	"io"
)

// RunSweep runs the load o once or, with rates, one open loop per rate in
// turn (o.Rate set to each), for a latency-against-load plot. It calls
// each with every result as it comes, including the partial result of a
// run that failed, and stops at the first failure. log, when set, names
// each rate before its run and gets the closing table (WriteSweepTable).
func RunSweep(ctx context.Context, o Options, rates []float64, log io.Writer, each func(*Result)) error {
	if len(rates) == 0 {
		res, err := Run(ctx, o)
		if res != nil {
			each(res)
		}
		return err
	}
	var done []*Result
	for _, rate := range rates {
		if log != nil {
			fmt.Fprintf(log, "sweep: %.0f sessions/s\n", rate)
		}
		oo := o
		oo.Rate = rate
		res, err := Run(ctx, oo)
		if res != nil {
			each(res)
			done = append(done, res)
		}
		if err != nil {
			return err
		}
	}
	if log != nil && len(done) > 0 {
		fmt.Fprintln(log, "sweep: end-to-end latency by offered load")
		_ = WriteSweepTable(log, done)
	}
	return nil
}

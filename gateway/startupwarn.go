package gateway

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// warnUnbound waits startupGrace (or until ctx ends), then logs one
// warning for each operator none of whose binds is up, with the binds'
// addresses and their last errors: the operator's SMSC cannot be reached,
// refuses the credentials, or is not running. Sessions for its numbers
// fail with OPERATOR_UNAVAILABLE meanwhile, and /readyz stays unready.
func (g *Gateway) warnUnbound(ctx context.Context) {
	t := time.NewTimer(startupGrace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	status := g.pool.Status() // the operators' binds, in configuration order
	k := 0
	for _, op := range g.opts.Operators {
		bound := false
		var addrs, errs []string
		for _, b := range op.Binds {
			if k >= len(status) {
				break
			}
			st := status[k]
			k++
			bound = bound || st.Bound
			addrs = append(addrs, b.Addr)
			if st.LastError != "" {
				errs = append(errs, st.LastError)
			}
		}
		if bound {
			continue
		}
		g.log.LogAttrs(ctx, slog.LevelWarn, "operator unreachable: no SMPP bind is up",
			slog.String("operator", op.Name), slog.String("addrs", strings.Join(addrs, ",")),
			slog.String("last_error", strings.Join(errs, "; ")), slog.Duration("after", startupGrace))
	}
}

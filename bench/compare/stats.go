package compare

import (
	"math"
	"sort"
)

// Median is the middle of xs (the mean of the two middle values for an
// even count), NaNs left out; NaN when nothing is left.
func Median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// Ratio is a/b; NaN when b is zero or either is NaN or infinite, so an
// empty run never shows up as a ratio.
func Ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return math.NaN()
	}
	return a / b
}

// perThousand is the CPU seconds per 1,000 messages; NaN without messages.
func perThousand(cpuSeconds float64, messages int64) float64 {
	if messages <= 0 {
		return math.NaN()
	}
	return cpuSeconds / float64(messages) * 1000
}

package trees

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"scanwatch/pkg/learn"
)

// MaxBins is the most histogram bins a feature gets; bin indices fit a byte.
const MaxBins = 255

// binned is a dataset's features bucketed once: each feature's distinct
// values are grouped into at most MaxBins bins, bin b holding the values in
// (upper[b-1], upper[b]]. Every upper bound is a value that occurs in the
// data, so a split "bin <= b" is exactly the real test "x <= upper[b]" and
// the exported model reproduces training decisions bit for bit.
type binned struct {
	n, f   int
	cols   [][]uint8   // cols[f][i]: bin of row i's feature f
	uppers [][]float64 // uppers[f][b]: largest value in bin b
	lo, hi []float64   // each feature's smallest and largest value
	offset []int       // offset[f]: first slot of feature f in a histogram
	total  int         // histogram slots over all features
}

// binDataset buckets d's features. It rejects NaN and infinities: they have
// no place in a quantile and LightGBM would route them differently from us.
func binDataset(d *learn.Dataset) (*binned, error) {
	n, f := d.N(), d.F()
	if n == 0 {
		return nil, fmt.Errorf("trees: empty dataset")
	}
	if f == 0 {
		return nil, fmt.Errorf("trees: dataset has no features")
	}
	if len(d.X) != n*f {
		return nil, fmt.Errorf("trees: dataset has %d values, want %d rows × %d features", len(d.X), n, f)
	}
	for i, y := range d.Y {
		if y != 0 && y != 1 {
			return nil, fmt.Errorf("trees: row %d: label %d is not 0 or 1", i, y)
		}
	}
	b := &binned{n: n, f: f, cols: make([][]uint8, f), uppers: make([][]float64, f), offset: make([]int, f),
		lo: make([]float64, f), hi: make([]float64, f)}
	vals := make([]float64, n)
	for j := 0; j < f; j++ {
		for i := 0; i < n; i++ {
			v := d.X[i*f+j]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("trees: row %d feature %s: value %v is not finite", i, d.Features[j], v)
			}
			vals[i] = v
		}
		slices.Sort(vals)
		b.lo[j], b.hi[j] = vals[0], vals[n-1]
		up := quantileUppers(vals, MaxBins)
		col := make([]uint8, n)
		for i := 0; i < n; i++ {
			col[i] = uint8(sort.SearchFloat64s(up, d.X[i*f+j]))
		}
		b.cols[j], b.uppers[j] = col, up
		b.offset[j] = b.total
		b.total += len(up)
	}
	return b, nil
}

// quantileUppers returns the bin upper bounds for the sorted values: one bin
// per distinct value when they fit, otherwise greedy equal-count bins whose
// target size is recomputed as bins are used up, so a heavy value (say 0)
// takes one bin and the rest are spread evenly over the remainder.
func quantileUppers(sorted []float64, maxBins int) []float64 {
	var distinct []float64
	var counts []int
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			distinct = append(distinct, v)
			counts = append(counts, 0)
		}
		counts[len(counts)-1]++
	}
	if len(distinct) <= maxBins {
		return distinct
	}
	up := make([]float64, 0, maxBins)
	rows, bins, acc := len(sorted), maxBins, 0
	for i, v := range distinct {
		acc += counts[i]
		last := i == len(distinct)-1
		if last || (bins > 1 && float64(acc) >= float64(rows)/float64(bins)) {
			up = append(up, v)
			rows -= acc
			bins--
			acc = 0
		}
	}
	return up
}

// featureInfos is LightGBM's feature_infos value: each feature's training
// range as [min:max], or "none" for a feature with a single value.
func (b *binned) featureInfos() string {
	s := make([]string, b.f)
	for f := range s {
		s[f] = "none"
		if b.lo[f] < b.hi[f] {
			s[f] = "[" + fmtFloat(b.lo[f]) + ":" + fmtFloat(b.hi[f]) + "]"
		}
	}
	return strings.Join(s, " ")
}

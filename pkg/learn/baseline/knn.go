// Package baseline holds simple classifiers that modelpick compares the tree
// learners against: k-nearest neighbours, L2 logistic regression and
// Gaussian naive Bayes. Each implements learn.Classifier.
package baseline

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"scanwatch/pkg/learn"
)

// KNN is k-nearest-neighbours on standardized features with Euclidean
// distance.
//
// The harvester's data has massive ties (thousands of rows with identical
// features), and a k-NN that keeps "the first k" of equally distant rows
// answers differently when the rows are shuffled. This one does not: P(scan)
// is the fraction of scans among every training row whose distance is at
// most the k-th smallest distance, so all rows tied with the k-th neighbour
// vote. The result is a function of the training multiset, not its order:
// identical rows are grouped first (sorted by feature values), and the
// standardization statistics are summed in that sorted order too, so even
// the floating-point rounding does not depend on row order.
type KNN struct {
	K int

	f      int
	mean   []float64
	scale  []float64
	points []float64 // unique standardized vectors, row-major
	pos    []int     // scans among the rows equal to each point
	count  []int     // rows equal to each point
	pool   sync.Pool // *[]neighbour scratch, so Prob can run concurrently
}

// NewKNN returns a k-NN classifier.
func NewKNN(k int) *KNN { return &KNN{K: k} }

// Name implements learn.Classifier.
func (m *KNN) Name() string { return fmt.Sprintf("kNN(%d)", m.K) }

// Fit implements learn.Classifier.
func (m *KNN) Fit(d *learn.Dataset) error {
	if m.K < 1 {
		return fmt.Errorf("kNN: k must be at least 1, got %d", m.K)
	}
	if d.N() == 0 {
		return errors.New("kNN: no training rows")
	}
	f := d.F()
	m.f = f
	idx := make([]int, d.N())
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := slices.Compare(d.Row(a), d.Row(b)); c != 0 {
			return c
		}
		return cmp.Compare(d.Y[a], d.Y[b])
	})
	var raw []float64
	m.pos, m.count = m.pos[:0], m.count[:0]
	for i, r := range idx {
		if i == 0 || !slices.Equal(d.Row(r), d.Row(idx[i-1])) {
			raw = append(raw, d.Row(r)...)
			m.pos = append(m.pos, 0)
			m.count = append(m.count, 0)
		}
		u := len(m.count) - 1
		m.count[u]++
		m.pos[u] += int(d.Y[r])
	}
	m.mean, m.scale = weightedStandardization(raw, m.count, f)
	m.points = raw
	for u := range m.count {
		standardize(m.points[u*f:(u+1)*f], m.mean, m.scale)
	}
	return nil
}

// weightedStandardization returns each feature's mean and standard
// deviation over unique points weighted by their counts; a constant feature
// gets scale 1 so that it contributes nothing instead of dividing by zero.
func weightedStandardization(points []float64, count []int, f int) (mean, scale []float64) {
	mean = make([]float64, f)
	scale = make([]float64, f)
	var n float64
	for u, c := range count {
		n += float64(c)
		for j := 0; j < f; j++ {
			mean[j] += float64(c) * points[u*f+j]
		}
	}
	for j := range mean {
		mean[j] /= n
	}
	for u, c := range count {
		for j := 0; j < f; j++ {
			dx := points[u*f+j] - mean[j]
			scale[j] += float64(c) * dx * dx
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / n)
		if scale[j] == 0 || math.IsNaN(scale[j]) {
			scale[j] = 1
		}
	}
	return mean, scale
}

func standardize(x, mean, scale []float64) {
	for j := range x {
		x[j] = (x[j] - mean[j]) / scale[j]
	}
}

type neighbour struct {
	d2         float64
	pos, count int
}

// Prob implements learn.Classifier.
func (m *KNN) Prob(x []float64) float64 {
	f := m.f
	var q [32]float64
	z := q[:0]
	if f > len(q) {
		z = make([]float64, 0, f)
	}
	z = append(z, x[:f]...)
	standardize(z, m.mean, m.scale)

	bufp, _ := m.pool.Get().(*[]neighbour)
	if bufp == nil {
		bufp = new([]neighbour)
	}
	// near holds the closest groups found so far, sorted by distance, with
	// total count >= K once enough rows were seen, plus everything tied with
	// its farthest member.
	near := (*bufp)[:0]
	total := 0
	for u := range m.count {
		p := m.points[u*f : (u+1)*f]
		var d2 float64
		for j, v := range z {
			dv := v - p[j]
			d2 += dv * dv
		}
		if total >= m.K && d2 > near[len(near)-1].d2 {
			continue
		}
		at, _ := slices.BinarySearchFunc(near, d2, func(n neighbour, t float64) int {
			if n.d2 <= t {
				return -1 // insert after equals: order among ties is irrelevant to the sums
			}
			return 1
		})
		near = slices.Insert(near, at, neighbour{d2: d2, pos: m.pos[u], count: m.count[u]})
		total += m.count[u]
		// Drop the farthest distance group while the rest still holds K rows.
		for {
			last := near[len(near)-1].d2
			g, gc := len(near), 0
			for g > 0 && near[g-1].d2 == last {
				g--
				gc += near[g].count
			}
			if g == 0 || total-gc < m.K {
				break
			}
			near = near[:g]
			total -= gc
		}
	}
	pos := 0
	for _, n := range near {
		pos += n.pos
	}
	*bufp = near
	m.pool.Put(bufp)
	return float64(pos) / float64(total)
}

// Unique is the number of distinct feature vectors the model holds.
func (m *KNN) Unique() int { return len(m.count) }

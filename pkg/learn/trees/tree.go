package trees

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Tree is a binary decision tree in LightGBM's array layout: internal node
// k tests x[SplitFeature[k]] <= Threshold[k] and goes to Left[k] if true,
// Right[k] otherwise; a child c >= 0 is an internal node, c < 0 is leaf ^c.
// Node 0 is the root. A tree without internal nodes has one leaf.
type Tree struct {
	SplitFeature   []int
	SplitGain      []float64
	Threshold      []float64
	Left, Right    []int
	InternalValue  []float64
	InternalWeight []float64
	InternalCount  []int
	LeafValue      []float64
	LeafWeight     []float64
	LeafCount      []int
}

// Predict returns the value of the leaf x falls into. NaN is read as 0,
// as LightGBM (and leaves) do for splits whose missing type is None.
func (t *Tree) Predict(x []float64) float64 {
	return t.LeafValue[t.Leaf(x)]
}

// Leaf returns the index of the leaf x falls into.
func (t *Tree) Leaf(x []float64) int {
	if len(t.SplitFeature) == 0 {
		return 0
	}
	k := 0
	for {
		v := x[t.SplitFeature[k]]
		if v != v {
			v = 0
		}
		if v <= t.Threshold[k] {
			k = t.Left[k]
		} else {
			k = t.Right[k]
		}
		if k < 0 {
			return ^k
		}
	}
}

// criterion scores nodes from their summed per-row statistics g and h
// (gradient and hessian for boosting; label and 1 for classification trees,
// so that g/h is the positive fraction).
type criterion interface {
	// score is the node's quality; a split's gain is the children's scores
	// minus the parent's.
	score(g, h float64) float64
	// value is the node's output.
	value(g, h float64) float64
}

// newton is XGBoost's second-order objective with L2 penalty lambda.
type newton struct{ lambda float64 }

func (c newton) score(g, h float64) float64 { return g * g / (h + c.lambda) }
func (c newton) value(g, h float64) float64 { return -g / (h + c.lambda) }

// gini is weighted Gini impurity reduction; g is the positive count, h the
// total. score = -h·gini = -2g(h-g)/h.
type gini struct{}

func (gini) score(g, h float64) float64 {
	if h == 0 {
		return 0
	}
	return -2 * g * (h - g) / h
}
func (gini) value(g, h float64) float64 { return g / h }

// entropy is log-loss (information gain) reduction, in nats.
type entropy struct{}

func (entropy) score(g, h float64) float64 {
	if h == 0 || g == 0 || g == h {
		return 0
	}
	p := g / h
	return h * (p*math.Log(p) + (1-p)*math.Log(1-p))
}
func (entropy) value(g, h float64) float64 { return g / h }

// growParams bounds one tree.
type growParams struct {
	crit          criterion
	maxDepth      int     // 0 = unlimited
	maxLeaves     int     // 0 = unlimited
	minLeaf       int     // rows per leaf
	minHess       float64 // summed h per leaf
	minGain       float64 // a split must gain more than this
	featuresPerSp int     // features tried per split; 0 = all
	scale         float64 // leaf values are multiplied by this (shrinkage)
}

type binStat struct {
	g, h float64
	n    int
}

type split struct {
	feature, bin int
	gain         float64
	g, h         float64 // left child sums
	n            int
}

type growLeaf struct {
	start, end int // rows idx[start:end]
	depth      int
	g, h       float64
	hist       []binStat
	best       split // best.feature < 0: not splittable
	parent     int   // internal node whose child this leaf is; -1 for root
	isLeft     bool
}

// grower builds trees over one binned dataset, reusing its buffers.
type grower struct {
	b       *binned
	g, h    []float64 // per-row statistics
	idx     []int32
	scratch []int32
	feats   []int
	pool    [][]binStat
	og, oh  []float64 // ordered g, h of the rows being summed
	spare   []binStat // second partial histogram of one feature
}

func newGrower(b *binned) *grower {
	feats := make([]int, b.f)
	for i := range feats {
		feats[i] = i
	}
	return &grower{b: b, feats: feats}
}

func (gr *grower) getHist() []binStat {
	if n := len(gr.pool); n > 0 {
		h := gr.pool[n-1]
		gr.pool = gr.pool[:n-1]
		clear(h)
		return h
	}
	return make([]binStat, gr.b.total)
}

// buildHist sums the rows' statistics into hist. The rows' g and h are
// gathered once into contiguous buffers (LightGBM's ordered gradients).
// Rows alternate between two partial histograms: most rows of a flag
// feature fall in the same bin, and a single accumulator would make every
// add wait for the previous one.
func (gr *grower) buildHist(hist []binStat, rows []int32) {
	n := len(rows)
	if cap(gr.og) < n {
		gr.og, gr.oh = make([]float64, n), make([]float64, n)
	}
	og, oh := gr.og[:n], gr.oh[:n]
	for j, i := range rows {
		og[j], oh[j] = gr.g[i], gr.h[i]
	}
	if cap(gr.spare) < MaxBins {
		gr.spare = make([]binStat, MaxBins)
	}
	for f := 0; f < gr.b.f; f++ {
		col := gr.b.cols[f]
		nb := len(gr.b.uppers[f])
		h0 := hist[gr.b.offset[f] : gr.b.offset[f]+nb]
		h1 := gr.spare[:nb]
		clear(h1)
		j := 0
		for ; j+1 < n; j += 2 {
			a, b := &h0[col[rows[j]]], &h1[col[rows[j+1]]]
			a.g += og[j]
			a.h += oh[j]
			a.n++
			b.g += og[j+1]
			b.h += oh[j+1]
			b.n++
		}
		if j < n {
			a := &h0[col[rows[j]]]
			a.g += og[j]
			a.h += oh[j]
			a.n++
		}
		for k := range h0 {
			h0[k].g += h1[k].g
			h0[k].h += h1[k].h
			h0[k].n += h1[k].n
		}
	}
}

// grow builds a tree on the rows idx (which it reorders so that each leaf's
// rows are contiguous) and returns it with, for each leaf, its rows'
// segment [start, end) of idx. Splits are taken best-first, so with
// maxLeaves = 0 the result equals depth-wise growth.
func (gr *grower) grow(idx []int32, p growParams, rng *rand.Rand) (*Tree, [][2]int) {
	gr.idx = idx
	// The feature sampler shuffles feats in place; start every tree from
	// the same order so a tree depends only on its own generator.
	for i := range gr.feats {
		gr.feats[i] = i
	}
	if cap(gr.scratch) < len(idx) {
		gr.scratch = make([]int32, len(idx))
	}
	root := &growLeaf{start: 0, end: len(idx), parent: -1, hist: gr.getHist()}
	gr.buildHist(root.hist, idx)
	for _, i := range idx {
		root.g += gr.g[i]
		root.h += gr.h[i]
	}
	gr.findSplit(root, p, rng)
	leaves := []*growLeaf{root}
	t := &Tree{}
	for p.maxLeaves == 0 || len(leaves) < p.maxLeaves {
		best := -1
		for k, l := range leaves {
			if l.best.feature >= 0 && (best < 0 || l.best.gain > leaves[best].best.gain) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		l := leaves[best]
		s := l.best
		node := len(t.SplitFeature)
		t.SplitFeature = append(t.SplitFeature, s.feature)
		t.SplitGain = append(t.SplitGain, s.gain)
		t.Threshold = append(t.Threshold, gr.b.uppers[s.feature][s.bin])
		t.Left = append(t.Left, ^best)
		t.Right = append(t.Right, ^len(leaves))
		t.InternalValue = append(t.InternalValue, p.crit.value(l.g, l.h)*p.scale)
		t.InternalWeight = append(t.InternalWeight, l.h)
		t.InternalCount = append(t.InternalCount, l.end-l.start)
		if l.parent >= 0 {
			if l.isLeft {
				t.Left[l.parent] = node
			} else {
				t.Right[l.parent] = node
			}
		}
		// Stable partition keeps rows ascending within each leaf, which
		// keeps histogram sums in a fixed order and memory access linear.
		col := gr.b.cols[s.feature]
		seg := idx[l.start:l.end]
		nl, nr := 0, 0
		for _, i := range seg {
			if int(col[i]) <= s.bin {
				seg[nl] = i
				nl++
			} else {
				gr.scratch[nr] = i
				nr++
			}
		}
		copy(seg[nl:], gr.scratch[:nr])
		left := &growLeaf{start: l.start, end: l.start + nl, depth: l.depth + 1, g: s.g, h: s.h, parent: node, isLeft: true}
		right := &growLeaf{start: l.start + nl, end: l.end, depth: l.depth + 1, g: l.g - s.g, h: l.h - s.h, parent: node}
		// Histogram subtraction: sum the smaller child, derive the larger.
		small, large := left, right
		if nr < nl {
			small, large = right, left
		}
		small.hist = gr.getHist()
		gr.buildHist(small.hist, idx[small.start:small.end])
		large.hist = l.hist
		for k := range large.hist {
			large.hist[k].g -= small.hist[k].g
			large.hist[k].h -= small.hist[k].h
			large.hist[k].n -= small.hist[k].n
		}
		leaves[best] = left
		leaves = append(leaves, right)
		gr.findSplit(left, p, rng)
		gr.findSplit(right, p, rng)
	}
	segs := make([][2]int, len(leaves))
	t.LeafValue = make([]float64, len(leaves))
	t.LeafWeight = make([]float64, len(leaves))
	t.LeafCount = make([]int, len(leaves))
	for k, l := range leaves {
		t.LeafValue[k] = p.crit.value(l.g, l.h) * p.scale
		t.LeafWeight[k] = l.h
		t.LeafCount[k] = l.end - l.start
		segs[k] = [2]int{l.start, l.end}
		if l.hist != nil {
			gr.pool = append(gr.pool, l.hist)
		}
	}
	return t, segs
}

// findSplit sets l.best to the best split of leaf l, or feature -1.
// Ties go to the lowest feature (in the tried order), then the lowest bin.
func (gr *grower) findSplit(l *growLeaf, p growParams, rng *rand.Rand) {
	l.best = split{feature: -1}
	n := l.end - l.start
	if (p.maxDepth > 0 && l.depth >= p.maxDepth) || n < 2*p.minLeaf || n < 2 {
		gr.release(l)
		return
	}
	feats := gr.feats
	if p.featuresPerSp > 0 && p.featuresPerSp < len(feats) {
		// Partial Fisher-Yates: the first k entries are a uniform sample;
		// sorting them restores a rng-independent tie order.
		for k := 0; k < p.featuresPerSp; k++ {
			j := k + rng.IntN(len(feats)-k)
			feats[k], feats[j] = feats[j], feats[k]
		}
		feats = slices.Clone(feats[:p.featuresPerSp])
		slices.Sort(feats)
	}
	parent := p.crit.score(l.g, l.h)
	bestGain := p.minGain
	for _, f := range feats {
		nb := len(gr.b.uppers[f])
		hs := l.hist[gr.b.offset[f] : gr.b.offset[f]+nb]
		var gl, hl float64
		nl := 0
		for b := 0; b < nb-1; b++ {
			gl += hs[b].g
			hl += hs[b].h
			nl += hs[b].n
			if hs[b].n == 0 || nl < p.minLeaf || hl < p.minHess {
				continue
			}
			nr := n - nl
			if nr < p.minLeaf {
				break
			}
			hr := l.h - hl
			if hr < p.minHess {
				break
			}
			gain := p.crit.score(gl, hl) + p.crit.score(l.g-gl, hr) - parent
			if gain > bestGain {
				bestGain = gain
				l.best = split{feature: f, bin: b, gain: gain, g: gl, h: hl, n: nl}
			}
		}
	}
	if l.best.feature < 0 {
		gr.release(l)
	}
}

// release returns an unsplittable leaf's histogram to the pool.
func (gr *grower) release(l *growLeaf) {
	if l.hist != nil {
		gr.pool = append(gr.pool, l.hist)
		l.hist = nil
	}
}

package trees

import (
	"fmt"
	"math"
	"math/rand/v2"

	"scanwatch/pkg/learn"
)

// GBDT is gradient boosting of histogram trees on binary log-loss, with
// XGBoost's split gain and L2-regularised Newton leaf values. The zero value
// is usable: unset parameters take the defaults below (XGBoost-like, except
// that the first tree starts from the training log-odds as LightGBM does).
//
// MinGain is LightGBM's min_gain_to_split (XGBoost's gamma is half of it).
// XGBoost defaults to 0, but on the harvester's training set late rounds then
// keep splitting on the few rows whose features occur under both labels:
// the default of 1 cuts the nodes a prediction visits from ~930 to ~240 per
// row (4× faster scoring) with the same 5-fold accuracy (0.9894).
type GBDT struct {
	Trees          int     // boosting rounds; default 210
	LearningRate   float64 // shrinkage; default 0.1
	MaxDepth       int     // default 6; < 0 = unlimited
	NumLeaves      int     // leaves per tree; 0 = limited by depth only
	MinLeaf        int     // rows per leaf; default 1
	MinChildWeight float64 // summed hessian per leaf; default 1
	Lambda         float64 // L2 on leaf values; default 1; < 0 = none
	MinGain        float64 // a split must gain more; default 1; < 0 = none (see below)
	Seed           int64   // unused by the algorithm (no sampling) but recorded

	features []string
	infos    string // LightGBM feature_infos of the training set
	trees    []*Tree
	params   growParams
}

// NewGBDT returns a GBDT with n trees and default parameters.
func NewGBDT(n int) *GBDT { return &GBDT{Trees: n} }

func (m *GBDT) defaults() {
	if m.Trees <= 0 {
		m.Trees = 210
	}
	if m.LearningRate <= 0 {
		m.LearningRate = 0.1
	}
	if m.MaxDepth == 0 {
		m.MaxDepth = 6
	}
	if m.MinLeaf <= 0 {
		m.MinLeaf = 1
	}
	if m.MinChildWeight == 0 {
		m.MinChildWeight = 1
	}
	if m.Lambda == 0 {
		m.Lambda = 1
	}
	if m.MinGain == 0 {
		m.MinGain = 1
	}
}

// Name implements learn.Classifier.
func (m *GBDT) Name() string {
	n := m.Trees
	if n <= 0 {
		n = 210
	}
	return fmt.Sprintf("GBDT(%d)", n)
}

// Fit implements learn.Classifier.
func (m *GBDT) Fit(d *learn.Dataset) error {
	m.defaults()
	b, err := binDataset(d)
	if err != nil {
		return err
	}
	n := d.N()
	pos := 0
	for _, y := range d.Y {
		pos += int(y)
	}
	// Start from the log-odds of the base rate, clamped so a one-class
	// set still gives finite values.
	p0 := math.Min(math.Max(float64(pos)/float64(n), 1e-15), 1-1e-15)
	init := math.Log(p0 / (1 - p0))

	gr := newGrower(b)
	gr.g, gr.h = make([]float64, n), make([]float64, n)
	margin := make([]float64, n)
	for i := range margin {
		margin[i] = init
	}
	maxDepth := m.MaxDepth
	if maxDepth < 0 {
		maxDepth = 0
	}
	lambda := math.Max(m.Lambda, 0)
	m.params = growParams{
		crit: newton{lambda: lambda}, maxDepth: maxDepth, maxLeaves: m.NumLeaves,
		minLeaf: m.MinLeaf, minHess: m.MinChildWeight, minGain: math.Max(m.MinGain, 0), scale: m.LearningRate,
	}
	rng := rand.New(rand.NewPCG(uint64(m.Seed), 0x5ca9))
	idx := make([]int32, n)
	m.features = d.Features
	m.infos = b.featureInfos()
	m.trees = m.trees[:0]
	for it := 0; it < m.Trees; it++ {
		for i := 0; i < n; i++ {
			p := sigmoid(margin[i])
			gr.g[i] = p - float64(d.Y[i])
			h := p * (1 - p)
			if h < 1e-16 {
				h = 1e-16
			}
			gr.h[i] = h
		}
		for i := range idx {
			idx[i] = int32(i)
		}
		t, segs := gr.grow(idx, m.params, rng)
		if it == 0 {
			// Like LightGBM, fold the initial score into the first tree so
			// the exported model is just the sum of its trees.
			for k := range t.LeafValue {
				t.LeafValue[k] += init
			}
			for k := range t.InternalValue {
				t.InternalValue[k] += init
			}
			for i := range margin {
				margin[i] = 0
			}
		}
		for k, s := range segs {
			v := t.LeafValue[k]
			for _, i := range idx[s[0]:s[1]] {
				margin[i] += v
			}
		}
		m.trees = append(m.trees, t)
	}
	m.foldConstantTrees()
	return nil
}

// foldConstantTrees moves the value of every single-leaf tree after the
// first into the first tree's leaves and drops it. Once no split gains
// enough, boosting only shifts the bias for the remaining rounds (on the harvester's
// set ~120 of 210 rounds), and each such tree still costs a scorer a call
// per row. The function is unchanged up to rounding; LightGBM itself stops
// boosting at the first round without a split.
func (m *GBDT) foldConstantTrees() {
	if len(m.trees) < 2 {
		return
	}
	bias := 0.0
	kept := m.trees[:1]
	for _, t := range m.trees[1:] {
		if len(t.SplitFeature) == 0 {
			bias += t.LeafValue[0]
			continue
		}
		kept = append(kept, t)
	}
	if len(kept) == len(m.trees) {
		return
	}
	first := m.trees[0]
	for k := range first.LeafValue {
		first.LeafValue[k] += bias
	}
	for k := range first.InternalValue {
		first.InternalValue[k] += bias
	}
	m.trees = kept
}

// Margin returns the raw score (log-odds) for x.
func (m *GBDT) Margin(x []float64) float64 {
	s := 0.0
	for _, t := range m.trees {
		s += t.Predict(x)
	}
	return s
}

// Prob implements learn.Classifier; NaN before Fit.
func (m *GBDT) Prob(x []float64) float64 {
	if len(m.trees) == 0 {
		return math.NaN()
	}
	return sigmoid(m.Margin(x))
}

// TreeList returns the fitted trees (shared, do not modify): one per round,
// except that rounds without a split are folded into the first tree.
func (m *GBDT) TreeList() []*Tree { return m.trees }

func sigmoid(x float64) float64 { return 1.0 / (1.0 + math.Exp(-x)) }

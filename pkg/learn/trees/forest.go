package trees

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"scanwatch/pkg/learn"
)

// RandomForest averages classification trees grown on bootstrap samples,
// trying a random subset of features at each split. Prob is the mean of
// the trees' leaf probabilities (the positive fraction in the leaf).
type RandomForest struct {
	Trees       int   // default 100
	MaxDepth    int   // 0 = unlimited
	MinLeaf     int   // rows per leaf; default 1
	MaxFeatures int   // features tried per split; default floor(sqrt(F)), at least 1
	Entropy     bool  // split on log-loss gain instead of Gini
	Seed        int64 // bootstrap and feature sampling

	features []string
	infos    string // LightGBM feature_infos of the training set
	trees    []*Tree
}

// NewRandomForest returns a forest of n trees with default parameters.
func NewRandomForest(n int) *RandomForest { return &RandomForest{Trees: n} }

// Name implements learn.Classifier.
func (m *RandomForest) Name() string {
	n := m.Trees
	if n <= 0 {
		n = 100
	}
	return fmt.Sprintf("RandomForest(%d)", n)
}

// Fit implements learn.Classifier. Trees are grown in parallel, each from
// its own generator derived from Seed and its index, so the result does not
// depend on scheduling.
func (m *RandomForest) Fit(d *learn.Dataset) error {
	if m.Trees <= 0 {
		m.Trees = 100
	}
	if m.MinLeaf <= 0 {
		m.MinLeaf = 1
	}
	b, err := binDataset(d)
	if err != nil {
		return err
	}
	mtry := m.MaxFeatures
	if mtry <= 0 {
		mtry = max(1, int(math.Sqrt(float64(d.F()))))
	}
	p := growParams{crit: crit(m.Entropy), maxDepth: max(m.MaxDepth, 0), minLeaf: m.MinLeaf, featuresPerSp: mtry, scale: 1}
	n := d.N()
	g, h := make([]float64, n), make([]float64, n)
	for i, y := range d.Y {
		g[i], h[i] = float64(y), 1
	}
	m.features = d.Features
	m.infos = b.featureInfos()
	m.trees = make([]*Tree, m.Trees)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), m.Trees); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gr := newGrower(b)
			gr.g, gr.h = g, h
			idx := make([]int32, n)
			for k := range next {
				rng := rand.New(rand.NewPCG(uint64(m.Seed), uint64(k)+1))
				for i := range idx {
					idx[i] = int32(rng.IntN(n))
				}
				slices.Sort(idx)
				m.trees[k], _ = gr.grow(idx, p, rng)
			}
		}()
	}
	for k := 0; k < m.Trees; k++ {
		next <- k
	}
	close(next)
	wg.Wait()
	return nil
}

// Prob implements learn.Classifier; NaN before Fit. The sum is scaled term by term, as
// leaves does for LightGBM's average_output, so both agree to the last bit.
func (m *RandomForest) Prob(x []float64) float64 {
	if len(m.trees) == 0 {
		return math.NaN()
	}
	coef := 1.0 / float64(len(m.trees))
	s := 0.0
	for _, t := range m.trees {
		s += t.Predict(x) * coef
	}
	return s
}

// TreeList returns the fitted trees (shared, do not modify).
func (m *RandomForest) TreeList() []*Tree { return m.trees }

func crit(entropyGain bool) criterion {
	if entropyGain {
		return entropy{}
	}
	return gini{}
}

// DecisionTree is a single classification tree on all rows and features;
// Prob is the positive fraction of the leaf.
type DecisionTree struct {
	MaxDepth int  // 0 = unlimited
	MinLeaf  int  // rows per leaf; default 1
	Entropy  bool // split on log-loss gain instead of Gini

	features []string
	infos    string // LightGBM feature_infos of the training set
	tree     *Tree
}

// Name implements learn.Classifier.
func (m *DecisionTree) Name() string {
	if m.MaxDepth > 0 {
		return fmt.Sprintf("DecisionTree(depth %d)", m.MaxDepth)
	}
	return "DecisionTree"
}

// Fit implements learn.Classifier.
func (m *DecisionTree) Fit(d *learn.Dataset) error {
	if m.MinLeaf <= 0 {
		m.MinLeaf = 1
	}
	b, err := binDataset(d)
	if err != nil {
		return err
	}
	n := d.N()
	gr := newGrower(b)
	gr.g, gr.h = make([]float64, n), make([]float64, n)
	idx := make([]int32, n)
	for i, y := range d.Y {
		gr.g[i], gr.h[i] = float64(y), 1
		idx[i] = int32(i)
	}
	p := growParams{crit: crit(m.Entropy), maxDepth: max(m.MaxDepth, 0), minLeaf: m.MinLeaf, scale: 1}
	m.features = d.Features
	m.infos = b.featureInfos()
	m.tree, _ = gr.grow(idx, p, nil)
	return nil
}

// Prob implements learn.Classifier; NaN before Fit.
func (m *DecisionTree) Prob(x []float64) float64 {
	if m.tree == nil {
		return math.NaN()
	}
	return m.tree.Predict(x)
}

// Tree returns the fitted tree (shared, do not modify).
func (m *DecisionTree) Tree() *Tree { return m.tree }

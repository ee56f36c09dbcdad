package trees

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"scanwatch/pkg/learn"
)

// threshold returns rows x = 1..6 (each rep times) labelled x > 3.
func threshold(rep int) *learn.Dataset {
	d := &learn.Dataset{Features: []string{"x"}}
	for x := 1; x <= 6; x++ {
		for r := 0; r < rep; r++ {
			d.X = append(d.X, float64(x))
			d.Y = append(d.Y, b2i(x > 3))
		}
	}
	return d
}

func b2i(b bool) int8 {
	if b {
		return 1
	}
	return 0
}

func TestDecisionTreeThreshold(t *testing.T) {
	m := &DecisionTree{}
	if err := m.Fit(threshold(1)); err != nil {
		t.Fatal(err)
	}
	tr := m.Tree()
	// One split at the largest negative value, x <= 3, into pure leaves.
	want := &Tree{
		SplitFeature: []int{0}, SplitGain: []float64{3}, Threshold: []float64{3},
		Left: []int{^0}, Right: []int{^1},
		InternalValue: []float64{0.5}, InternalWeight: []float64{6}, InternalCount: []int{6},
		LeafValue: []float64{0, 1}, LeafWeight: []float64{3, 3}, LeafCount: []int{3, 3},
	}
	assertTree(t, tr, want)
	for _, c := range []struct{ x, p float64 }{{-10, 0}, {3, 0}, {3.0000001, 1}, {100, 1}, {math.NaN(), 0}} {
		if got := m.Prob([]float64{c.x}); got != c.p {
			t.Errorf("Prob(%v) = %v, want %v", c.x, got, c.p)
		}
	}
}

// TestDecisionTreeAnd: y = a AND b. Both features gain the same at the root;
// the tie goes to the first feature, then b splits the a=1 side.
func TestDecisionTreeAnd(t *testing.T) {
	d := &learn.Dataset{Features: []string{"a", "b"}}
	for _, ab := range [][2]float64{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
		for r := 0; r < 2; r++ {
			d.X = append(d.X, ab[0], ab[1])
			d.Y = append(d.Y, b2i(ab[0] == 1 && ab[1] == 1))
		}
	}
	for _, ent := range []bool{false, true} {
		m := &DecisionTree{Entropy: ent}
		if err := m.Fit(d); err != nil {
			t.Fatal(err)
		}
		tr := m.Tree()
		if !slices.Equal(tr.SplitFeature, []int{0, 1}) || !slices.Equal(tr.Threshold, []float64{0, 0}) ||
			!slices.Equal(tr.Left, []int{^0, ^1}) || !slices.Equal(tr.Right, []int{1, ^2}) ||
			!slices.Equal(tr.LeafValue, []float64{0, 0, 1}) || !slices.Equal(tr.LeafCount, []int{4, 2, 2}) {
			t.Errorf("entropy=%v: tree %+v", ent, tr)
		}
		for i := 0; i < d.N(); i++ {
			if got := m.Prob(d.Row(i)); got != float64(d.Y[i]) {
				t.Errorf("entropy=%v: row %v: Prob %v, want %v", ent, d.Row(i), got, d.Y[i])
			}
		}
	}
}

// TestDecisionTreeXOR: y = a XOR b has no single split with positive gain,
// so a greedy tree must stay a single leaf at the base rate.
func TestDecisionTreeXOR(t *testing.T) {
	d := &learn.Dataset{Features: []string{"a", "b"},
		X: []float64{0, 0, 0, 1, 1, 0, 1, 1}, Y: []int8{0, 1, 1, 0}}
	m := &DecisionTree{}
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	if tr := m.Tree(); len(tr.SplitFeature) != 0 || !slices.Equal(tr.LeafValue, []float64{0.5}) {
		t.Errorf("tree %+v, want one leaf of 0.5", tr)
	}
}

// TestGBDTFirstTree checks boosting's first round by hand: 24 rows, half
// positive, so the initial log-odds is 0, p = 0.5, g = p - y = ±0.5 and
// h = 0.25. Splitting at x <= 3 gives G = ±6, H = 3 per side: gain
// 36/4 + 36/4 - 0 = 18 and leaf values ∓6/(3+1)·0.1 = ∓0.15.
func TestGBDTFirstTree(t *testing.T) {
	m := &GBDT{Trees: 3, MaxDepth: 3}
	if err := m.Fit(threshold(4)); err != nil {
		t.Fatal(err)
	}
	tr := m.TreeList()[0]
	want := &Tree{
		SplitFeature: []int{0}, SplitGain: []float64{18}, Threshold: []float64{3},
		Left: []int{^0}, Right: []int{^1},
		InternalValue: []float64{0}, InternalWeight: []float64{6}, InternalCount: []int{24},
		LeafValue: []float64{-0.15, 0.15}, LeafWeight: []float64{3, 3}, LeafCount: []int{12, 12},
	}
	assertTree(t, tr, want)
	if len(m.TreeList()) != 3 {
		t.Fatalf("%d trees, want 3", len(m.TreeList()))
	}
	// Later rounds keep splitting at 3 and push the margins further apart.
	lo, hi := m.Prob([]float64{3}), m.Prob([]float64{4})
	if !(lo < 0.5-0.15/4 && hi > 0.5+0.15/4 && math.Abs(lo+hi-1) < 1e-12) {
		t.Errorf("Prob(3) = %v, Prob(4) = %v: want symmetric and beyond one round", lo, hi)
	}
}

func assertTree(t *testing.T, got, want *Tree) {
	t.Helper()
	eqF := func(name string, a, b []float64) {
		if len(a) != len(b) {
			t.Errorf("%s = %v, want %v", name, a, b)
			return
		}
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-12 {
				t.Errorf("%s = %v, want %v", name, a, b)
				return
			}
		}
	}
	eqI := func(name string, a, b []int) {
		if !slices.Equal(a, b) {
			t.Errorf("%s = %v, want %v", name, a, b)
		}
	}
	eqI("SplitFeature", got.SplitFeature, want.SplitFeature)
	eqF("SplitGain", got.SplitGain, want.SplitGain)
	eqF("Threshold", got.Threshold, want.Threshold)
	eqI("Left", got.Left, want.Left)
	eqI("Right", got.Right, want.Right)
	eqF("InternalValue", got.InternalValue, want.InternalValue)
	eqF("InternalWeight", got.InternalWeight, want.InternalWeight)
	eqI("InternalCount", got.InternalCount, want.InternalCount)
	eqF("LeafValue", got.LeafValue, want.LeafValue)
	eqF("LeafWeight", got.LeafWeight, want.LeafWeight)
	eqI("LeafCount", got.LeafCount, want.LeafCount)
}

func TestQuantileUppers(t *testing.T) {
	// 1000 zeros then 1..2000: zero gets a bin of its own, the rest share
	// the other 254 evenly, and every bound is a value of the data.
	var vals []float64
	for i := 0; i < 1000; i++ {
		vals = append(vals, 0)
	}
	for i := 1; i <= 2000; i++ {
		vals = append(vals, float64(i))
	}
	up := quantileUppers(vals, MaxBins)
	if len(up) > MaxBins || len(up) < MaxBins-1 {
		t.Fatalf("%d bins, want about %d", len(up), MaxBins)
	}
	if up[0] != 0 || up[len(up)-1] != 2000 || !slices.IsSorted(up) {
		t.Errorf("bounds %v…%v", up[:3], up[len(up)-3:])
	}
	for b := 2; b < len(up); b++ {
		if w := up[b] - up[b-1]; w < 7 || w > 9 {
			t.Errorf("bin %d width %v, want about 2000/254", b, w)
		}
	}
	if got := quantileUppers([]float64{1, 1, 2, 5}, MaxBins); !slices.Equal(got, []float64{1, 2, 5}) {
		t.Errorf("few values: %v, want one bin per distinct value", got)
	}
}

func TestFitRejectsBadData(t *testing.T) {
	for name, d := range map[string]*learn.Dataset{
		"empty":    {Features: []string{"x"}},
		"NaN":      {Features: []string{"x"}, X: []float64{1, math.NaN()}, Y: []int8{0, 1}},
		"Inf":      {Features: []string{"x"}, X: []float64{math.Inf(1), 1}, Y: []int8{0, 1}},
		"label 2":  {Features: []string{"x"}, X: []float64{1, 2}, Y: []int8{0, 2}},
		"short X":  {Features: []string{"x", "y"}, X: []float64{1, 2}, Y: []int8{0, 1}},
		"features": {X: []float64{}, Y: []int8{0}},
	} {
		for _, m := range []learn.Classifier{NewGBDT(2), NewRandomForest(2), &DecisionTree{}} {
			if err := m.Fit(d); err == nil {
				t.Errorf("%s: %s.Fit succeeded", name, m.Name())
			} else if !strings.HasPrefix(err.Error(), "trees: ") {
				t.Errorf("%s: %s: error %q", name, m.Name(), err)
			}
		}
	}
}

func TestUnfittedExport(t *testing.T) {
	for _, m := range []learn.Exporter{NewGBDT(2), NewRandomForest(2), &DecisionTree{}} {
		if err := m.WriteLightGBM(&bytes.Buffer{}); err == nil {
			t.Errorf("%s: exported before Fit", m.Name())
		}
		if p := m.Prob([]float64{1}); !math.IsNaN(p) {
			t.Errorf("%s: Prob before Fit = %v, want NaN", m.Name(), p)
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		m    learn.Classifier
		want string
	}{{NewGBDT(210), "GBDT(210)"}, {&GBDT{}, "GBDT(210)"}, {NewRandomForest(50), "RandomForest(50)"},
		{&DecisionTree{}, "DecisionTree"}, {&DecisionTree{MaxDepth: 4}, "DecisionTree(depth 4)"}} {
		if got := c.m.Name(); got != c.want {
			t.Errorf("Name() = %q, want %q", got, c.want)
		}
	}
}

// TestFoldConstantTrees: single-leaf rounds after the first fold into the
// first tree without changing scores beyond rounding.
func TestFoldConstantTrees(t *testing.T) {
	d := threshold(4)
	m := &GBDT{Trees: 4}
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	before := map[float64]float64{}
	for _, x := range []float64{1, 3, 4, 6} {
		before[x] = m.Margin([]float64{x})
	}
	n := len(m.TreeList())
	m.trees = append(m.trees, &Tree{LeafValue: []float64{0.25}}, &Tree{LeafValue: []float64{-0.125}})
	m.foldConstantTrees()
	if len(m.TreeList()) != n {
		t.Errorf("%d trees after folding, want %d", len(m.TreeList()), n)
	}
	for x, b := range before {
		if got := m.Margin([]float64{x}); math.Abs(got-(b+0.125)) > 1e-12 {
			t.Errorf("Margin(%v) = %v, want %v", x, got, b+0.125)
		}
	}
}

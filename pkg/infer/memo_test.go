package infer

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// memoProbe returns vectors that sit on, just below and just above every
// split threshold of p, plus zeros of both signs, values leaves takes for
// zero, NaN and infinities, mixed at random across features: the values
// where a wrong cell key would show.
func memoProbe(p *Predictor, rng *rand.Rand, n int) []float64 {
	nf := len(p.Features())
	var pool [][]float64
	for f := 0; f < nf; f++ {
		vals := []float64{0, math.Copysign(0, -1), 1e-36, -1e-36, 1e-35, -1e-35, math.NaN(), math.Inf(1), math.Inf(-1), 1, -1}
		if p.thresholds != nil { // else no cells: the memo passes every row to leaves
			for _, t := range p.thresholds[f] {
				vals = append(vals, t, math.Nextafter(t, math.Inf(-1)), math.Nextafter(t, math.Inf(1)))
			}
		}
		pool = append(pool, vals)
	}
	x := make([]float64, 0, n*nf)
	for i := 0; i < n; i++ {
		for f := 0; f < nf; f++ {
			x = append(x, pool[f][rng.IntN(len(pool[f]))])
		}
	}
	return x
}

// sameScores fails unless the memo gives exactly leaves' scores for x,
// on a cold memo and again once every cell is known.
func sameScores(t *testing.T, name string, p *Predictor, m *Memo, x []float64) {
	t.Helper()
	n := len(x) / len(p.Features())
	want, got := make([]float64, n), make([]float64, n)
	if err := p.ProbBatch(x, want); err != nil {
		t.Fatal(err)
	}
	for pass := 1; pass <= 2; pass++ {
		if err := m.ProbBatch(x, got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				nf := len(p.Features())
				t.Fatalf("%s pass %d row %d %v: memo %v, leaves %v", name, pass, i, x[i*nf:(i+1)*nf], got[i], want[i])
			}
		}
	}
}

// TestMemoExact: the memo's scores are leaves' scores, bit for bit, for
// models LightGBM made (dart with NaN/zero missing handling, random
// forest), on their test rows and on vectors built to hit every threshold
// and every special value. (trees' TestMemoOnExport holds it to our own
// export.)
func TestMemoExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := filepath.Join("testdata", "lightgbm")
	for _, c := range []struct{ model, rows string }{
		{"lg_dart_breast_cancer.model", "breast_cancer_test.tsv"},
		{"lg_rf_iris.model", ""},
	} {
		p := openTestModel(t, c.model)
		if p.thresholds == nil {
			t.Fatalf("%s: no thresholds read", c.model)
		}
		m := p.NewMemo()
		if c.rows != "" {
			var x []float64
			for _, r := range readFloats(t, filepath.Join(dir, c.rows), parseFields(t)) {
				x = append(x, r...)
			}
			sameScores(t, c.model+" test rows", p, m, x)
		}
		sameScores(t, c.model+" probes", p, m, memoProbe(p, rng, 20000))
	}
}

// TestMemoBounded: past memoCap cells the memo starts afresh and still
// answers right.
func TestMemoBounded(t *testing.T) {
	p := openTestModel(t, "lg_dart_breast_cancer.model")
	m := p.NewMemo()
	x := memoProbe(p, rand.New(rand.NewPCG(3, 4)), 3*memoCap)
	sameScores(t, "many cells", p, m, x)
	if len(m.cells) > memoCap {
		t.Errorf("memo holds %d cells, cap %d", len(m.cells), memoCap)
	}
}

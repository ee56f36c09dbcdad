package trees

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"scanwatch/pkg/infer"
	"scanwatch/pkg/learn"
)

// exportAndLoad writes m and reads it back through leaves.
func exportAndLoad(t *testing.T, m learn.Exporter) (*infer.Predictor, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := m.WriteLightGBM(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := infer.LoadLightGBM(bytes.NewReader(buf.Bytes()), "model.txt")
	if err != nil {
		t.Fatalf("%s: leaves rejects our export: %v\n%s", m.Name(), err, head(buf.String(), 40))
	}
	return p, buf.Bytes()
}

func head(s string, lines int) string {
	l := strings.SplitN(s, "\n", lines+1)
	return strings.Join(l[:min(lines, len(l))], "\n")
}

// assertSameScores checks leaves on the exported model against the
// trainer's own Prob on every row, one by one and in a batch.
func assertSameScores(t *testing.T, m learn.Classifier, p *infer.Predictor, d *learn.Dataset) {
	t.Helper()
	batch := make([]float64, d.N())
	if err := p.ProbBatch(d.X, batch); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i := 0; i < d.N(); i++ {
		want := m.Prob(d.Row(i))
		if got := p.Prob(d.Row(i)); math.Abs(got-want) > 1e-9 || math.Abs(batch[i]-want) > 1e-9 {
			if bad++; bad <= 5 {
				t.Errorf("%s row %d %v: leaves %v (batch %v), trainer %v", m.Name(), i, d.Row(i), got, batch[i], want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d rows differ", m.Name(), bad, d.N())
	}
}

func TestExportGBDTMatchesLeaves(t *testing.T) {
	t.Parallel()
	d := loadHarvesterSample(t)
	m := NewGBDT(210)
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	p, text := exportAndLoad(t, m)
	n := len(m.TreeList())
	if p.NTrees() != n || n < 20 || n > 210 || p.Name() != "lightgbm.gbdt" || strings.Join(p.Features(), " ") != "duration SYN ACK FIN RST URG PSH" {
		t.Errorf("loaded %s with %d trees, features %v", p.Name(), p.NTrees(), p.Features())
	}
	assertSameScores(t, m, p, d)
	for _, want := range []string{"tree\nversion=v3\n", "\nobjective=binary sigmoid:1\n", "\nmax_feature_idx=6\n",
		"\nfeature_names=duration SYN ACK FIN RST URG PSH\n", fmt.Sprintf("\nTree=%d\n", n-1), "\nend of trees\n", "\nend of parameters\n"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("export lacks %q", want)
		}
	}
}

// TestMemoOnExport: scanclass's memo gives leaves' scores, bit for bit,
// for our exported GBDT on the predecessor's rows, which fall into few
// cells: most rows are answered from the memo even on the first pass.
func TestMemoOnExport(t *testing.T) {
	t.Parallel()
	d := loadHarvesterSample(t)
	g := NewGBDT(210)
	if err := g.Fit(d); err != nil {
		t.Fatal(err)
	}
	p, _ := exportAndLoad(t, g)
	m := p.NewMemo()
	want, got := make([]float64, d.N()), make([]float64, d.N())
	if err := p.ProbBatch(d.X, want); err != nil {
		t.Fatal(err)
	}
	for pass := 1; pass <= 2; pass++ {
		if err := m.ProbBatch(d.X, got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("pass %d row %d %v: memo %v, leaves %v", pass, i, d.Row(i), got[i], want[i])
			}
		}
	}
	hits, misses := m.Stats()
	if n := int64(d.N()); hits < n+n/2 || hits+misses != 2*n {
		t.Errorf("two passes: %d hits, %d misses of %d rows", hits, misses, 2*n)
	}
	t.Logf("first pass: %d cells for %d rows", misses, d.N())
}

func TestExportForestMatchesLeaves(t *testing.T) {
	t.Parallel()
	d := loadHarvesterSample(t)
	for _, m := range []learn.Exporter{&RandomForest{Trees: 20, Seed: 3}, &DecisionTree{Entropy: true}} {
		if err := m.Fit(d); err != nil {
			t.Fatal(err)
		}
		p, text := exportAndLoad(t, m)
		if p.Name() != "lightgbm.rf" || !bytes.Contains(text, []byte("\naverage_output\n")) {
			t.Errorf("%s exported as %s", m.Name(), p.Name())
		}
		assertSameScores(t, m, p, d)
	}
}

// TestExportTinyExact: thresholds and leaf values survive the text round
// trip bit for bit, including values that print with exponents.
func TestExportTinyExact(t *testing.T) {
	d := &learn.Dataset{Features: []string{"duration", "SYN"}}
	xs := []float64{1e-7, 3.0000000000000004e-06, 0.1, 0.30000000000000004, 1234.5678, 1e21}
	for i, x := range xs {
		for r := 0; r < 3; r++ {
			d.X = append(d.X, x, float64(r))
			d.Y = append(d.Y, int8((i+r)%2))
		}
	}
	m := &GBDT{Trees: 30, MinChildWeight: 0.01, Lambda: 0.5, MinGain: -1}
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	p, _ := exportAndLoad(t, m)
	for i := 0; i < d.N(); i++ {
		if got, want := p.Prob(d.Row(i)), m.Prob(d.Row(i)); got != want {
			t.Errorf("row %d: leaves %v, trainer %v", i, got, want)
		}
	}
	// Points between and beyond the training values route the same way.
	for _, x := range []float64{0, 2e-7, 0.2, 0.3, 0.30000000000000004, 5000, 1e22, -1} {
		v := []float64{x, 1}
		if got, want := p.Prob(v), m.Prob(v); got != want {
			t.Errorf("x=%v: leaves %v, trainer %v", x, got, want)
		}
	}
	if got := p.Prob([]float64{1}); !math.IsNaN(got) {
		t.Errorf("Prob of a short vector = %v, want NaN", got)
	}
	if err := p.ProbBatch([]float64{1, 2, 3}, make([]float64, 2)); err == nil {
		t.Error("ProbBatch accepted a ragged batch")
	}
}

func TestDeterministicExport(t *testing.T) {
	// Not parallel: it changes GOMAXPROCS.
	d := loadHarvesterSample(t)
	fit := func(m learn.Exporter) []byte {
		if err := m.Fit(d); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := m.WriteLightGBM(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if a, b := fit(NewGBDT(30)), fit(NewGBDT(30)); !bytes.Equal(a, b) {
		t.Error("two GBDT fits export different bytes")
	}
	if a, b := fit(&RandomForest{Trees: 5, Seed: 7}), fit(&RandomForest{Trees: 5, Seed: 7}); !bytes.Equal(a, b) {
		t.Error("two RandomForest fits with one seed export different bytes")
	}
	// Trees are grown in parallel; the result must not depend on how many.
	prev := runtime.GOMAXPROCS(1)
	serial := fit(&RandomForest{Trees: 5, Seed: 7})
	runtime.GOMAXPROCS(max(prev, 2))
	parallel := fit(&RandomForest{Trees: 5, Seed: 7})
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(serial, parallel) {
		t.Error("RandomForest depends on GOMAXPROCS")
	}
	if a, b := fit(&RandomForest{Trees: 5, Seed: 7}), fit(&RandomForest{Trees: 5, Seed: 8}); bytes.Equal(a, b) {
		t.Error("RandomForest ignores its seed")
	}
}

func TestExportRejectsBadFeatureNames(t *testing.T) {
	d := threshold(4)
	d.Features = []string{"bad name"}
	m := NewGBDT(2)
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteLightGBM(&bytes.Buffer{}); err == nil {
		t.Error("exported a feature name with a space")
	}
}

// TestDegenerateData: one class only, one row, constant features — every
// learner fits, exports a model leaves loads, and leaves agrees with it.
func TestDegenerateData(t *testing.T) {
	sets := map[string]*learn.Dataset{
		"one class": {Features: []string{"a", "b"}, X: []float64{1, 2, 3, 4, 5, 6}, Y: []int8{0, 0, 0}},
		"one row":   {Features: []string{"a"}, X: []float64{7}, Y: []int8{1}},
		"constant":  {Features: []string{"a"}, X: []float64{2, 2, 2, 2}, Y: []int8{0, 1, 0, 1}},
	}
	for name, d := range sets {
		for _, m := range []learn.Exporter{NewGBDT(5), NewRandomForest(3), &DecisionTree{}} {
			if err := m.Fit(d); err != nil {
				t.Fatalf("%s: %s: %v", name, m.Name(), err)
			}
			p, _ := exportAndLoad(t, m)
			for i := 0; i < d.N(); i++ {
				got, want := p.Prob(d.Row(i)), m.Prob(d.Row(i))
				if math.IsNaN(want) || math.Abs(got-want) > 1e-12 {
					t.Errorf("%s: %s row %d: leaves %v, trainer %v", name, m.Name(), i, got, want)
				}
			}
		}
	}
}

// TestNumLeaves: leaf-wise growth stops at NumLeaves and still beats a
// stump on the predecessor's sample.
func TestNumLeaves(t *testing.T) {
	t.Parallel()
	d := loadHarvesterSample(t)
	m := &GBDT{Trees: 20, NumLeaves: 4, MaxDepth: -1, MinGain: -1}
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	deep := false
	for i, tr := range m.TreeList() {
		if len(tr.LeafValue) > 4 {
			t.Errorf("tree %d has %d leaves", i, len(tr.LeafValue))
		}
		// A 4-leaf tree of depth 3 is a chain: leaf-wise, not depth-wise.
		deep = deep || depth(tr, 0) == 3
	}
	if !deep {
		t.Error("no tree grew leaf-wise to depth 3")
	}
	p, _ := exportAndLoad(t, m)
	assertSameScores(t, m, p, d)
}

func depth(t *Tree, k int) int {
	if k < 0 || len(t.SplitFeature) == 0 {
		return 0
	}
	return 1 + max(depth(t, t.Left[k]), depth(t, t.Right[k]))
}

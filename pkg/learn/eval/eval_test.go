package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"scanwatch/pkg/learn"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestConfusionMetricsByHand(t *testing.T) {
	// 8 scans, 4 normal; 6 scans caught, 1 normal flagged.
	y := []int8{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}
	p := []int8{1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0}
	c := NewConfusion(y, p)
	if c != (Confusion{TP: 6, TN: 3, FP: 1, FN: 2}) {
		t.Fatalf("confusion %+v", c)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"accuracy", c.Accuracy(), 9.0 / 12},
		{"precision", c.Precision(), 6.0 / 7},
		{"recall", c.Recall(), 6.0 / 8},
		{"F1", c.F1(), 12.0 / 15},
		// (6*3 - 1*2) / sqrt(7*8*4*5) = 16/sqrt(1120)
		{"MCC", c.MCC(), 0.47809144373375745},
	}
	for _, k := range checks {
		if !near(k.got, k.want) {
			t.Errorf("%s = %v, want %v", k.name, k.got, k.want)
		}
	}
}

// Known answers from scikit-learn 1.2.1's metrics for two real confusion
// matrices (see pkg/learn/baseline/testdata/sklearn_known_answers.py).
func TestMetricsMatchScikitLearn(t *testing.T) {
	cases := []struct {
		c                            Confusion
		acc, mcc, prec, rec, f1, tol float64
	}{
		{Confusion{TP: 12254, TN: 11959, FN: 254, FP: 44}, 0.987842, 0.975826, 0.996422, 0.979693, 0.987987, 5e-7},
		{Confusion{TP: 7508, TN: 11995, FN: 5000, FP: 8}, 0.795684, 0.650038, 0.998936, 0.600256, 0.749900, 5e-7},
	}
	for _, k := range cases {
		got := []float64{k.c.Accuracy(), k.c.MCC(), k.c.Precision(), k.c.Recall(), k.c.F1()}
		want := []float64{k.acc, k.mcc, k.prec, k.rec, k.f1}
		for i, name := range []string{"accuracy", "MCC", "precision", "recall", "F1"} {
			if math.Abs(got[i]-want[i]) > k.tol {
				t.Errorf("%+v: %s = %.6f, scikit-learn %.6f", k.c, name, got[i], want[i])
			}
		}
	}
}

func TestDegenerateConfusion(t *testing.T) {
	c := Confusion{TP: 0, TN: 5}
	if c.MCC() != 0 || c.Precision() != 0 || c.Recall() != 0 || c.F1() != 0 || c.Accuracy() != 1 {
		t.Errorf("all-negative: mcc %v prec %v rec %v f1 %v acc %v", c.MCC(), c.Precision(), c.Recall(), c.F1(), c.Accuracy())
	}
	perfect := Confusion{TP: 3, TN: 2}
	if perfect.MCC() != 1 {
		t.Errorf("perfect MCC = %v", perfect.MCC())
	}
	inverse := Confusion{FP: 2, FN: 3}
	if inverse.MCC() != -1 {
		t.Errorf("inverse MCC = %v", inverse.MCC())
	}
}

func TestAUCKnownAnswers(t *testing.T) {
	cases := []struct {
		name  string
		y     []int8
		score []float64
		want  float64
	}{
		// sklearn's roc_auc_score docstring example.
		{"no ties", []int8{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}, 0.75},
		// The positive at 0.5 ties the negative at 0.5 (½) and beats 0.2 (1);
		// the positive at 0.9 beats both (2): 3.5 of 4 pairs.
		{"tie across classes", []int8{0, 1, 0, 1}, []float64{0.5, 0.5, 0.2, 0.9}, 0.875},
		{"all tied", []int8{0, 1, 1, 0, 1}, []float64{0.3, 0.3, 0.3, 0.3, 0.3}, 0.5},
		{"perfect", []int8{0, 0, 1}, []float64{0.1, 0.2, 0.3}, 1},
		{"inverted", []int8{1, 1, 0}, []float64{0.1, 0.2, 0.3}, 0},
	}
	for _, c := range cases {
		if got := AUC(c.y, c.score); !near(got, c.want) {
			t.Errorf("%s: AUC = %v, want %v", c.name, got, c.want)
		}
	}
	if got := AUC([]int8{1, 1}, []float64{0.2, 0.3}); !math.IsNaN(got) {
		t.Errorf("one class: AUC = %v, want NaN", got)
	}
}

func TestROCStepsOverTies(t *testing.T) {
	fpr, tpr := ROC([]int8{0, 1, 0, 1}, []float64{0.5, 0.5, 0.2, 0.9})
	wantF := []float64{0, 0, 0.5, 1}
	wantT := []float64{0, 0.5, 1, 1}
	if !slices.Equal(fpr, wantF) || !slices.Equal(tpr, wantT) {
		t.Errorf("ROC = %v %v, want %v %v", fpr, tpr, wantF, wantT)
	}
}

// The trapezoidal area under ROC's points must equal AUC's pair count, ties
// included: two independent computations of one number.
func TestROCAreaEqualsAUC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := 2 + rng.IntN(200)
		y := make([]int8, n)
		s := make([]float64, n)
		for i := range y {
			y[i] = int8(rng.IntN(2))
			s[i] = float64(rng.IntN(7)) / 6 // few distinct values: many ties
		}
		y[0], y[1] = 0, 1
		fpr, tpr := ROC(y, s)
		var area float64
		for i := 1; i < len(fpr); i++ {
			area += (fpr[i] - fpr[i-1]) * (tpr[i] + tpr[i-1]) / 2
		}
		if auc := AUC(y, s); math.Abs(area-auc) > 1e-9 {
			t.Fatalf("trial %d: trapezoid %v, AUC %v", trial, area, auc)
		}
	}
}

func TestMeanStd(t *testing.T) {
	s := MeanStd([]float64{1, 2, 3, 4})
	if !near(s.Mean, 2.5) || !near(s.Std, math.Sqrt(5.0/3)) {
		t.Errorf("MeanStd = %+v", s)
	}
	if s := MeanStd([]float64{7}); s.Mean != 7 || s.Std != 0 {
		t.Errorf("one value: %+v", s)
	}
}

// threshold is a one-feature classifier: P(scan) = 1 when x > cut.
type threshold struct{ cut float64 }

func (c *threshold) Name() string               { return "threshold" }
func (c *threshold) Fit(d *learn.Dataset) error { return nil }
func (c *threshold) Prob(x []float64) float64 {
	if x[0] > c.cut {
		return 1
	}
	return 0
}

func TestCrossValidateCountsEveryRowOnce(t *testing.T) {
	// x = i; label 1 for i >= 60, except row 70 (a "noisy" normal row) → the
	// threshold model at 59.5 gets exactly one false positive overall.
	d := &learn.Dataset{Features: []string{"x"}}
	for i := 0; i < 100; i++ {
		d.X = append(d.X, float64(i))
		l := int8(0)
		if i >= 60 && i != 70 {
			l = 1
		}
		d.Y = append(d.Y, l)
	}
	folds := StratifiedFolds(d.Y, 4, 7)
	c := Candidate{Name: "threshold", New: func() learn.Classifier { return &threshold{cut: 59.5} }}
	steps := 0
	r, err := CrossValidate(context.Background(), d, c, folds, func() { steps++ })
	if err != nil {
		t.Fatal(err)
	}
	if steps != 4 || len(r.Scores) != 4 || len(r.Y) != 100 {
		t.Fatalf("steps %d scores %d pooled %d", steps, len(r.Scores), len(r.Y))
	}
	var total Confusion
	for _, s := range r.Scores {
		total.TP += s.TP
		total.TN += s.TN
		total.FP += s.FP
		total.FN += s.FN
	}
	if total != (Confusion{TP: 39, TN: 60, FP: 1}) {
		t.Errorf("pooled confusion %+v", total)
	}
	sum := r.Summarize()
	if !near(sum.Accuracy.Mean, 0.99) || sum.Folds != 4 || !near(sum.TP.Mean, 39.0/4) {
		t.Errorf("summary %+v", sum)
	}
}

package trees

import (
	"math"
	"testing"

	"scanwatch/pkg/learn"
)

// confusion is a binary confusion matrix. (Kept here rather than using
// pkg/learn/eval so this package's tests depend only on pkg/learn.)
type confusion struct{ tp, tn, fp, fn float64 }

func (c *confusion) add(y int8, p float64) {
	switch scan := p >= 0.5; {
	case scan && y == 1:
		c.tp++
	case scan:
		c.fp++
	case y == 1:
		c.fn++
	default:
		c.tn++
	}
}

func (c confusion) Accuracy() float64 { return (c.tp + c.tn) / (c.tp + c.tn + c.fp + c.fn) }

func (c confusion) MCC() float64 {
	return (c.tp*c.tn - c.fp*c.fn) / math.Sqrt((c.tp+c.fp)*(c.tp+c.fn)*(c.tn+c.fp)*(c.tn+c.fn))
}

// crossValidate pools the test predictions of k stratified folds.
func crossValidate(t *testing.T, d *learn.Dataset, k int, mk func() learn.Classifier) confusion {
	t.Helper()
	var c confusion
	for _, test := range learn.StratifiedFolds(d.Y, k, 1) {
		m := mk()
		if err := m.Fit(d.Subset(learn.Complement(d.N(), test))); err != nil {
			t.Fatal(err)
		}
		for _, i := range test {
			c.add(d.Y[i], m.Prob(d.Row(i)))
		}
	}
	return c
}

// TestQualitySeedCV: 5-fold stratified CV on the seed's training set. The
// seed's xgboost gets 0.9889–0.9893 accuracy; 252 rows with identical
// features under both labels cap accuracy near 0.9897.
func TestQualitySeedCV(t *testing.T) {
	t.Parallel()
	d := loadSeedTrain(t)
	gb := crossValidate(t, d, 5, func() learn.Classifier { return NewGBDT(210) })
	t.Logf("GBDT(210) 5-fold CV: accuracy %.4f MCC %.4f (%+v)", gb.Accuracy(), gb.MCC(), gb)
	if gb.Accuracy() < 0.988 || gb.MCC() < 0.976 {
		t.Errorf("GBDT(210): accuracy %.4f MCC %.4f, want >= 0.988 and >= 0.976", gb.Accuracy(), gb.MCC())
	}
	if testing.Short() {
		return
	}
	for _, mk := range []func() learn.Classifier{
		func() learn.Classifier { return &RandomForest{Trees: 50, Seed: 1} },
		func() learn.Classifier { return &DecisionTree{} },
	} {
		c := crossValidate(t, d, 5, mk)
		t.Logf("%s 5-fold CV: accuracy %.4f MCC %.4f", mk().Name(), c.Accuracy(), c.MCC())
		if c.Accuracy() < 0.985 {
			t.Errorf("%s: accuracy %.4f, want >= 0.985", mk().Name(), c.Accuracy())
		}
	}
}

//go:build harvester

// Figures on the predecessor's whole data sets, which the repository does
// not hold: go test -tags harvester with SCANWATCH_HARVESTER_DATA naming
// its datasets folder (the one holding train/bad.csv and train/good.csv),
// e.g. SCANWATCH_HARVESTER_DATA=../shared/seed/datasets.

package trees

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"scanwatch/pkg/infer"
	"scanwatch/pkg/learn"
	"scanwatch/pkg/learn/eval"
)

// crossValidate pools the test predictions of k stratified folds.
func crossValidate(t *testing.T, d *learn.Dataset, k int, mk func() learn.Classifier) eval.Confusion {
	t.Helper()
	var c eval.Confusion
	for _, test := range eval.StratifiedFolds(d.Y, k, 1) {
		m := mk()
		if err := m.Fit(d.Subset(eval.Complement(d.N(), test))); err != nil {
			t.Fatal(err)
		}
		for _, i := range test {
			c.Add(d.Y[i], eval.Predict(m.Prob(d.Row(i))))
		}
	}
	return c
}

var harvesterTrain struct {
	once sync.Once
	d    *learn.Dataset
	err  error
}

// loadHarvesterTrain reads the predecessor's whole training set (24,511
// rows) from $SCANWATCH_HARVESTER_DATA/train, once per test binary.
// Callers must not modify the dataset.
func loadHarvesterTrain(tb testing.TB) *learn.Dataset {
	tb.Helper()
	dir := os.Getenv("SCANWATCH_HARVESTER_DATA")
	if dir == "" {
		tb.Fatal("-tags harvester needs SCANWATCH_HARVESTER_DATA=/path/to/the/predecessor's/datasets")
	}
	harvesterTrain.once.Do(func() { harvesterTrain.d, harvesterTrain.err = readHarvester(filepath.Join(dir, "train")) })
	if harvesterTrain.err != nil {
		tb.Fatal(harvesterTrain.err)
	}
	return harvesterTrain.d
}

// TestQualityHarvesterCV: 5-fold stratified CV on the predecessor's
// training set. Its xgboost gets 0.9889–0.9893 accuracy; 252 rows with
// identical features under both labels cap accuracy near 0.9897.
func TestQualityHarvesterCV(t *testing.T) {
	t.Parallel()
	d := loadHarvesterTrain(t)
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

// BenchmarkGBDTFit210: one GBDT(210) fit on the predecessor's 24,511 rows × 7.
func BenchmarkGBDTFit210(b *testing.B) {
	d := loadHarvesterTrain(b)
	for b.Loop() {
		if err := NewGBDT(210).Fit(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRandomForestFit100: for comparison with GBDT.
func BenchmarkRandomForestFit100(b *testing.B) {
	d := loadHarvesterTrain(b)
	for b.Loop() {
		if err := NewRandomForest(100).Fit(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredict scores the predecessor's rows with an exported GBDT(210):
// through leaves one row at a time, in batches, through the Memo in
// scanclass's batches of 1024, and with the trainer's own trees. Reported per row.
func BenchmarkPredict(b *testing.B) {
	d := loadHarvesterTrain(b)
	m := NewGBDT(210)
	if err := m.Fit(d); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteLightGBM(&buf); err != nil {
		b.Fatal(err)
	}
	p, err := infer.LoadLightGBM(&buf, "model.txt")
	if err != nil {
		b.Fatal(err)
	}
	n := d.N()
	b.Run("leaves/single", func(b *testing.B) {
		i := 0
		for b.Loop() {
			p.Prob(d.Row(i))
			if i++; i == n {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("leaves/batch", func(b *testing.B) {
		out := make([]float64, n)
		for b.Loop() {
			if err := p.ProbBatch(d.X, out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("memo/batch", func(b *testing.B) {
		out := make([]float64, 1024)
		m := p.NewMemo()
		i := 0
		for b.Loop() {
			j := min(i+len(out), n)
			if err := m.ProbBatch(d.X[i*d.F():j*d.F()], out[:j-i]); err != nil {
				b.Fatal(err)
			}
			if i = j; i == n {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N*len(out))/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("trainer", func(b *testing.B) {
		i := 0
		for b.Loop() {
			m.Prob(d.Row(i))
			if i++; i == n {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

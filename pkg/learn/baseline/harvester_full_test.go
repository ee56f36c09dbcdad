//go:build harvester

// Figures on the predecessor's whole data sets, which the repository does
// not hold: go test -tags harvester with SCANWATCH_HARVESTER_DATA naming
// its datasets folder (the one holding train/bad.csv and train/good.csv),
// e.g. SCANWATCH_HARVESTER_DATA=../shared/seed/datasets.

package baseline

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/learn/eval"
)

// harvesterData is the predecessor's training set folder.
func harvesterData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SCANWATCH_HARVESTER_DATA")
	if dir == "" {
		t.Fatal("-tags harvester needs SCANWATCH_HARVESTER_DATA=/path/to/the/predecessor's/datasets")
	}
	return filepath.Join(dir, "train")
}

// Known answers from scikit-learn 1.2.1 (Debian's python3-sklearn on this
// machine): trained on every 100th row of the predecessor's bad.csv and good.csv
// (247 rows), scored on all 24,511 rows, with GaussianNB(var_smoothing=1e-9)
// and, on StandardScaler'd features, LogisticRegression(C=1/(1e-4·n)) — the
// same objective as Logistic's mean log-loss + 1e-4/2·|w|². The confusion
// counts must be identical; the AUCs agree to float rounding.
func TestHarvesterMatchesScikitLearn(t *testing.T) {
	all := loadHarvester(t, harvesterData(t), 1<<30)
	var sub []int
	// bad.csv rows come first (12,508), then good.csv: every 100th of each.
	for i := 0; i < all.N(); i++ {
		if (i < 12508 && i%100 == 0) || (i >= 12508 && (i-12508)%100 == 0) {
			sub = append(sub, i)
		}
	}
	train := all.Subset(sub)
	if train.N() != 247 {
		t.Fatalf("subset of %d rows, want 247", train.N())
	}
	cases := []struct {
		m              learn.Classifier
		tp, tn, fn, fp int
		auc            float64
	}{
		{NewLogistic(), 12254, 11959, 254, 44, 0.988777},
		{NewGaussianNB(), 7508, 11995, 5000, 8, 0.991264},
	}
	for _, c := range cases {
		if err := c.m.Fit(train); err != nil {
			t.Fatal(err)
		}
		var tp, tn, fn, fp int
		prob := make([]float64, all.N())
		for i := range prob {
			prob[i] = c.m.Prob(all.Row(i))
			switch pred := prob[i] >= 0.5; {
			case pred && all.Y[i] == 1:
				tp++
			case pred:
				fp++
			case all.Y[i] == 1:
				fn++
			default:
				tn++
			}
		}
		auc := eval.AUC(all.Y, prob)
		t.Logf("%s: TP %d TN %d FN %d FP %d AUC %.6f", c.m.Name(), tp, tn, fn, fp, auc)
		if tp != c.tp || tn != c.tn || fn != c.fn || fp != c.fp {
			t.Errorf("%s: TP %d TN %d FN %d FP %d, scikit-learn TP %d TN %d FN %d FP %d", c.m.Name(), tp, tn, fn, fp, c.tp, c.tn, c.fn, c.fp)
		}
		if math.Abs(auc-c.auc) > 1e-5 {
			t.Errorf("%s: AUC %.6f, scikit-learn %.6f", c.m.Name(), auc, c.auc)
		}
	}
}

package cli

import (
	"fmt"
	"strings"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/learn/baseline"
	"scanwatch/pkg/learn/eval"
	"scanwatch/pkg/learn/trees"
)

// candidates is modelpick's line-up: boosted trees of several sizes (210 is
// the harvester's XGBClassifier), a forest, one tree, and the baselines. Every
// factory returns a fresh, unfitted model.
func candidates(seed int64) []eval.Candidate {
	var out []eval.Candidate
	add := func(mk func() learn.Classifier) {
		out = append(out, eval.Candidate{Name: mk().Name(), New: mk})
	}
	for _, n := range []int{50, 100, 210, 500} {
		add(func() learn.Classifier { m := trees.NewGBDT(n); m.Seed = seed; return m })
	}
	add(func() learn.Classifier { m := trees.NewRandomForest(100); m.Seed = seed; return m })
	add(func() learn.Classifier { return &trees.DecisionTree{} })
	add(func() learn.Classifier { return baseline.NewKNN(5) })
	add(func() learn.Classifier { return baseline.NewLogistic() })
	add(func() learn.Classifier { return baseline.NewGaussianNB() })
	return out
}

// normName makes "gbdt(210)", "GBDT 210" and "GBDT(210)" the same name.
func normName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '(', ')', '_', '-':
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// findCandidate looks a candidate up by name.
func findCandidate(all []eval.Candidate, name string) (eval.Candidate, error) {
	for _, c := range all {
		if normName(c.Name) == normName(name) {
			return c, nil
		}
	}
	return eval.Candidate{}, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(candidateNames(all), ", "))
}

func candidateNames(all []eval.Candidate) []string {
	out := make([]string, len(all))
	for i, c := range all {
		out[i] = c.Name
	}
	return out
}

// exportable reports whether c's models can be written as LightGBM text.
func exportable(c eval.Candidate) bool {
	_, ok := c.New().(learn.Exporter)
	return ok
}

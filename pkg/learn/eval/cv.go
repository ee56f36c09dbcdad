package eval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"scanwatch/pkg/learn"
)

// Candidate is a named classifier factory: every fold trains a fresh one.
type Candidate struct {
	Name string
	New  func() learn.Classifier
}

// Score is one train/test run of a candidate.
type Score struct {
	Confusion
	Accuracy, MCC, Precision, Recall, F1, AUC float64
	Train                                     time.Duration // Fit
	PredictPerRow                             time.Duration // Prob, averaged over the test rows
}

// Result is a candidate's scores over folds (or one hold-out run) and the
// out-of-fold probabilities for ROC curves.
type Result struct {
	Name   string
	Scores []Score
	// Y and Prob are every test row's label and predicted probability,
	// pooled over the folds.
	Y    []int8
	Prob []float64
}

// Summary is Result's metrics as mean ± std over its scores.
type Summary struct {
	Name                 string `json:"name"`
	Folds                int    `json:"folds"`
	Accuracy             Stat   `json:"accuracy"`
	MCC                  Stat   `json:"mcc"`
	Precision            Stat   `json:"precision"`
	Recall               Stat   `json:"recall"`
	F1                   Stat   `json:"f1"`
	AUC                  Stat   `json:"roc_auc"`
	TrainSeconds         Stat   `json:"train_seconds"`
	PredictSecondsPerRow Stat   `json:"predict_seconds_per_row"`
	TP                   Stat   `json:"tp"`
	TN                   Stat   `json:"tn"`
	FN                   Stat   `json:"fn"`
	FP                   Stat   `json:"fp"`
}

// Summarize computes the mean ± std of every metric.
func (r *Result) Summarize() Summary {
	pick := func(f func(s Score) float64) Stat {
		xs := make([]float64, len(r.Scores))
		for i, s := range r.Scores {
			xs[i] = f(s)
		}
		return MeanStd(xs)
	}
	return Summary{
		Name:                 r.Name,
		Folds:                len(r.Scores),
		Accuracy:             pick(func(s Score) float64 { return s.Accuracy }),
		MCC:                  pick(func(s Score) float64 { return s.MCC }),
		Precision:            pick(func(s Score) float64 { return s.Precision }),
		Recall:               pick(func(s Score) float64 { return s.Recall }),
		F1:                   pick(func(s Score) float64 { return s.F1 }),
		AUC:                  pick(func(s Score) float64 { return s.AUC }),
		TrainSeconds:         pick(func(s Score) float64 { return s.Train.Seconds() }),
		PredictSecondsPerRow: pick(func(s Score) float64 { return s.PredictPerRow.Seconds() }),
		TP:                   pick(func(s Score) float64 { return float64(s.TP) }),
		TN:                   pick(func(s Score) float64 { return float64(s.TN) }),
		FN:                   pick(func(s Score) float64 { return float64(s.FN) }),
		FP:                   pick(func(s Score) float64 { return float64(s.FP) }),
	}
}

// Run trains a fresh c on train and scores it on test, appending the score
// and the test probabilities to r.
func (r *Result) Run(c Candidate, train, test *learn.Dataset) error {
	m := c.New()
	start := time.Now()
	if err := m.Fit(train); err != nil {
		return fmt.Errorf("%s: fit: %w", c.Name, err)
	}
	trainTime := time.Since(start)
	prob := make([]float64, test.N())
	pred := make([]int8, test.N())
	start = time.Now()
	for i := range prob {
		prob[i] = m.Prob(test.Row(i))
	}
	predTime := time.Since(start)
	for i, p := range prob {
		pred[i] = Predict(p)
	}
	conf := NewConfusion(test.Y, pred)
	s := Score{
		Confusion: conf,
		Accuracy:  conf.Accuracy(), MCC: conf.MCC(), Precision: conf.Precision(),
		Recall: conf.Recall(), F1: conf.F1(), AUC: AUC(test.Y, prob),
		Train: trainTime,
	}
	if n := test.N(); n > 0 {
		s.PredictPerRow = predTime / time.Duration(n)
	}
	r.Scores = append(r.Scores, s)
	r.Y = append(r.Y, test.Y...)
	r.Prob = append(r.Prob, prob...)
	return nil
}

// CrossValidate scores c on each fold of d (folds from StratifiedFolds),
// training on the other folds. step, when not nil, is called after each fold.
func CrossValidate(ctx context.Context, d *learn.Dataset, c Candidate, folds [][]int, step func()) (*Result, error) {
	if len(folds) < 2 {
		return nil, errors.New("cross-validation needs at least 2 folds")
	}
	r := &Result{Name: c.Name}
	for _, f := range folds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.Run(c, d.Subset(Complement(d.N(), f)), d.Subset(f)); err != nil {
			return nil, err
		}
		if step != nil {
			step()
		}
	}
	return r, nil
}

// Holdout trains c on train and scores it once on test, a set it never saw.
func Holdout(c Candidate, train, test *learn.Dataset) (*Result, error) {
	r := &Result{Name: c.Name}
	if err := r.Run(c, train, test); err != nil {
		return nil, err
	}
	return r, nil
}

// Package eval scores binary classifiers: confusion counts and the metrics
// derived from them, ROC curves and their area, and the cross-validation and
// hold-out runs modelpick reports (on StratifiedFolds).
package eval

import (
	"cmp"
	"math"
	"slices"
	"strconv"
)

// Threshold turns a probability into a prediction: p >= Threshold is a scan.
// It matches scanclass's default --threshold.
const Threshold = 0.5

// Predict is the 0/1 prediction for probability p at Threshold.
func Predict(p float64) int8 {
	if p >= Threshold {
		return 1
	}
	return 0
}

// Confusion holds the counts of a binary confusion matrix; 1 (scan) is the
// positive class.
type Confusion struct {
	TP, TN, FP, FN int
}

// NewConfusion counts labels y against predictions pred (same length).
func NewConfusion(y, pred []int8) Confusion {
	var c Confusion
	for i, t := range y {
		c.Add(t, pred[i])
	}
	return c
}

// Add counts one (label, prediction) pair.
func (c *Confusion) Add(y, pred int8) {
	switch {
	case y == 1 && pred == 1:
		c.TP++
	case y == 1:
		c.FN++
	case pred == 1:
		c.FP++
	default:
		c.TN++
	}
}

// N is the number of counted pairs.
func (c Confusion) N() int { return c.TP + c.TN + c.FP + c.FN }

// Accuracy is (TP+TN)/N; 0 for an empty matrix.
func (c Confusion) Accuracy() float64 { return ratio(c.TP+c.TN, c.N()) }

// Precision is TP/(TP+FP); 0 when nothing was predicted positive (sklearn's
// zero_division=0).
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN); 0 when there are no positives.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall, 2TP/(2TP+FP+FN).
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// MCC is Matthews' correlation coefficient; 0 when any margin is empty, as
// in sklearn (the limit is undefined there and 0 is "no better than chance").
func (c Confusion) MCC() float64 {
	tp, tn, fp, fn := float64(c.TP), float64(c.TN), float64(c.FP), float64(c.FN)
	den := (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
	if den == 0 {
		return 0
	}
	return (tp*tn - fp*fn) / math.Sqrt(den)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// classSizes counts the positive and the negative labels of y.
func classSizes(y []int8) (pos, neg float64) {
	for _, t := range y {
		if t == 1 {
			pos++
		} else {
			neg++
		}
	}
	return pos, neg
}

// AUC is the area under the ROC curve of scores against labels y: the
// probability that a random positive scores above a random negative, ties
// counting one half (the Mann–Whitney statistic, equal to the trapezoidal
// area of the tie-aware ROC curve). NaN when either class is absent.
func AUC(y []int8, score []float64) float64 {
	idx := byScore(score)
	pos, neg := classSizes(y)
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	// Walk scores in ascending order; for each group of equal scores, every
	// positive in it beats all negatives seen before and ties half of the
	// group's negatives.
	var negBelow, sum float64
	for i := 0; i < len(idx); {
		j := i
		var gp, gn float64
		for ; j < len(idx) && score[idx[j]] == score[idx[i]]; j++ {
			if y[idx[j]] == 1 {
				gp++
			} else {
				gn++
			}
		}
		sum += gp * (negBelow + gn/2)
		negBelow += gn
		i = j
	}
	return sum / (pos * neg)
}

// ROC returns the ROC curve's points (false-positive rate, true-positive
// rate) from (0,0) to (1,1), one point per distinct score, so that tied
// scores make one diagonal step instead of an order-dependent staircase.
func ROC(y []int8, score []float64) (fpr, tpr []float64) {
	pos, neg := classSizes(y)
	fpr, tpr = []float64{0}, []float64{0}
	thresholds(y, score, func(tp, fp float64) {
		fpr = append(fpr, safeDiv(fp, neg))
		tpr = append(tpr, safeDiv(tp, pos))
	})
	return fpr, tpr
}

// thresholds lowers the threshold from the highest score down, one group
// of equal scores at a time, and calls step with the true and false
// positives above it: the walk under the ROC and PR curves.
func thresholds(y []int8, score []float64, step func(tp, fp float64)) {
	idx := byScore(score)
	slices.Reverse(idx) // descending
	var tp, fp float64
	for i := 0; i < len(idx); {
		j := i
		for ; j < len(idx) && score[idx[j]] == score[idx[i]]; j++ {
			if y[idx[j]] == 1 {
				tp++
			} else {
				fp++
			}
		}
		step(tp, fp)
		i = j
	}
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// byScore returns indexes of score sorted ascending (stable).
func byScore(score []float64) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(score[a], score[b]) })
	return idx
}

// Stat is a mean and a sample standard deviation (n-1 denominator, as
// pandas reports it; 0 for fewer than two values).
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// MarshalJSON writes NaN (an AUC over one class) as null, which JSON can hold.
func (s Stat) MarshalJSON() ([]byte, error) {
	num := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "null"
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return []byte(`{"mean":` + num(s.Mean) + `,"std":` + num(s.Std) + `}`), nil
}

// MeanStd summarizes xs.
func MeanStd(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{Mean: math.NaN(), Std: math.NaN()}
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if len(xs) < 2 {
		return Stat{Mean: mean}
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return Stat{Mean: mean, Std: math.Sqrt(ss / float64(len(xs)-1))}
}

package eval

import "math"

// PR returns the precision–recall curve of scores against labels y: one
// point (recall, precision) per distinct score, thresholds from the highest
// score down, so that tied scores make one step. It starts at recall 0
// with the first threshold's precision. Empty when y has no positive.
func PR(y []int8, score []float64) (recall, precision []float64) {
	pos, _ := classSizes(y)
	if pos == 0 {
		return nil, nil
	}
	thresholds(y, score, func(tp, fp float64) {
		if len(recall) == 0 {
			recall, precision = append(recall, 0), append(precision, tp/(tp+fp))
		}
		recall = append(recall, tp/pos)
		precision = append(precision, tp/(tp+fp))
	})
	return recall, precision
}

// AveragePrecision is the area under the PR curve as scikit-learn's
// average_precision_score takes it: Σ (R_k − R_{k−1}) P_k over the
// thresholds, without interpolation. NaN when y has no positive.
func AveragePrecision(y []int8, score []float64) float64 {
	r, p := PR(y, score)
	if len(r) == 0 {
		return math.NaN()
	}
	ap := 0.0
	for k := 1; k < len(r); k++ {
		ap += (r[k] - r[k-1]) * p[k]
	}
	return ap
}

// CalibrationBin is one bin of a reliability diagram.
type CalibrationBin struct {
	MeanProb float64 // mean predicted probability of the rows in the bin
	Positive float64 // fraction of them that are positive
	N        int
}

// Calibration puts the predictions into bins equal-width bins of predicted
// probability and returns, for each bin with rows, their mean probability
// and the fraction that were positive: a calibrated model's points lie on
// the diagonal.
func Calibration(y []int8, prob []float64, bins int) []CalibrationBin {
	sum := make([]float64, bins)
	pos := make([]float64, bins)
	n := make([]int, bins)
	for i, p := range prob {
		b := min(max(int(p*float64(bins)), 0), bins-1)
		sum[b] += p
		n[b]++
		if y[i] == 1 {
			pos[b]++
		}
	}
	var out []CalibrationBin
	for b := range bins {
		if n[b] > 0 {
			out = append(out, CalibrationBin{MeanProb: sum[b] / float64(n[b]), Positive: pos[b] / float64(n[b]), N: n[b]})
		}
	}
	return out
}

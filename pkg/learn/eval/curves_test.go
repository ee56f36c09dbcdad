package eval

import (
	"math"
	"slices"
	"testing"
)

// Known answers, worked by hand and matching scikit-learn's
// precision_recall_curve and average_precision_score on the same input.
func TestPRAndAveragePrecision(t *testing.T) {
	y := []int8{0, 0, 1, 1}
	score := []float64{0.1, 0.4, 0.35, 0.8}
	r, p := PR(y, score)
	// thresholds 0.8, 0.4, 0.35, 0.1
	wantR := []float64{0, 0.5, 0.5, 1, 1}
	wantP := []float64{1, 1, 0.5, 2.0 / 3, 0.5}
	if !slices.Equal(r, wantR) || !slices.Equal(p, wantP) {
		t.Errorf("PR: recall %v precision %v", r, p)
	}
	if ap := AveragePrecision(y, score); math.Abs(ap-0.8333333333333333) > 1e-12 {
		t.Errorf("AP %v, want 0.8333 (scikit-learn's)", ap)
	}
	if ap := AveragePrecision([]int8{0, 0}, []float64{0.1, 0.2}); !math.IsNaN(ap) {
		t.Errorf("AP without positives: %v", ap)
	}
	// Tied scores are one step.
	if r, _ := PR([]int8{1, 0, 1}, []float64{0.5, 0.5, 0.5}); len(r) != 2 {
		t.Errorf("ties: %v", r)
	}
}

func TestCalibration(t *testing.T) {
	y := []int8{0, 0, 1, 1, 1, 0}
	prob := []float64{0.05, 0.15, 0.95, 0.91, 0.99, 1}
	got := Calibration(y, prob, 10)
	want := []CalibrationBin{{0.05, 0, 1}, {0.15, 0, 1}, {(0.95 + 0.91 + 0.99 + 1) / 4, 0.75, 4}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if math.Abs(got[i].MeanProb-want[i].MeanProb) > 1e-12 || got[i].Positive != want[i].Positive || got[i].N != want[i].N {
			t.Errorf("bin %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

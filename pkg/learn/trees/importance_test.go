package trees

import (
	"math"
	"testing"

	"scanwatch/pkg/learn"
)

// A label that only the second of three features carries gets (nearly)
// all of every tree model's gain.
func TestGainImportanceFindsTheFeature(t *testing.T) {
	d := &learn.Dataset{Features: []string{"noise", "signal", "constant"}}
	for i := range 400 {
		y := int8(i % 2)
		noise := float64((i * 7919) % 97)
		d.X = append(d.X, noise, float64(y)*10+float64(i%3), 1)
		d.Y = append(d.Y, y)
	}
	for _, m := range []learn.Classifier{NewGBDT(20), NewRandomForest(20), &DecisionTree{}} {
		if err := m.Fit(d); err != nil {
			t.Fatal(err)
		}
		share, ok := GainImportance(m, 3)
		if !ok {
			t.Fatalf("%s: no importance", m.Name())
		}
		if share[1] < 0.9 || share[2] != 0 || math.Abs(share[0]+share[1]+share[2]-1) > 1e-9 {
			t.Errorf("%s: %v", m.Name(), share)
		}
	}
	if _, ok := GainImportance(nil, 3); ok {
		t.Error("a model without trees has an importance")
	}
}

package eval

import (
	"slices"
	"testing"
)

func TestStratifiedFolds(t *testing.T) {
	// 103 positives, 47 negatives.
	y := make([]int8, 150)
	for i := range y {
		if i%3 != 0 || i < 9 {
			y[i] = 1
		}
	}
	pos := 0
	for _, v := range y {
		pos += int(v)
	}
	folds := StratifiedFolds(y, 4, 42)
	if len(folds) != 4 {
		t.Fatalf("%d folds", len(folds))
	}
	seen := make([]int, len(y))
	for k, f := range folds {
		if !slices.IsSorted(f) {
			t.Errorf("fold %d not sorted", k)
		}
		p := 0
		for _, i := range f {
			seen[i]++
			p += int(y[i])
		}
		// Sizes differ by at most one; each class is split as evenly.
		if len(f) < len(y)/4 || len(f) > len(y)/4+1 {
			t.Errorf("fold %d has %d rows", k, len(f))
		}
		if p < pos/4 || p > pos/4+1 {
			t.Errorf("fold %d has %d positives of %d", k, p, pos)
		}
		train := Complement(len(y), f)
		if len(train)+len(f) != len(y) {
			t.Errorf("fold %d: complement has %d rows", k, len(train))
		}
		for _, i := range train {
			if _, found := slices.BinarySearch(f, i); found {
				t.Errorf("fold %d: row %d in both", k, i)
			}
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("row %d in %d folds", i, c)
		}
	}
	again := StratifiedFolds(y, 4, 42)
	for k := range folds {
		if !slices.Equal(folds[k], again[k]) {
			t.Errorf("fold %d differs for the same seed", k)
		}
	}
	other := StratifiedFolds(y, 4, 43)
	if slices.Equal(folds[0], other[0]) {
		t.Error("seed ignored")
	}
}

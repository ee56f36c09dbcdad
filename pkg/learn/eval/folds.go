package eval

import (
	"math/rand/v2"
	"slices"
)

// StratifiedFolds splits the row indices 0..len(y)-1 into k disjoint test
// folds whose class proportions match y's: each class is shuffled with
// seed and dealt round-robin, continuing the deal across classes so fold
// sizes differ by at most one. Each fold is sorted ascending. The folds are
// the same for the same y, k and seed. k is clamped to [2, len(y)].
func StratifiedFolds(y []int8, k int, seed int64) [][]int {
	k = max(2, min(k, len(y)))
	folds := make([][]int, k)
	byClass := map[int8][]int{}
	var classes []int8
	for i, c := range y {
		if _, ok := byClass[c]; !ok {
			classes = append(classes, c)
		}
		byClass[c] = append(byClass[c], i)
	}
	slices.Sort(classes)
	rng := rand.New(rand.NewPCG(uint64(seed), 0xf01d5))
	next := 0
	for _, c := range classes {
		rows := byClass[c]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for _, i := range rows {
			folds[next] = append(folds[next], i)
			next = (next + 1) % k
		}
	}
	for _, f := range folds {
		slices.Sort(f)
	}
	return folds
}

// Complement returns the indices 0..n-1 not in fold (sorted ascending),
// i.e. the training rows for a test fold from StratifiedFolds.
func Complement(n int, fold []int) []int {
	in := make([]bool, n)
	for _, i := range fold {
		in[i] = true
	}
	out := make([]int, 0, n-len(fold))
	for i := 0; i < n; i++ {
		if !in[i] {
			out = append(out, i)
		}
	}
	return out
}

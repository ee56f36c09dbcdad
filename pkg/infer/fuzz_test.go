package infer

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/learn/trees"
)

// FuzzLoadLightGBM reads arbitrary text as a model: an error or a model
// that scores without panicking, never a crash (leaves indexes arrays it
// has not checked; LoadLightGBM must turn that into errors).
func FuzzLoadLightGBM(f *testing.F) {
	var small bytes.Buffer
	m := trees.NewGBDT(3)
	d := &learn.Dataset{Features: []string{"duration", "SYN"},
		X: []float64{0.1, 1, 0.2, 0, 0.3, 1, 0.4, 0, 0.5, 2, 0.6, 1}, Y: []int8{1, 0, 1, 0, 1, 0}}
	if err := m.Fit(d); err == nil && m.WriteLightGBM(&small) == nil {
		f.Add(small.Bytes())
	}
	files, _ := filepath.Glob("testdata/lightgbm/*.model")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil && len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := LoadLightGBM(bytes.NewReader(text), "fuzz.txt")
		if err != nil {
			return
		}
		x := make([]float64, len(p.Features()))
		p.Prob(x)
		out := make([]float64, 2)
		p.ProbBatch(append(x, x...), out)
		// The memo answers exactly as leaves on any model that loads.
		probe := memoProbe(p, rand.New(rand.NewPCG(1, uint64(len(text)))), 64)
		want, got := make([]float64, 64), make([]float64, 64)
		if err := p.ProbBatch(probe, want); err != nil {
			t.Fatal(err)
		}
		if err := p.NewMemo().ProbBatch(probe, got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("row %d: memo %v, leaves %v", i, got[i], want[i])
			}
		}
	})
}

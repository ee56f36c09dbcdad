package trees

import (
	"bytes"
	"testing"
)

// BenchmarkGBDTFit210: one GBDT(210) fit on the seed's 24,511 rows × 7.
func BenchmarkGBDTFit210(b *testing.B) {
	d := loadSeedTrain(b)
	for b.Loop() {
		if err := NewGBDT(210).Fit(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRandomForestFit100: for comparison with GBDT.
func BenchmarkRandomForestFit100(b *testing.B) {
	d := loadSeedTrain(b)
	for b.Loop() {
		if err := NewRandomForest(100).Fit(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredict scores the seed's rows with an exported GBDT(210):
// through leaves one row at a time, in batches, through the Memo in
// scanclass's batches of 1024, and with the trainer's own trees. Reported per row.
func BenchmarkPredict(b *testing.B) {
	d := loadSeedTrain(b)
	m := NewGBDT(210)
	if err := m.Fit(d); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteLightGBM(&buf); err != nil {
		b.Fatal(err)
	}
	p, err := LoadLightGBM(&buf, "model.txt")
	if err != nil {
		b.Fatal(err)
	}
	n := d.N()
	b.Run("leaves/single", func(b *testing.B) {
		i := 0
		for b.Loop() {
			p.Prob(d.Row(i))
			if i++; i == n {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("leaves/batch", func(b *testing.B) {
		out := make([]float64, n)
		for b.Loop() {
			if err := p.ProbBatch(d.X, out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("memo/batch", func(b *testing.B) {
		out := make([]float64, 1024)
		m := p.NewMemo()
		i := 0
		for b.Loop() {
			j := min(i+len(out), n)
			if err := m.ProbBatch(d.X[i*d.F():j*d.F()], out[:j-i]); err != nil {
				b.Fatal(err)
			}
			if i = j; i == n {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N*len(out))/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("trainer", func(b *testing.B) {
		i := 0
		for b.Loop() {
			m.Prob(d.Row(i))
			if i++; i == n {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

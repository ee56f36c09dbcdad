package baseline

import (
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/row"
)

func oneFeature(xs []float64, ys []int8) *learn.Dataset {
	return &learn.Dataset{Features: []string{"x"}, X: xs, Y: ys}
}

func TestKNNIncludesEveryRowTiedWithTheKth(t *testing.T) {
	// Query 0.4: two label-0 rows at distance 0.4, then three rows at 1
	// (distance 0.6, two scans), then one far scan at 5.
	d := oneFeature([]float64{0, 0, 1, 1, 1, 5}, []int8{0, 0, 1, 1, 0, 1})
	cases := []struct {
		k    int
		x    float64
		want float64
	}{
		{1, 0.4, 0},       // the two rows at 0 tie for first: both vote
		{2, 0.4, 0},       // exactly the two rows at 0
		{3, 0.4, 2.0 / 5}, // the third neighbour ties with two more at 1
		{5, 0.4, 2.0 / 5},
		{6, 0.4, 3.0 / 6},
		{1, 5.1, 1},
		{2, 3.0, 3.0 / 4}, // 1 and 5 are both at distance 2: all four rows there vote
	}
	for _, c := range cases {
		m := NewKNN(c.k)
		if err := m.Fit(d); err != nil {
			t.Fatal(err)
		}
		if got := m.Prob([]float64{c.x}); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("k=%d x=%v: P = %v, want %v", c.k, c.x, got, c.want)
		}
	}
}

// harvesterSample is a sample of the predecessor's (nmap-harvester's)
// training set, in its own format: bad.csv (634 rows) and good.csv (601).
const harvesterSample = "../../../testdata/harvester"

// loadHarvester reads up to limitPerFile rows of dir/bad.csv then
// dir/good.csv, files in the predecessor's format, as its seven features.
func loadHarvester(t testing.TB, dir string, limitPerFile int) *learn.Dataset {
	t.Helper()
	feats := []row.Column{row.Duration, row.SYN, row.ACK, row.FIN, row.RST, row.URG, row.PSH}
	d := &learn.Dataset{}
	for _, c := range feats {
		d.Features = append(d.Features, c.Name())
	}
	for _, name := range []string{"bad.csv", "good.csv"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := row.NewReader(f, name, "auto")
		if err != nil {
			t.Fatal(err)
		}
		var x row.Row
		for n := 0; n < limitPerFile; n++ {
			if err := r.Read(&x); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			for _, c := range feats {
				v, _ := x.Number(c)
				d.X = append(d.X, v)
			}
			d.Y = append(d.Y, int8(x.Label))
		}
		f.Close()
	}
	return d
}

func shuffled(d *learn.Dataset, seed uint64) *learn.Dataset {
	idx := make([]int, d.N())
	for i := range idx {
		idx[i] = i
	}
	rand.New(rand.NewPCG(seed, 0)).Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	return d.Subset(idx)
}

func TestKNNDoesNotDependOnRowOrder(t *testing.T) {
	d := loadHarvester(t, harvesterSample, 3000)
	a, b := NewKNN(5), NewKNN(5)
	if err := a.Fit(d); err != nil {
		t.Fatal(err)
	}
	if err := b.Fit(shuffled(d, 99)); err != nil {
		t.Fatal(err)
	}
	if a.Unique() >= d.N()/2 {
		t.Logf("only %d unique of %d rows: ties are the point of this test", a.Unique(), d.N())
	}
	diff := 0
	for i := 0; i < d.N(); i++ {
		if pa, pb := a.Prob(d.Row(i)), b.Prob(d.Row(i)); pa != pb {
			diff++
			if diff < 5 {
				t.Errorf("row %d: %v vs %v after shuffling", i, pa, pb)
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d predictions changed when the training rows were shuffled", diff, d.N())
	}
	// And the model is useful at all: resubstitution accuracy well above chance.
	correct := 0
	for i := 0; i < d.N(); i++ {
		if (a.Prob(d.Row(i)) >= 0.5) == (d.Y[i] == 1) {
			correct++
		}
	}
	if acc := float64(correct) / float64(d.N()); acc < 0.9 {
		t.Errorf("kNN resubstitution accuracy %v", acc)
	}
	t.Logf("%d rows, %d unique feature vectors", d.N(), a.Unique())
}

func TestLogisticRecoversGroupRates(t *testing.T) {
	// Two groups: at x=0 one scan in four, at x=1 three in four. With an
	// intercept and a slope the unpenalized fit reproduces the rates exactly;
	// the tiny L2 moves them by far less than 1e-3.
	d := oneFeature([]float64{0, 0, 0, 0, 1, 1, 1, 1}, []int8{1, 0, 0, 0, 1, 1, 1, 0})
	m := NewLogistic()
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	if p := m.Prob([]float64{0}); math.Abs(p-0.25) > 1e-3 {
		t.Errorf("P(x=0) = %v, want 0.25", p)
	}
	if p := m.Prob([]float64{1}); math.Abs(p-0.75) > 1e-3 {
		t.Errorf("P(x=1) = %v, want 0.75", p)
	}
	if m.Iterations() > 30 {
		t.Errorf("Newton took %d iterations", m.Iterations())
	}
}

func TestLogisticSeparableStaysFinite(t *testing.T) {
	d := oneFeature([]float64{0, 1, 2, 3, 10, 11, 12, 13}, []int8{0, 0, 0, 0, 1, 1, 1, 1})
	m := NewLogistic()
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	lo, hi := m.Prob([]float64{1}), m.Prob([]float64{12})
	if !(lo < 0.01 && hi > 0.99) || math.IsNaN(lo) || math.IsNaN(hi) {
		t.Errorf("P(1) = %v, P(12) = %v", lo, hi)
	}
}

func TestGaussianNBByHand(t *testing.T) {
	// Class 0: {0, 2} (mean 1, variance 1); class 1: {4, 6} (mean 5,
	// variance 1); equal priors. At x=3 the classes are symmetric; at x=1 the
	// log-odds are -(1-5)²/2 + 0 = -8.
	d := oneFeature([]float64{0, 2, 4, 6}, []int8{0, 0, 1, 1})
	m := NewGaussianNB()
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	if p := m.Prob([]float64{3}); math.Abs(p-0.5) > 1e-12 {
		t.Errorf("P(3) = %v, want 0.5", p)
	}
	want := 1 / (1 + math.Exp(8))
	if p := m.Prob([]float64{1}); math.Abs(p-want) > 1e-9 {
		t.Errorf("P(1) = %v, want %v", p, want)
	}
}

func TestGaussianNBConstantFeature(t *testing.T) {
	// URG is 0 in every harvester row: smoothing must keep the likelihood finite.
	d := &learn.Dataset{Features: []string{"a", "urg"}, X: []float64{0, 0, 1, 0, 5, 0, 6, 0}, Y: []int8{0, 0, 1, 1}}
	m := NewGaussianNB()
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	if p := m.Prob([]float64{5.5, 0}); math.IsNaN(p) || p < 0.99 {
		t.Errorf("P = %v", p)
	}
	if err := NewGaussianNB().Fit(oneFeature([]float64{1, 2}, []int8{1, 1})); err == nil {
		t.Error("one class must be refused")
	}
}

func TestBaselinesOnHarvesterSample(t *testing.T) {
	d := loadHarvester(t, harvesterSample, 2000)
	for _, m := range []learn.Classifier{NewKNN(5), NewLogistic(), NewGaussianNB()} {
		if err := m.Fit(d); err != nil {
			t.Fatalf("%s: %v", m.Name(), err)
		}
		correct := 0
		for i := 0; i < d.N(); i++ {
			p := m.Prob(d.Row(i))
			if math.IsNaN(p) || p < 0 || p > 1 {
				t.Fatalf("%s: P = %v", m.Name(), p)
			}
			if (p >= 0.5) == (d.Y[i] == 1) {
				correct++
			}
		}
		acc := float64(correct) / float64(d.N())
		t.Logf("%s: resubstitution accuracy %.4f", m.Name(), acc)
		// Naive Bayes is not held to it: in these rows the flags are nearly
		// constant within each class, so their tiny variances swamp the
		// duration evidence (scikit-learn's GaussianNB does the same).
		if _, nb := m.(*GaussianNB); !nb && acc < 0.9 {
			t.Errorf("%s: accuracy %v, no better than a coin", m.Name(), acc)
		}
	}
}

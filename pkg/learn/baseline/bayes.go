package baseline

import (
	"errors"
	"math"

	"scanwatch/pkg/learn"
)

// GaussianNB is Gaussian naive Bayes: per class, each feature is normal with
// the class's mean and variance, features independent.
//
// Variances get VarSmoothing × the largest feature variance added, as in
// scikit-learn: the harvester's flag counts are often constant within a class,
// and a zero variance would make the likelihood infinite.
type GaussianNB struct {
	VarSmoothing float64 // 0 means 1e-9

	logPrior [2]float64
	mean     [2][]float64
	variance [2][]float64
}

// NewGaussianNB returns a Gaussian naive Bayes classifier.
func NewGaussianNB() *GaussianNB { return &GaussianNB{} }

// Name implements learn.Classifier.
func (m *GaussianNB) Name() string { return "GaussianNB" }

// Fit implements learn.Classifier.
func (m *GaussianNB) Fit(d *learn.Dataset) error {
	n, f := d.N(), d.F()
	smooth := m.VarSmoothing
	if smooth == 0 {
		smooth = 1e-9
	}
	var count [2]float64
	for c := 0; c < 2; c++ {
		m.mean[c] = make([]float64, f)
		m.variance[c] = make([]float64, f)
	}
	all := make([]float64, f)
	for i := 0; i < n; i++ {
		c := d.Y[i]
		if c != 0 && c != 1 {
			return errors.New("naive Bayes: labels must be 0 or 1")
		}
		count[c]++
		for j, v := range d.Row(i) {
			m.mean[c][j] += v
			all[j] += v
		}
	}
	if count[0] == 0 || count[1] == 0 {
		return errors.New("naive Bayes: training rows must include both classes")
	}
	for j := range all {
		all[j] /= float64(n)
	}
	maxVar := 0.0
	allVar := make([]float64, f)
	for c := 0; c < 2; c++ {
		for j := range m.mean[c] {
			m.mean[c][j] /= count[c]
		}
	}
	for i := 0; i < n; i++ {
		c := d.Y[i]
		for j, v := range d.Row(i) {
			dv := v - m.mean[c][j]
			m.variance[c][j] += dv * dv
			da := v - all[j]
			allVar[j] += da * da
		}
	}
	for j := range allVar {
		maxVar = math.Max(maxVar, allVar[j]/float64(n))
	}
	eps := smooth * maxVar
	if eps == 0 {
		eps = smooth // every feature constant: any positive floor will do
	}
	for c := 0; c < 2; c++ {
		for j := range m.variance[c] {
			m.variance[c][j] = m.variance[c][j]/count[c] + eps
		}
		m.logPrior[c] = math.Log(count[c] / float64(n))
	}
	return nil
}

func (m *GaussianNB) logJoint(c int, x []float64) float64 {
	s := m.logPrior[c]
	for j, mu := range m.mean[c] {
		v := m.variance[c][j]
		dv := x[j] - mu
		s -= 0.5*math.Log(2*math.Pi*v) + dv*dv/(2*v)
	}
	return s
}

// Prob implements learn.Classifier.
func (m *GaussianNB) Prob(x []float64) float64 {
	return sigmoid(m.logJoint(1, x) - m.logJoint(0, x))
}

package baseline

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"scanwatch/pkg/learn"
)

// Logistic is L2-regularized logistic regression on standardized features,
// fitted by Newton's method (IRLS) with step halving: no learning rate to
// tune, no randomness, a handful of iterations for our few features.
//
// It minimizes mean log-loss + Lambda/2·|w|² (the intercept is not
// penalized). The penalty keeps the weights finite on separable data.
type Logistic struct {
	Lambda  float64 // L2 strength; 0 means 1e-4
	MaxIter int     // 0 means 100

	mean, scale []float64
	w           []float64 // weights on standardized features
	b           float64
	iters       int
}

// NewLogistic returns a logistic regression with default settings.
func NewLogistic() *Logistic { return &Logistic{} }

// Name implements learn.Classifier.
func (m *Logistic) Name() string { return "LogReg(L2)" }

// Iterations reports how many Newton steps Fit took.
func (m *Logistic) Iterations() int { return m.iters }

// Fit implements learn.Classifier.
func (m *Logistic) Fit(d *learn.Dataset) error {
	n, f := d.N(), d.F()
	if n == 0 {
		return errors.New("logistic regression: no training rows")
	}
	lambda := m.Lambda
	if lambda == 0 {
		lambda = 1e-4
	}
	maxIter := m.MaxIter
	if maxIter == 0 {
		maxIter = 100
	}
	ones := make([]int, n)
	for i := range ones {
		ones[i] = 1
	}
	m.mean, m.scale = weightedStandardization(d.X, ones, f)
	x := make([]float64, len(d.X))
	copy(x, d.X)
	for i := 0; i < n; i++ {
		standardize(x[i*f:(i+1)*f], m.mean, m.scale)
	}
	// theta = (w..., b): the intercept is the last coordinate.
	p := f + 1
	theta := make([]float64, p)
	loss := func(th []float64) float64 {
		var s float64
		for i := 0; i < n; i++ {
			z := dot(th[:f], x[i*f:(i+1)*f]) + th[f]
			// log(1+e^z) - y·z, computed without overflow.
			s += softplus(z) - float64(d.Y[i])*z
		}
		s /= float64(n)
		for _, w := range th[:f] {
			s += lambda / 2 * w * w
		}
		return s
	}
	cur := loss(theta)
	grad := make([]float64, p)
	hess := mat.NewSymDense(p, nil)
	step := mat.NewVecDense(p, nil)
	next := make([]float64, p)
	xi := make([]float64, p)
	m.iters = 0
	for it := 0; it < maxIter; it++ {
		m.iters = it + 1
		clear(grad)
		hess.Zero()
		h := make([]float64, p*p)
		for i := 0; i < n; i++ {
			copy(xi, x[i*f:(i+1)*f])
			xi[f] = 1
			z := dot(theta, xi)
			pr := sigmoid(z)
			r := pr - float64(d.Y[i])
			wgt := pr * (1 - pr)
			for a := 0; a < p; a++ {
				grad[a] += r * xi[a]
				wa := wgt * xi[a]
				for b := a; b < p; b++ {
					h[a*p+b] += wa * xi[b]
				}
			}
		}
		for a := 0; a < p; a++ {
			grad[a] /= float64(n)
			for b := a; b < p; b++ {
				v := h[a*p+b] / float64(n)
				if a == b {
					if a < f {
						v += lambda
						grad[a] += lambda * theta[a]
					} else {
						v += 1e-12 // the intercept is unpenalized; keep H positive definite
					}
				}
				hess.SetSym(a, b, v)
			}
		}
		var chol mat.Cholesky
		if !chol.Factorize(hess) {
			return fmt.Errorf("logistic regression: Hessian not positive definite at iteration %d", it+1)
		}
		if err := chol.SolveVecTo(step, mat.NewVecDense(p, grad)); err != nil {
			return fmt.Errorf("logistic regression: %w", err)
		}
		// Newton step with halving until the loss does not increase.
		t := 1.0
		var nl float64
		for half := 0; half < 30; half++ {
			for a := range next {
				next[a] = theta[a] - t*step.AtVec(a)
			}
			if nl = loss(next); nl <= cur {
				break
			}
			t /= 2
		}
		if nl > cur {
			break // no descent possible: at the optimum to rounding
		}
		var moved float64
		for a := range theta {
			moved = math.Max(moved, math.Abs(next[a]-theta[a]))
		}
		copy(theta, next)
		done := cur-nl < 1e-12 && moved < 1e-8
		cur = nl
		if done {
			break
		}
	}
	m.w, m.b = theta[:f], theta[f]
	return nil
}

// Prob implements learn.Classifier.
func (m *Logistic) Prob(x []float64) float64 {
	z := m.b
	for j, w := range m.w {
		z += w * (x[j] - m.mean[j]) / m.scale[j]
	}
	return sigmoid(z)
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

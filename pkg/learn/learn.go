// Package learn holds the model-facing types shared by the learners
// (package learn/trees: gradient-boosted trees, random forest, decision
// tree), the baselines and modelpick's evaluation.
package learn

import "io"

// Dataset is a dense feature matrix with binary labels.
type Dataset struct {
	Features []string  // feature (column) names, len F
	X        []float64 // row-major, len N*F
	Y        []int8    // 0 = normal, 1 = scan; len N
}

// N is the number of rows.
func (d *Dataset) N() int { return len(d.Y) }

// F is the number of features.
func (d *Dataset) F() int { return len(d.Features) }

// Row returns row i's features (a view, not a copy).
func (d *Dataset) Row(i int) []float64 { f := d.F(); return d.X[i*f : (i+1)*f] }

// Subset returns the rows idx as a new dataset (copied).
func (d *Dataset) Subset(idx []int) *Dataset {
	f := d.F()
	out := &Dataset{Features: d.Features, X: make([]float64, 0, len(idx)*f), Y: make([]int8, 0, len(idx))}
	for _, i := range idx {
		out.X = append(out.X, d.Row(i)...)
		out.Y = append(out.Y, d.Y[i])
	}
	return out
}

// Classifier is a trainable binary classifier. Implementations must be
// deterministic for a given Seed and must not depend on row order beyond it.
type Classifier interface {
	// Name is a short human name with its size, e.g. "GBDT(210)".
	Name() string
	// Fit trains on d; it may be called once.
	Fit(d *Dataset) error
	// Prob returns P(scan) for one feature vector.
	Prob(x []float64) float64
}

// Exporter is a classifier that can be written as a LightGBM text model.
type Exporter interface {
	Classifier
	// WriteLightGBM writes the trained model in LightGBM's text format
	// (version=v3, objective=binary sigmoid:1, feature_names set).
	WriteLightGBM(w io.Writer) error
}

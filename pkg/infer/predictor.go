package infer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/dmitryikh/leaves"
	"github.com/dmitryikh/leaves/transformation"
)

// Predictor scores feature vectors with a LightGBM text model through
// leaves. It is safe for concurrent use.
type Predictor struct {
	raw      *leaves.Ensemble // raw scores; the sigmoid is applied here
	sigmoid  bool
	features []string
	name     string
	// thresholds[f] are the distinct split thresholds on feature f, for
	// Memo; nil when they could not be read.
	thresholds [][]float64
}

// ErrNotModel is wrapped by LoadLightGBM's error for input that is not a
// LightGBM text model at all.
var ErrNotModel = errors.New("not a LightGBM text model")

// LoadLightGBM reads a binary LightGBM text model (version v3, or v4 whose
// text differs only by its version line). name is used in error messages.
// gbdt models score sigmoid(sum of trees); average_output (random forest)
// models score the mean of the trees, as LightGBM itself does.
func LoadLightGBM(r io.Reader, name string) (*Predictor, error) {
	// Look at the first line before reading everything, so that a capture
	// or dataset passed by mistake is rejected without being slurped.
	br := bufio.NewReader(r)
	if first, _ := br.Peek(5); len(first) < 5 || string(first[:4]) != "tree" || (first[4] != '\n' && first[4] != '\r') {
		line, _ := br.ReadSlice('\n')
		return nil, fmt.Errorf("read %s: %w", name, notModel(string(line)))
	}
	text, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	header, err := parseHeader(text)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if header.get("num_class") != "1" {
		return nil, fmt.Errorf("read %s: num_class=%s: only binary models are supported", name, header.get("num_class"))
	}
	obj := header.get("objective")
	_, average := header["average_output"]
	if !average && obj != "binary sigmoid:1" {
		return nil, fmt.Errorf("read %s: objective=%s: want a binary model (objective=binary sigmoid:1)", name, obj)
	}
	features := strings.Fields(header.get("feature_names"))
	if len(features) == 0 {
		return nil, fmt.Errorf("read %s: no feature_names line in the header", name)
	}
	maxIdx, err := strconv.Atoi(header.get("max_feature_idx"))
	if err != nil || maxIdx != len(features)-1 {
		return nil, fmt.Errorf("read %s: max_feature_idx=%s does not match %d feature_names", name, header.get("max_feature_idx"), len(features))
	}
	if header.get("version") == "v4" {
		// leaves accepts only v2/v3; v4 text models differ only here.
		text = bytes.Replace(text, []byte("\nversion=v4"), []byte("\nversion=v3"), 1)
	}
	thresholds, err := checkTreeShapes(text, len(features))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	ens, err := loadLeaves(text)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if ens.NFeatures() > len(features) {
		return nil, fmt.Errorf("read %s: trees use feature %d but only %d feature_names are given", name, ens.NFeatures()-1, len(features))
	}
	p := &Predictor{raw: ens.EnsembleWithRawPredictions(), features: features, name: ens.Name(),
		thresholds: thresholds}
	switch ens.Transformation().Type() {
	case transformation.Logistic:
		p.sigmoid = true
	case transformation.Raw:
	default:
		return nil, fmt.Errorf("read %s: unsupported output transformation %s", name, ens.Transformation().Name())
	}
	return p, nil
}

// loadLeaves hands the text to leaves, turning its panics on malformed
// trees (it indexes arrays it has not checked) into errors.
func loadLeaves(text []byte) (ens *leaves.Ensemble, err error) {
	defer func() {
		if r := recover(); r != nil {
			ens, err = nil, fmt.Errorf("malformed tree: %v", r)
		}
	}()
	return leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(text)), true)
}

func notModel(first string) error {
	first = strings.TrimRight(first, "\r\n")
	if len(first) > 40 {
		first = first[:40] + "…"
	}
	return fmt.Errorf("%w: line 1 is %q, want \"tree\"", ErrNotModel, first)
}

type headerFields map[string]string

func (h headerFields) get(k string) string { return h[k] }

// parseHeader reads the key=value lines before the first blank line.
func parseHeader(text []byte) (headerFields, error) {
	lines := strings.SplitN(string(text), "\n", 64)
	if strings.TrimSpace(lines[0]) != "tree" {
		return nil, notModel(lines[0])
	}
	h := headerFields{}
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, "=")
		h[k] = v
	}
	switch v := h.get("version"); v {
	case "v2", "v3", "v4":
	case "":
		return nil, fmt.Errorf("%w: no version line in the header", ErrNotModel)
	default:
		return nil, fmt.Errorf("model version %s is not supported (want v3 or v4)", v)
	}
	return h, nil
}

// Name is leaves' name for the model kind: "lightgbm.gbdt" or "lightgbm.rf".
func (p *Predictor) Name() string { return p.name }

// Features returns the model's feature names in input order.
func (p *Predictor) Features() []string { return p.features }

// NTrees is the number of trees.
func (p *Predictor) NTrees() int { return p.raw.NEstimators() }

// Prob returns P(scan) for x, which must hold len(Features()) values;
// otherwise it returns NaN.
func (p *Predictor) Prob(x []float64) float64 {
	if len(x) != len(p.features) {
		return math.NaN()
	}
	s := p.raw.PredictSingle(x, 0)
	if p.sigmoid {
		s = sigmoid(s)
	}
	return s
}

// ProbBatch scores the row-major matrix x (len(out) rows of
// len(Features()) values) into out, on all CPUs for large batches.
func (p *Predictor) ProbBatch(x []float64, out []float64) error {
	nf := len(p.features)
	if len(x) != len(out)*nf {
		return fmt.Errorf("infer: batch of %d values is not %d rows × %d features", len(x), len(out), nf)
	}
	if len(out) == 0 {
		return nil
	}
	if err := p.raw.PredictDense(x, len(out), nf, out, 0, runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	if p.sigmoid {
		for i, s := range out {
			out[i] = sigmoid(s)
		}
	}
	return nil
}

// sigmoid is LightGBM's binary objective's link (sigmoid:1), as the GBDT
// trainer applies it.
func sigmoid(x float64) float64 { return 1.0 / (1.0 + math.Exp(-x)) }

// checkTreeShapes rejects trees whose child links do not form a tree:
// leaves follows them without checks, and a cycle makes it loop forever
// (found by FuzzLoadLightGBM). LightGBM numbers a node after its parent, so
// every internal child index is greater than its parent's and each
// internal node but the root has exactly one parent.
//
// It also returns, per feature, the sorted distinct thresholds of the
// splits on it, for Memo; nil when one cannot be read as leaves reads it
// (leaves then rejects the model) or a feature has too many for a 16-bit
// cell index.
func checkTreeShapes(text []byte, nFeatures int) ([][]float64, error) {
	thresholds := make([][]float64, nFeatures)
	// leaves reads blank-line separated blocks; check every block that has
	// child links, whether or not it is headed "Tree=".
	blocks := strings.Split(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n\n")
	for n, b := range blocks {
		fields := map[string]string{}
		for _, l := range strings.Split(b, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
			fields[k] = v
		}
		_, hasLeft := fields["left_child"]
		_, hasRight := fields["right_child"]
		if !hasLeft && !hasRight {
			continue
		}
		id := fields["Tree"]
		if id == "" {
			id = fmt.Sprintf("in block %d", n+1)
		}
		leaves, err := strconv.Atoi(fields["num_leaves"])
		if err != nil || leaves < 1 {
			return nil, fmt.Errorf("tree %s: bad num_leaves %q", id, fields["num_leaves"])
		}
		if leaves == 1 {
			continue
		}
		left, lerr := atois(fields["left_child"])
		right, rerr := atois(fields["right_child"])
		if lerr != nil || rerr != nil || len(left) != leaves-1 || len(right) != leaves-1 {
			return nil, fmt.Errorf("tree %s: left_child/right_child do not list %d internal nodes", id, leaves-1)
		}
		splits, serr := atois(fields["split_feature"])
		if serr != nil || len(splits) != leaves-1 {
			return nil, fmt.Errorf("tree %s: split_feature does not list %d internal nodes", id, leaves-1)
		}
		for _, f := range splits {
			if f < 0 || f >= nFeatures {
				return nil, fmt.Errorf("tree %s: split on feature %d, but the model has %d", id, f, nFeatures)
			}
		}
		if nc := strings.TrimSpace(fields["num_cat"]); nc != "" && nc != "0" {
			return nil, fmt.Errorf("tree %s: categorical splits (num_cat=%s) are not supported", id, nc)
		}
		dts, derr := atois(fields["decision_type"])
		if derr != nil {
			return nil, fmt.Errorf("tree %s: bad decision_type", id)
		}
		for _, dt := range dts {
			if dt&1 != 0 || dt < 0 || dt > 15 {
				return nil, fmt.Errorf("tree %s: decision_type %d (categorical or unknown) is not supported", id, dt)
			}
		}
		for _, k := range []string{"threshold", "decision_type"} {
			if n := len(strings.Fields(fields[k])); n != leaves-1 {
				return nil, fmt.Errorf("tree %s: %s has %d values, want %d", id, k, n, leaves-1)
			}
		}
		if n := len(strings.Fields(fields["leaf_value"])); n != leaves {
			return nil, fmt.Errorf("tree %s: leaf_value has %d values, want %d", id, n, leaves)
		}
		parents := make([]int, leaves-1)
		leafSeen := make([]bool, leaves)
		for i := range left {
			for _, c := range []int{left[i], right[i]} {
				switch {
				case c >= 0 && (c <= i || c >= leaves-1):
					return nil, fmt.Errorf("tree %s: node %d has child %d: not a tree", id, i, c)
				case c >= 0:
					parents[c]++
				case ^c >= leaves || leafSeen[^c]:
					return nil, fmt.Errorf("tree %s: node %d has leaf %d twice or out of range", id, i, ^c)
				default:
					leafSeen[^c] = true
				}
			}
		}
		for i := 1; i < len(parents); i++ {
			if parents[i] != 1 {
				return nil, fmt.Errorf("tree %s: node %d has %d parents", id, i, parents[i])
			}
		}
		if thresholds != nil {
			for i, t := range strings.Fields(fields["threshold"]) {
				// leaves parses thresholds with strconv.ParseFloat too.
				v, err := strconv.ParseFloat(t, 64)
				if err != nil {
					thresholds = nil
					break
				}
				thresholds[splits[i]] = append(thresholds[splits[i]], v)
			}
		}
	}
	for i := range thresholds {
		slices.Sort(thresholds[i])
		thresholds[i] = slices.Compact(thresholds[i])
		if len(thresholds[i]) >= math.MaxUint16-1 {
			return nil, nil
		}
	}
	return thresholds, nil
}

func atois(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Fields(s) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

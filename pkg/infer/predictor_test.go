package infer

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/learn/trees"
)

// readFloats parses whitespace-separated numbers, one row per line.
func readFloats(t *testing.T, path string, parse func(line string) []float64) [][]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]float64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		rows = append(rows, parse(l))
	}
	return rows
}

func parseFields(t *testing.T) func(string) []float64 {
	return func(l string) []float64 {
		var r []float64
		for _, f := range strings.Fields(l) {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			r = append(r, v)
		}
		return r
	}
}

// parseLibSVM reads "label i:v ..." into a dense row of n features.
func parseLibSVM(t *testing.T, n int) func(string) []float64 {
	return func(l string) []float64 {
		r := make([]float64, n)
		for _, f := range strings.Fields(l)[1:] {
			i, v, _ := strings.Cut(f, ":")
			k, err1 := strconv.Atoi(i)
			x, err2 := strconv.ParseFloat(v, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("bad libsvm field %q", f)
			}
			r[k] = x
		}
		return r
	}
}

// openTestModel loads a model LightGBM itself wrote, from testdata/lightgbm.
func openTestModel(t *testing.T, name string) *Predictor {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "lightgbm", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := LoadLightGBM(f, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadRealLightGBM scores models written by LightGBM itself and
// compares with LightGBM's own predictions: a binary dart model (sigmoid of
// the sum) and a binary random forest (average_output: mean, no sigmoid).
func TestLoadRealLightGBM(t *testing.T) {
	dir := filepath.Join("testdata", "lightgbm")
	for _, c := range []struct {
		model, rows, truth string
		nf                 int
		kind               string
	}{
		{"lg_dart_breast_cancer.model", "breast_cancer_test.tsv", "lg_dart_breast_cancer_true_predictions.txt", 30, "lightgbm.gbdt"},
		{"lg_rf_iris.model", "iris_test.libsvm", "lg_rf_iris_true_predictions.txt", 4, "lightgbm.rf"},
	} {
		p := openTestModel(t, c.model)
		if len(p.Features()) != c.nf || p.Features()[0] != "Column_0" || p.Name() != c.kind {
			t.Errorf("%s: %s with features %v", c.model, p.Name(), p.Features())
		}
		parse := parseFields(t)
		if strings.HasSuffix(c.rows, ".libsvm") {
			parse = parseLibSVM(t, c.nf)
		}
		rows := readFloats(t, filepath.Join(dir, c.rows), parse)
		truth := readFloats(t, filepath.Join(dir, c.truth), parseFields(t))
		if len(rows) != len(truth) || len(rows) < 20 {
			t.Fatalf("%s: %d rows, %d predictions", c.model, len(rows), len(truth))
		}
		var flat []float64
		for _, r := range rows {
			flat = append(flat, r...)
		}
		batch := make([]float64, len(rows))
		if err := p.ProbBatch(flat, batch); err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			want := truth[i][0]
			if got := p.Prob(r); math.Abs(got-want) > 1e-10 || math.Abs(batch[i]-want) > 1e-10 {
				t.Errorf("%s row %d: %v (batch %v), LightGBM %v", c.model, i, got, batch[i], want)
			}
		}
	}
}

func TestLoadLightGBMVersions(t *testing.T) {
	// x > 3 is a scan, four rows of each x in 1..6.
	d := &learn.Dataset{Features: []string{"x"}}
	for x := 1; x <= 6; x++ {
		for r := 0; r < 4; r++ {
			d.X = append(d.X, float64(x))
			d.Y = append(d.Y, 0)
			if x > 3 {
				d.Y[len(d.Y)-1] = 1
			}
		}
	}
	m := &trees.GBDT{Trees: 5}
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteLightGBM(&buf); err != nil {
		t.Fatal(err)
	}
	v3 := buf.String()
	v4 := strings.Replace(v3, "version=v3", "version=v4", 1)
	p, err := LoadLightGBM(strings.NewReader(v4), "v4.txt")
	if err != nil {
		t.Fatalf("v4 model rejected: %v", err)
	}
	if got, want := p.Prob([]float64{4}), m.Prob([]float64{4}); got != want {
		t.Errorf("v4 model scores %v, want %v", got, want)
	}
	crlf := strings.ReplaceAll(v4, "\n", "\r\n")
	if p, err := LoadLightGBM(strings.NewReader(crlf), "crlf.txt"); err != nil {
		t.Errorf("v4 model with CRLF lines rejected: %v", err)
	} else if got, want := p.Prob([]float64{2}), m.Prob([]float64{2}); got != want {
		t.Errorf("CRLF model scores %v, want %v", got, want)
	}
	for _, c := range []struct{ name, text, want string }{
		{"empty", "", `read bad.txt: not a LightGBM text model: line 1 is "", want "tree"`},
		{"csv", "duration,SYN,label\n1,2,1\n", `read bad.txt: not a LightGBM text model: line 1 is "duration,SYN,label", want "tree"`},
		{"binary", "\xd4\xc3\xb2\xa1\x02\x00\x04\x00", `read bad.txt: not a LightGBM text model: line 1 is "\xd4ò\xa1\x02\x00\x04\x00", want "tree"`},
		{"trees", "trees\nversion=v3\n", `read bad.txt: not a LightGBM text model: line 1 is "trees", want "tree"`},
		{"no version", "tree\nnum_class=1\n\n", "read bad.txt: not a LightGBM text model: no version line in the header"},
		{"v5", strings.Replace(v3, "version=v3", "version=v5", 1), "read bad.txt: model version v5 is not supported (want v3 or v4)"},
		{"multiclass", strings.Replace(v3, "num_class=1", "num_class=3", 1), "read bad.txt: num_class=3: only binary models are supported"},
		{"regression", strings.Replace(v3, "objective=binary sigmoid:1", "objective=regression", 1), "read bad.txt: objective=regression: want a binary model (objective=binary sigmoid:1)"},
		{"no names", strings.Replace(v3, "feature_names=x\n", "", 1), "read bad.txt: no feature_names line in the header"},
		{"names", strings.Replace(v3, "feature_names=x\n", "feature_names=x y\n", 1), "read bad.txt: max_feature_idx=0 does not match 2 feature_names"},
		{"truncated", v3[:len(v3)/2], "read bad.txt: error while reading"},
		{"bad child", strings.Replace(v3, "right_child=-2", "right_child=7", 1), "read bad.txt: tree 0: node 0 has child 7: not a tree"},
	} {
		_, err := LoadLightGBM(strings.NewReader(c.text), "bad.txt")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %q, want prefix %q", c.name, err, c.want)
		}
		if (c.name == "empty" || c.name == "csv" || c.name == "binary" || c.name == "trees" || c.name == "no version") != errors.Is(err, ErrNotModel) {
			t.Errorf("%s: errors.Is(ErrNotModel) wrong for %q", c.name, err)
		}
	}
}

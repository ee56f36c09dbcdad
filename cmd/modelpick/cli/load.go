package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/learn"
	"scanwatch/pkg/row"
)

// harvesterFeatures are the harvester model's seven inputs.
var harvesterFeatures = []row.Column{row.Duration, row.SYN, row.ACK, row.FIN, row.RST, row.URG, row.PSH}

// resolveFeatures turns --features into columns for a stream with schema s:
// "seed", "extended" (the seven plus every evidence column s has) or a
// comma-separated list of numeric column names. name is the input's name
// for error messages.
func resolveFeatures(spec, name string, s *row.Schema) ([]row.Column, error) {
	var cols []row.Column
	switch strings.TrimSpace(spec) {
	case "seed", "":
		cols = slices.Clone(harvesterFeatures)
	case "portable":
		cols = row.Portable()
	case "extended":
		cols = slices.Clone(harvesterFeatures)
		for _, c := range row.Evidence() {
			if s.Has(c) {
				cols = append(cols, c)
			}
		}
	default:
		for _, n := range strings.Split(spec, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			c, ok := row.ColumnByName(n)
			if !ok {
				return nil, cliutil.Usagef("unknown feature %q (numeric columns: %s)", n, strings.Join(numericNames(), " "))
			}
			if !c.Numeric() {
				return nil, cliutil.Usagef("feature %s is not a numeric column", n)
			}
			if c == row.Label || c == row.Score || c == row.Prediction {
				return nil, cliutil.Usagef("feature %s is a label or a model output, not evidence", n)
			}
			if slices.Contains(cols, c) {
				return nil, cliutil.Usagef("feature %s named twice", n)
			}
			cols = append(cols, c)
		}
		if len(cols) == 0 {
			return nil, cliutil.Usagef("--features names no column")
		}
	}
	if err := s.Require(cols...); err != nil {
		return nil, fmt.Errorf("%s: %v (needed by --features %s)", name, err, spec)
	}
	return cols, nil
}

func numericNames() []string {
	var out []string
	for c := row.Column(0); c < row.Label; c++ {
		if c.Numeric() {
			out = append(out, c.Name())
		}
	}
	for _, c := range row.Derived() {
		out = append(out, c.Name())
	}
	return out
}

func names(cols []row.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name()
	}
	return out
}

// loadFile opens path ("-" = stdin) and loads it with load.
func loadFile(path string, stdin io.Reader, spec string, fixed []row.Column) (*learn.Dataset, []row.Column, error) {
	name := path
	var r io.Reader = stdin
	if path == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		r = f
	}
	return load(r, name, spec, fixed)
}

// load reads labelled rows into a dataset. The features come from spec, or
// are exactly fixed when it is not nil (a hold-out set must have the
// training set's features).
func load(r io.Reader, name, spec string, fixed []row.Column) (*learn.Dataset, []row.Column, error) {
	rd, err := row.NewReader(r, name, "auto")
	if err != nil {
		return nil, nil, err
	}
	s := rd.Schema()
	cols := fixed
	if cols == nil {
		if cols, err = resolveFeatures(spec, name, s); err != nil {
			return nil, nil, err
		}
	} else if err := s.Require(cols...); err != nil {
		return nil, nil, fmt.Errorf("%s: %v (the model's features)", name, err)
	}
	if !s.Has(row.Label) {
		return nil, nil, fmt.Errorf("%s: missing column label (modelpick trains on labelled rows; csvmerge --relabel adds one)", name)
	}
	d := &learn.Dataset{Features: names(cols)}
	var x row.Row
	for {
		err := rd.Read(&x)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if x.Label != 0 && x.Label != 1 {
			return nil, nil, &row.Error{Name: name, Line: rd.Line(), Column: "label", Err: fmt.Errorf("%d is not 0 (normal) or 1 (scan)", x.Label)}
		}
		for _, c := range cols {
			v, _ := x.Number(c)
			d.X = append(d.X, v)
		}
		d.Y = append(d.Y, int8(x.Label))
	}
	if d.N() == 0 {
		return nil, nil, fmt.Errorf("%s: no rows after the header", name)
	}
	return d, cols, nil
}

// classCounts returns the number of normal and scan rows.
func classCounts(d *learn.Dataset) (normal, scan int) {
	for _, y := range d.Y {
		if y == 1 {
			scan++
		} else {
			normal++
		}
	}
	return normal, scan
}

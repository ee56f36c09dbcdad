package trees

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/row"
)

// seedDir holds the seed project's datasets (see /work/shared/seed/README.md).
const seedDir = "/work/shared/seed/datasets"

// seedFeatures are the seed model's inputs.
var seedFeatures = []row.Column{row.Duration, row.SYN, row.ACK, row.FIN, row.RST, row.URG, row.PSH}

// loadSeedTrain reads the seed's training set (bad.csv then good.csv) with
// pkg/row, skipping the test when the files are absent.
func loadSeedTrain(tb testing.TB) *learn.Dataset {
	tb.Helper()
	d := &learn.Dataset{}
	for _, c := range seedFeatures {
		d.Features = append(d.Features, c.Name())
	}
	for _, name := range []string{"bad.csv", "good.csv"} {
		path := filepath.Join(seedDir, "train", name)
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			tb.Skipf("seed dataset absent: %v", err)
		}
		if err != nil {
			tb.Fatal(err)
		}
		rd, err := row.NewReader(f, path, "auto")
		if err != nil {
			f.Close()
			tb.Fatal(err)
		}
		var r row.Row
		for {
			err := rd.Read(&r)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				tb.Fatal(err)
			}
			for _, c := range seedFeatures {
				v, ok := r.Number(c)
				if !ok {
					tb.Fatalf("%s line %d: no %s", path, rd.Line(), c.Name())
				}
				d.X = append(d.X, v)
			}
			d.Y = append(d.Y, int8(r.Label))
		}
		f.Close()
	}
	return d
}

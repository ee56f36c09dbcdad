package trees

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/row"
)

// seedDir holds the seed project's datasets (see /work/shared/seed/README.md).
const seedDir = "/work/shared/seed/datasets"

// seedFeatures are the seed model's inputs.
var seedFeatures = []row.Column{row.Duration, row.SYN, row.ACK, row.FIN, row.RST, row.URG, row.PSH}

var seedTrain struct {
	once sync.Once
	d    *learn.Dataset
	skip string
	err  error
}

// loadSeedTrain reads the seed's training set (bad.csv then good.csv) with
// pkg/row, once per test binary, skipping the test when the files are
// absent. Callers must not modify the dataset.
func loadSeedTrain(tb testing.TB) *learn.Dataset {
	tb.Helper()
	seedTrain.once.Do(func() { seedTrain.d, seedTrain.skip, seedTrain.err = readSeedTrain() })
	if seedTrain.skip != "" {
		tb.Skip(seedTrain.skip)
	}
	if seedTrain.err != nil {
		tb.Fatal(seedTrain.err)
	}
	return seedTrain.d
}

func readSeedTrain() (*learn.Dataset, string, error) {
	d := &learn.Dataset{}
	for _, c := range seedFeatures {
		d.Features = append(d.Features, c.Name())
	}
	for _, name := range []string{"bad.csv", "good.csv"} {
		path := filepath.Join(seedDir, "train", name)
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Sprintf("seed dataset absent: %v", err), nil
		}
		if err != nil {
			return nil, "", err
		}
		rd, err := row.NewReader(f, path, "auto")
		if err != nil {
			f.Close()
			return nil, "", err
		}
		var r row.Row
		for {
			err := rd.Read(&r)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return nil, "", err
			}
			for _, c := range seedFeatures {
				v, ok := r.Number(c)
				if !ok {
					f.Close()
					return nil, "", fmt.Errorf("%s line %d: no %s", path, rd.Line(), c.Name())
				}
				d.X = append(d.X, v)
			}
			d.Y = append(d.Y, int8(r.Label))
		}
		f.Close()
	}
	return d, "", nil
}

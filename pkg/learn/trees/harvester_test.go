package trees

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"scanwatch/pkg/learn"
	"scanwatch/pkg/row"
)

// harvesterFeatures are the inputs of the predecessor's (nmap-harvester's)
// model.
var harvesterFeatures = []row.Column{row.Duration, row.SYN, row.ACK, row.FIN, row.RST, row.URG, row.PSH}

var harvesterSample struct {
	once sync.Once
	d    *learn.Dataset
	err  error
}

// loadHarvesterSample reads the sample of the predecessor's training set
// committed in testdata/harvester (bad.csv then good.csv, 1,235 rows), once
// per test binary. Callers must not modify the dataset.
func loadHarvesterSample(tb testing.TB) *learn.Dataset {
	tb.Helper()
	harvesterSample.once.Do(func() {
		harvesterSample.d, harvesterSample.err = readHarvester(filepath.Join("..", "..", "..", "testdata", "harvester"))
	})
	if harvesterSample.err != nil {
		tb.Fatal(harvesterSample.err)
	}
	return harvesterSample.d
}

// readHarvester reads dir/bad.csv then dir/good.csv, files in the
// predecessor's format, as harvesterFeatures and label.
func readHarvester(dir string) (*learn.Dataset, error) {
	d := &learn.Dataset{}
	for _, c := range harvesterFeatures {
		d.Features = append(d.Features, c.Name())
	}
	for _, name := range []string{"bad.csv", "good.csv"} {
		if err := readHarvesterFile(filepath.Join(dir, name), d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func readHarvesterFile(path string, d *learn.Dataset) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := row.NewReader(f, path, "auto")
	if err != nil {
		return err
	}
	var r row.Row
	for {
		err := rd.Read(&r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, c := range harvesterFeatures {
			v, ok := r.Number(c)
			if !ok {
				return fmt.Errorf("%s line %d: no %s", path, rd.Line(), c.Name())
			}
			d.X = append(d.X, v)
		}
		d.Y = append(d.Y, int8(r.Label))
	}
}

package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
)

// BenchmarkScanclassCSV scores CSV rows end to end (parse, model, write)
// with the harvester-trained GBDT(50): the rows of testdata/nmap.csv repeated
// to 200 k.
func BenchmarkScanclassCSV(b *testing.B) {
	data, err := os.ReadFile("../testdata/nmap.csv")
	if err != nil {
		b.Fatal(err)
	}
	i := bytes.IndexByte(data, '\n')
	header, body := data[:i+1], data[i+1:]
	lines := bytes.Count(body, []byte("\n"))
	in := append([]byte{}, header...)
	rows := 0
	for rows < 200_000 {
		in = append(in, body...)
		rows += lines
	}
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := Run(context.Background(), []string{"-m", "../testdata/harvester-gbdt50.txt"}, bytes.NewReader(in), io.Discard, io.Discard); code != 0 {
			b.Fatal("exit", code)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"scanwatch/pkg/row"
)

// BenchmarkCSVToEVE runs the whole tool, CSV in, EVE out: the mixed capture's
// rows repeated with packet time shifted by a minute per copy.
func BenchmarkCSVToEVE(b *testing.B) {
	for _, format := range []string{"csv", "ndjson"} {
		b.Run(format, func(b *testing.B) {
			f, err := os.Open("../testdata/mixed.csv")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			rd, err := row.NewReader(f, "mixed.csv", "csv")
			if err != nil {
				b.Fatal(err)
			}
			var rows []row.Row
			for {
				var r row.Row
				if err := rd.Read(&r); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				rows = append(rows, r)
			}
			var in bytes.Buffer
			w, _ := row.NewWriter(&in, format, rd.Schema(), row.WriterOptions{})
			const copies = 200
			for c := range copies {
				shift := int64(c) * int64(time.Minute)
				for _, r := range rows {
					for _, t := range []*int64{&r.StartRequest, &r.EndRequest, &r.StartResponse, &r.EndResponse} {
						if *t != 0 {
							*t += shift
						}
					}
					w.Write(&r)
				}
			}
			w.Close()
			data := in.Bytes()
			n := copies * len(rows)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				code := Run(context.Background(), []string{"--format", "eve", "--no-summary"}, bytes.NewReader(data), io.Discard, io.Discard)
				if code != ExitAlerts {
					b.Fatalf("exit %d", code)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

package session

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
)

// benchPcap writes a synthetic capture with tools/mkpcap once per run.
func benchPcap(b *testing.B, packets string) []byte {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.pcap")
	cmd := exec.Command("go", "run", "../../tools/mkpcap", "-n", packets, "-o", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("mkpcap: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkSessionize measures pcap bytes in memory → session rows written
// as CSV to a discarding writer: decoding, the table and the encoder, no disk.
func BenchmarkSessionize(b *testing.B) {
	data := benchPcap(b, "1000000")
	b.ResetTimer()
	var packets uint64
	for i := 0; i < b.N; i++ {
		src, err := capture.OpenReader(bytes.NewReader(data), "bench")
		if err != nil {
			b.Fatal(err)
		}
		dec, _ := NewDecoder(src.Link)
		w, _ := row.NewWriter(discard{}, "csv", row.SessionSchema(false), row.WriterOptions{})
		tab := NewTable(Config{}, w.Write)
		if err := tab.Run(context.Background(), src, dec, RunOptions{}); err != nil {
			b.Fatal(err)
		}
		w.Close()
		packets += tab.Stats().Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

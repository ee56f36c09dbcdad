package session

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"

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

// BenchmarkSessionizeGroup is BenchmarkSessionize through a Group of 1, 2
// and 3 workers, a reader dealing the packets and the writer set up as
// pcapsess -r --workers does (rows formatted in the background with one
// worker; by the group's writer goroutine with several).
func BenchmarkSessionizeGroup(b *testing.B) {
	data := benchPcap(b, "1000000")
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			var packets uint64
			for i := 0; i < b.N; i++ {
				src, err := capture.OpenReader(bytes.NewReader(data), "bench")
				if err != nil {
					b.Fatal(err)
				}
				w, _ := row.NewWriter(discard{}, "csv", row.SessionSchema(false), row.WriterOptions{Background: n == 1})
				g := NewGroup(Config{}, n, w.Write)
				err = g.Run(context.Background(), []gopacket.PacketDataSource{src}, src.Link, RunOptions{Split: capture.FlowHash(src.Link)})
				if err != nil {
					b.Fatal(err)
				}
				w.Close()
				st, _ := g.Stats()
				packets += st.Packets
			}
			b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

package alert

import (
	"fmt"
	"testing"
	"time"

	"scanwatch/pkg/row"
)

// benchRows is a busy minute: 64 normal clients with 5 % false positives
// and 4 scanners sweeping ports, 1 session every 20 µs in all.
func benchRows(n int) ([]row.Row, []bool) {
	rows := make([]row.Row, n)
	anom := make([]bool, n)
	for i := range rows {
		at := time.Duration(i) * 20 * time.Microsecond
		if i%8 == 0 {
			rows[i] = session(fmt.Sprintf("10.0.1.%d", i/8%4), "10.0.0.9", uint16(i/8), at)
			rows[i].SYN, rows[i].ACK, rows[i].FIN, rows[i].RST = 0, 1, 1, 1
			anom[i] = true
		} else {
			rows[i] = session(fmt.Sprintf("10.0.2.%d", i%64), "10.0.0.9", 80, at)
			rows[i].SYN, rows[i].ACK, rows[i].FIN, rows[i].PSH, rows[i].RST = 2, 8, 2, 2, 0
			anom[i] = i%20 == 1
		}
	}
	return rows, anom
}

// BenchmarkDetector measures Observe alone (no parsing, no output).
func BenchmarkDetector(b *testing.B) {
	const n = 1 << 16
	rows, anom := benchRows(n)
	span := int64(n) * int64(20*time.Microsecond)
	d, _ := NewDetector(Config{}, false)
	alerts := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &rows[i%n]
		if i >= n {
			r.StartRequest += span
			r.EndRequest += span
			r.StartResponse += span
			r.EndResponse += span
		}
		evs, err := d.Observe(r, anom[i%n])
		if err != nil {
			b.Fatal(err)
		}
		alerts += len(evs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if b.N > 1000 && alerts == 0 {
		b.Fatal("no alert records")
	}
}

func BenchmarkClassify(b *testing.B) {
	rows, _ := benchRows(1024)
	var n int
	for i := 0; i < b.N; i++ {
		n += int(Classify(&rows[i%1024]))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

package row

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestBackgroundWriterSameBytes: the background writer writes exactly what
// the writer it wraps writes, across many batches, in both formats, while
// the caller reuses one Row; Flush returns with every row so far written.
func TestBackgroundWriterSameBytes(t *testing.T) {
	s := SessionSchema(true)
	s = NewSchema(s.Known, []string{"note"})
	n := 3*backgroundBatch + 17
	for _, format := range Formats {
		var direct, bg bytes.Buffer
		dw, _ := NewWriter(&direct, format, s, WriterOptions{})
		bw, err := NewWriter(&bg, format, s, WriterOptions{Background: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := bw.(*backgroundWriter); !ok {
			t.Fatalf("%s: Background gave a %T", format, bw)
		}
		var r Row
		for i := 0; i < n; i++ {
			r.SrcPort, r.DstPort, r.SYN, r.Duration = uint16(i), 80, i%3, float64(i)/7
			r.Extra = append(r.Extra[:0], fmt.Sprintf("row %d, quoted", i))
			if err := dw.Write(&r); err != nil {
				t.Fatal(err)
			}
			if err := bw.Write(&r); err != nil {
				t.Fatal(err)
			}
			if i == backgroundBatch+3 {
				if err := bw.Flush(); err != nil {
					t.Fatal(err)
				}
				dw.Flush()
				if !bytes.Equal(direct.Bytes(), bg.Bytes()) {
					t.Fatalf("%s: after Flush %d bytes written, want %d", format, bg.Len(), direct.Len())
				}
			}
		}
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := bw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(direct.Bytes(), bg.Bytes()) {
			t.Errorf("%s: background output differs from direct output (%d vs %d bytes)", format, bg.Len(), direct.Len())
		}
	}
}

// failAfter accepts n bytes, then fails like a closed pipe.
type failAfter struct{ n int }

var errClosedPipe = errors.New("write |1: broken pipe")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errClosedPipe
	}
	f.n -= len(p)
	return len(p), nil
}

// TestBackgroundWriterReportsWriteErrors: a failing output stops the
// producer with the wrapped writer's error, and Close reports it too.
func TestBackgroundWriterReportsWriteErrors(t *testing.T) {
	w, _ := NewWriter(&failAfter{n: 100 << 10}, "csv", SessionSchema(false), WriterOptions{Background: true})
	var r Row
	var err error
	for i := 0; i < 1_000_000 && err == nil; i++ {
		err = w.Write(&r)
	}
	if !errors.Is(err, errClosedPipe) {
		t.Fatalf("Write kept accepting rows after the output failed: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errClosedPipe) {
		t.Errorf("Close = %v, want the write error", err)
	}
	// Empty and header-only output still works.
	var b bytes.Buffer
	w, _ = NewWriter(&b, "csv", SessionSchema(false), WriterOptions{Background: true})
	if err := w.Close(); err != nil || b.Len() == 0 || bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Errorf("empty stream: %v, %q", err, b.String())
	}
	// With AutoFlush rows are written at once: no background goroutine.
	w, _ = NewWriter(&b, "csv", SessionSchema(false), WriterOptions{Background: true, AutoFlush: true})
	if _, ok := w.(*backgroundWriter); ok {
		t.Error("Background with AutoFlush gave a background writer")
	}
}

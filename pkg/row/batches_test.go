package row

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// manyRows is a CSV stream of n rows (SYN = row number, an unknown column
// holding it too), then a line that does not parse.
func manyRows(n int) string {
	var b strings.Builder
	b.WriteString("SYN,note\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%d,row %d\n", i, i)
	}
	b.WriteString("x,bad\n")
	return b.String()
}

// readBatches reads every batch, checking that rows arrive in order, and
// returns the number of rows, of batches and of live batches, and the
// error that ended the input.
func readBatches(t *testing.T, br *BatchReader) (rows, batches, live int, err error) {
	t.Helper()
	defer br.Close()
	for b := br.Next(); b != nil; b = br.Next() {
		batches++
		if b.Live {
			live++
		}
		for i := range b.Rows {
			if b.Rows[i].SYN != rows || b.Rows[i].Extra[0] != fmt.Sprintf("row %d", rows) {
				t.Fatalf("row %d arrived as %+v", rows, b.Rows[i])
			}
			rows++
		}
		if b.Err != nil {
			return rows, batches, live, b.Err
		}
		br.Release(b)
	}
	t.Fatal("no batch carried the end of input")
	return
}

// TestBatchReaderOrderAndError: every row in order across many batches
// (each row's own Extra kept apart), then the parse error, located.
func TestBatchReaderOrderAndError(t *testing.T) {
	for _, live := range []bool{false, true} {
		in := &FlushBeforeRead{R: strings.NewReader(manyRows(1000))}
		r, err := NewReader(in, "many.csv", "csv")
		if err != nil {
			t.Fatal(err)
		}
		opt := BatchOptions{Size: 64}
		if live {
			opt.Live = in
		}
		rows, batches, _, err := readBatches(t, NewBatchReader(context.Background(), r, opt))
		if rows != 1000 || batches < 1000/64 || err == nil || !strings.Contains(err.Error(), "many.csv line 1002: column SYN") {
			t.Errorf("live %v: %d rows in %d batches, then %v", live, rows, batches, err)
		}
	}
}

// oneLine hands out one line per Read, as a pipe from a live producer does.
type oneLine struct{ lines []string }

func (o *oneLine) Read(p []byte) (int, error) {
	if len(o.lines) == 0 {
		return 0, io.EOF
	}
	n := copy(p, o.lines[0])
	if o.lines[0] = o.lines[0][n:]; o.lines[0] == "" {
		o.lines = o.lines[1:]
	}
	return n, nil
}

// TestBatchReaderLive: with Live, rows are handed over each time the input
// is about to wait, not held back until a batch is full.
func TestBatchReaderLive(t *testing.T) {
	text := manyRows(10)
	text = text[:strings.Index(text, "x,bad")]
	in := &FlushBeforeRead{R: &oneLine{lines: strings.SplitAfter(text, "\n")}}
	r, err := NewReader(in, "live", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, batches, live, err := readBatches(t, NewBatchReader(context.Background(), r, BatchOptions{Size: 1024, Live: in}))
	if rows != 10 || live < 9 || batches != live+1 || err != io.EOF {
		t.Errorf("%d rows in %d batches (%d live), then %v", rows, batches, live, err)
	}
}

// TestBatchReaderCloseEarly: the caller may stop at any batch; Close
// returns once the reading goroutine has left, also for a cancelled
// context, which ends the input after the batch at hand.
func TestBatchReaderCloseEarly(t *testing.T) {
	r, err := NewReader(strings.NewReader(manyRows(5000)), "many.csv", "csv")
	if err != nil {
		t.Fatal(err)
	}
	br := NewBatchReader(context.Background(), r, BatchOptions{Size: 16})
	if b := br.Next(); b == nil || len(b.Rows) != 16 {
		t.Fatalf("first batch %+v", b)
	}
	br.Close()

	ctx, cancel := context.WithCancel(context.Background())
	r, _ = NewReader(strings.NewReader(manyRows(5000)), "many.csv", "csv")
	br = NewBatchReader(ctx, r, BatchOptions{Size: 16})
	cancel()
	rows, _, _, err := readBatches(t, br)
	if err != context.Canceled || rows >= 5000 {
		t.Errorf("after cancel: %d rows, then %v", rows, err)
	}
}

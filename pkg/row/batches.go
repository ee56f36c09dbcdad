package row

import (
	"context"
	"errors"
)

// BatchReader reads rows on a goroutine of its own and hands them over in
// batches: the reader's counterpart of WriterOptions.Background. What the
// caller does with the rows (scoring, relabelling, writing) then runs on
// another core than the parsing. Batches go round between the two
// goroutines (four of them), rows reach the caller in input order, and the
// error that ended the input comes after every row read before it.
//
// Use: for b := br.Next(); b != nil; b = br.Next() { use b.Rows; stop at
// b.Err; br.Release(b) }, and br.Close() when done, also after an error,
// before the input is closed.
type BatchReader struct {
	r     Reader
	live  *FlushBeforeRead
	full  chan *Batch
	free  chan *Batch
	stop  chan struct{}
	ended bool
}

// Batch is rows read together.
type Batch struct {
	// Rows are the rows read, in input order; the caller may change them
	// until it releases the batch.
	Rows []Row
	// Live is set when the batch was handed over before it was full
	// because the input was about to wait (BatchOptions.Live): write its
	// rows out now.
	Live bool
	// Err is the error that ended the input after Rows: io.EOF at its end,
	// the context's error when it was cancelled. Nil while more follows.
	Err error

	all []Row // each row keeps its own Extra array across reuse
}

// BatchOptions tune a BatchReader.
type BatchOptions struct {
	// Size is the most rows a batch holds (default 256).
	Size int
	// Live, when set, must be the FlushBeforeRead beneath the reader: each
	// time the reader is about to wait for more input, the rows read so
	// far are handed over at once, so that a live stream is not held back.
	// Rows are then parsed into a row of the reading goroutine's and copied
	// into the batch; without Live they are parsed in place.
	Live *FlushBeforeRead
}

// errStopped ends the reading goroutine when the caller closed the reader.
var errStopped = errors.New("row: batch reader closed")

// NewBatchReader starts reading r. Reading also ends, after the batch at
// hand, once ctx is cancelled.
func NewBatchReader(ctx context.Context, r Reader, opt BatchOptions) *BatchReader {
	if opt.Size <= 0 {
		opt.Size = 256
	}
	br := &BatchReader{r: r, live: opt.Live, full: make(chan *Batch, 4), free: make(chan *Batch, 4), stop: make(chan struct{})}
	for i := 0; i < cap(br.free); i++ {
		br.free <- &Batch{all: make([]Row, opt.Size)}
	}
	go br.loop(ctx)
	return br
}

func (br *BatchReader) loop(ctx context.Context) {
	defer close(br.full)
	cur := br.take()
	if cur == nil {
		return
	}
	// ship hands cur over and takes the next batch; false when the caller
	// closed the reader.
	ship := func(live bool) bool {
		cur.Live = live
		if cur.Err == nil {
			cur.Err = ctx.Err()
		}
		select {
		case br.full <- cur:
		case <-br.stop:
			return false
		}
		if cur.Err != nil {
			return false
		}
		cur = br.take()
		return cur != nil
	}
	var scratch Row
	if br.live != nil {
		br.live.Flush = func() error {
			select {
			case <-br.stop:
				return errStopped
			default:
			}
			if len(cur.Rows) > 0 && !ship(true) {
				return errStopped
			}
			return nil
		}
		defer func() { br.live.Flush = nil }()
	}
	for {
		n := len(cur.Rows)
		dst := &cur.all[n]
		if br.live != nil {
			dst = &scratch // cur may be handed over while this row is read
		}
		if err := br.r.Read(dst); err != nil {
			if errors.Is(err, errStopped) {
				return
			}
			cur.Err = err
			ship(false)
			return
		}
		n = len(cur.Rows)
		if br.live != nil {
			cur.all[n].CopyFrom(&scratch)
		}
		cur.Rows = cur.all[:n+1]
		if len(cur.Rows) == len(cur.all) && !ship(false) {
			return
		}
	}
}

// take returns an empty batch, or nil when the caller closed the reader.
func (br *BatchReader) take() *Batch {
	select {
	case b := <-br.free:
		b.Rows, b.Live, b.Err = b.all[:0], false, nil
		return b
	case <-br.stop:
		return nil
	}
}

// Next returns the next batch, waiting for it; nil after the batch that
// carried Err.
func (br *BatchReader) Next() *Batch {
	if br.ended {
		return nil
	}
	b, ok := <-br.full
	if !ok || b.Err != nil {
		br.ended = true
	}
	if !ok {
		return nil
	}
	return b
}

// Release hands a batch back for reading into; its rows must not be used
// afterwards.
func (br *BatchReader) Release(b *Batch) { br.free <- b }

// Close stops reading and returns once the reading goroutine has left, so
// that the input may be closed. It is called once.
func (br *BatchReader) Close() {
	close(br.stop)
	for range br.full {
	}
}

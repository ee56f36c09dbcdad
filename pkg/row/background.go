package row

import "sync"

// backgroundWriter hands rows, in batches, to a goroutine that encodes and
// writes them with the wrapped writer, so that a producer bound to one core
// (pcapsess's packet loop) does not also pay for formatting. Rows are
// copied: the caller may reuse its Row as soon as Write returns.
type backgroundWriter struct {
	w       Writer
	cur     *rowBatch
	batches chan *rowBatch
	free    chan *rowBatch
	done    chan struct{}

	mu  sync.Mutex
	err error // the first error of the wrapped writer
}

type rowBatch struct {
	rows  []Row
	n     int
	flush bool
}

// backgroundBatch rows go together; two batches are in flight while a
// third fills.
const backgroundBatch = 512

func newBackgroundWriter(w Writer) *backgroundWriter {
	b := &backgroundWriter{
		w:       w,
		batches: make(chan *rowBatch, 2),
		free:    make(chan *rowBatch, 3),
		done:    make(chan struct{}),
	}
	for i := 0; i < cap(b.free); i++ {
		b.free <- &rowBatch{rows: make([]Row, backgroundBatch)}
	}
	b.cur = <-b.free
	go b.loop()
	return b
}

func (b *backgroundWriter) loop() {
	defer close(b.done)
	for batch := range b.batches {
		if b.failed() == nil {
			var err error
			for i := 0; i < batch.n && err == nil; i++ {
				err = b.w.Write(&batch.rows[i])
			}
			if err == nil && batch.flush {
				err = b.w.Flush()
			}
			if err != nil {
				b.setErr(err)
			}
		}
		batch.n, batch.flush = 0, false
		b.free <- batch
	}
}

func (b *backgroundWriter) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *backgroundWriter) setErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

// Write copies r into the current batch. An error of the wrapped writer
// (a closed pipe) is returned by the Write after it happened.
func (b *backgroundWriter) Write(r *Row) error {
	if err := b.failed(); err != nil {
		return err
	}
	b.cur.rows[b.cur.n].CopyFrom(r)
	if b.cur.n++; b.cur.n == len(b.cur.rows) {
		b.ship(false)
	}
	return nil
}

func (b *backgroundWriter) ship(flush bool) {
	b.cur.flush = flush
	b.batches <- b.cur
	b.cur = <-b.free
}

// Flush hands over the rows so far and returns once they are written and
// flushed.
func (b *backgroundWriter) Flush() error {
	b.ship(true)
	// Every batch is back in free once the wrapped writer is done with it.
	held := []*rowBatch{b.cur}
	for len(held) < cap(b.free) {
		held = append(held, <-b.free)
	}
	b.cur = held[0]
	for _, h := range held[1:] {
		b.free <- h
	}
	return b.failed()
}

// Close writes every row handed over, closes the wrapped writer and stops
// the goroutine. The writer is not usable afterwards.
func (b *backgroundWriter) Close() error {
	b.batches <- b.cur
	close(b.batches)
	<-b.done
	err := b.failed()
	if cerr := b.w.Close(); err == nil {
		err = cerr
	}
	return err
}

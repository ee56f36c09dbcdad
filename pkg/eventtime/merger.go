package eventtime

import (
	"container/heap"
	"time"

	"scanwatch/pkg/alert"
	"scanwatch/pkg/row"
)

// Stats are a Merger's running counts.
type Stats struct {
	Rows   int // rows added
	Late   int // of them, behind the watermark already released to
	Forced int // rows released before the watermark passed them (MaxHeld)
	Held   int // rows held now
}

// Merger orders rows by packet time with bounded lateness; see the
// package comment. Not safe for concurrent use.
type Merger[T any] struct {
	lateness int64
	idle     int64
	maxHeld  int
	seen     int64            // latest packet time seen on any stream
	streams  map[string]int64 // latest packet time seen per stream
	wm       int64            // the watermark, once anything was seen
	arrivals uint64
	held     items[T]
	// ready are the rows the watermark has passed, in release order,
	// from head on: moved there on every Add and Clock, so that what
	// leaves, and in which order, depends on the input sequence alone and
	// not on when Release is called.
	ready []*item[T]
	head  int
	free  []*item[T]
	stats Stats
}

type item[T any] struct {
	end     int64
	arrival uint64
	r       row.Row
	v       T
}

// New returns a Merger allowing lateness, that counts a stream idle once
// it lags the latest by more than idle (0: never), and holds at most
// maxHeld rows (0: no bound).
func New[T any](lateness, idle time.Duration, maxHeld int) *Merger[T] {
	return &Merger[T]{lateness: int64(lateness), idle: int64(idle), maxHeld: maxHeld, streams: map[string]int64{}}
}

// Add holds a copy of r, with v, until the watermark passes its end. The
// row's stream is its sensor.
func (m *Merger[T]) Add(r *row.Row, v T) {
	end := alert.EndTime(r)
	m.stats.Rows++
	if m.seen != 0 && end < m.wm {
		m.stats.Late++
	}
	m.see(r.Sensor, end)
	var it *item[T]
	if n := len(m.free); n > 0 {
		it, m.free = m.free[n-1], m.free[:n-1]
	} else {
		it = &item[T]{}
	}
	it.end, it.arrival, it.v = end, m.arrivals, v
	it.r.CopyFrom(r)
	m.arrivals++
	heap.Push(&m.held, it)
	m.advance()
}

// Clock says that stream has reached packet time t (a sensor's
// heartbeat): the watermark moves as a row of it ending at t would move it.
func (m *Merger[T]) Clock(stream string, t int64) {
	m.see(stream, t)
	m.advance()
}

// see notes that stream reached t and moves the watermark: the earliest
// of the streams' times, among those not idle, minus the lateness. A
// stream that is behind (a sensor whose messages the broker stores late,
// after a node died) holds it back, so that its rows are not late when
// they come; one that lags by more than idle (a sensor that stopped) no
// longer does.
func (m *Merger[T]) see(stream string, t int64) {
	if t > m.streams[stream] {
		m.streams[stream] = t
	}
	m.seen = max(m.seen, t)
	least := m.seen
	for _, st := range m.streams {
		if m.idle == 0 || m.seen-st <= m.idle {
			least = min(least, st)
		}
	}
	m.wm = max(m.wm, least-m.lateness)
}

// advance moves the rows the watermark has passed, and the oldest beyond
// MaxHeld, to ready.
func (m *Merger[T]) advance() {
	w := m.Watermark()
	for len(m.held) > 0 {
		top := m.held[0]
		forced := m.maxHeld > 0 && len(m.held) > m.maxHeld
		if top.end > w && !forced {
			break
		}
		if top.end > w {
			m.stats.Forced++
		}
		m.ready = append(m.ready, heap.Pop(&m.held).(*item[T]))
	}
}

// Watermark is the packet time up to which rows are released (0 before
// anything was seen); it never goes back.
func (m *Merger[T]) Watermark() int64 { return m.wm }

// Release hands out, in order, the rows the watermark has passed (late
// rows as they came, the oldest beyond MaxHeld). The row passed to fn is
// valid during the call only. An error from fn stops the release; the row
// it was given is not handed out again.
func (m *Merger[T]) Release(fn func(r *row.Row, v T) error) error {
	for m.head < len(m.ready) {
		it := m.ready[m.head]
		m.ready[m.head] = nil
		m.head++
		err := fn(&it.r, it.v)
		var zero T
		it.v = zero
		m.free = append(m.free, it)
		if err != nil {
			return err
		}
	}
	m.ready, m.head = m.ready[:0], 0
	return nil
}

// Drain hands out every row, oldest first: the end of every stream.
func (m *Merger[T]) Drain(fn func(r *row.Row, v T) error) error {
	for len(m.held) > 0 {
		m.ready = append(m.ready, heap.Pop(&m.held).(*item[T]))
	}
	return m.Release(fn)
}

// Stats returns the running counts.
func (m *Merger[T]) Stats() Stats {
	s := m.stats
	s.Held = len(m.held) + len(m.ready) - m.head
	return s
}

// items is a min-heap by (end, arrival).
type items[T any] []*item[T]

func (h items[T]) Len() int { return len(h) }
func (h items[T]) Less(i, j int) bool {
	if h[i].end != h[j].end {
		return h[i].end < h[j].end
	}
	return h[i].arrival < h[j].arrival
}
func (h items[T]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *items[T]) Push(x any)   { *h = append(*h, x.(*item[T])) }
func (h *items[T]) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return it
}

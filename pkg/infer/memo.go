package infer

import (
	"math"
	"slices"
)

// A tree ensemble's output depends on each feature only through which
// side of every split threshold on that feature the value falls. So rows
// whose values fall between the same thresholds, feature by feature, get
// the same score, bit for bit — and session rows fall into few such cells
// (flag counts, sizes and the binned duration and fanout repeat endlessly),
// while walking ~100 trees through leaves costs ~2 µs a row. Memo scores
// each cell once through leaves and remembers it; it is exact, not an
// approximation: the cell key reproduces leaves' numerical decision
// (fval <= threshold, with zero and NaN as possibly missing values).

// memoCap bounds the cells a Memo keeps (~100 bytes each); past it the
// memo starts afresh.
const memoCap = 1 << 15

// Memo is a score cache in front of a Predictor's ProbBatch, for a stream
// of rows. It is not safe for concurrent use; take one per goroutine.
type Memo struct {
	p     *Predictor
	used  []int // features some split uses, in order
	cells map[string]float64
	key   []byte
	// A batch's rows not answered from cells: each new cell once (missKey,
	// its key; missX, its row), scored together (missP). from[i] is the
	// miss that row i takes its score from, or -1.
	pending map[string]int
	missKey []string
	missX   []float64
	missP   []float64
	from    []int
	hits    int64
	misses  int64
}

// NewMemo returns a memo for p's scores. Without the thresholds (a model
// whose text could not be read for them) it scores every row through
// leaves.
func (p *Predictor) NewMemo() *Memo {
	m := &Memo{p: p}
	if p.thresholds != nil {
		for f, th := range p.thresholds {
			if len(th) > 0 {
				m.used = append(m.used, f)
			}
		}
		m.cells = make(map[string]float64)
		m.pending = make(map[string]int)
		m.key = make([]byte, 2*len(m.used))
	}
	return m
}

// cell writes the key of the cell x falls in into key; false when x holds
// a value the key cannot stand for (NaN, or a nonzero value leaves would
// take for zero), which is then scored directly.
func (m *Memo) cell(x []float64, key []byte) bool {
	for i, f := range m.used {
		v := x[f]
		th := m.p.thresholds[f]
		var c int
		switch {
		case v == 0:
			// Zero may be a missing value for some splits: a cell of its own.
			c = len(th) + 1
		case math.IsNaN(v), v > -zeroThreshold && v <= zeroThreshold:
			return false
		default:
			// Values with the same count of thresholds below them take
			// the same side of every split (fval <= t).
			c, _ = slices.BinarySearch(th, v)
		}
		key[2*i], key[2*i+1] = byte(c>>8), byte(c)
	}
	return true
}

// zeroThreshold is leaves' (and LightGBM's) bound under which a value
// counts as zero.
const zeroThreshold = 1e-35

// ProbBatch is Predictor.ProbBatch, answering rows from the cells seen
// before and scoring each new cell once through leaves.
func (m *Memo) ProbBatch(x []float64, out []float64) error {
	nf := len(m.p.features)
	if m.cells == nil || len(x) != len(out)*nf {
		return m.p.ProbBatch(x, out) // or its error
	}
	kl := len(m.key)
	m.from = slices.Grow(m.from[:0], len(out))[:len(out)]
	m.missX = m.missX[:0]
	m.missKey = m.missKey[:0]
	clear(m.pending)
	for i := range out {
		row := x[i*nf : (i+1)*nf]
		m.from[i] = -1
		if m.cell(row, m.key) {
			if s, ok := m.cells[string(m.key)]; ok {
				out[i] = s
				m.hits++
				continue
			}
			if j, ok := m.pending[string(m.key)]; ok {
				m.from[i] = j // a new cell met earlier in this batch
				m.hits++
				continue
			}
			m.pending[string(m.key)] = len(m.missKey)
			m.missKey = append(m.missKey, string(m.key))
		} else {
			m.missKey = append(m.missKey, "") // not a cell: never stored
		}
		m.from[i] = len(m.missKey) - 1
		m.missX = append(m.missX, row...)
	}
	n := len(m.missKey)
	if n == 0 {
		return nil
	}
	m.misses += int64(n)
	m.missP = slices.Grow(m.missP[:0], n)[:n]
	if err := m.p.ProbBatch(m.missX, m.missP); err != nil {
		return err
	}
	for i, j := range m.from {
		if j >= 0 {
			out[i] = m.missP[j]
		}
	}
	for j, key := range m.missKey {
		if key == "" && kl > 0 {
			continue
		}
		if len(m.cells) >= memoCap {
			clear(m.cells)
		}
		m.cells[key] = m.missP[j]
	}
	return nil
}

// Stats returns how many rows were answered from a cell seen before and
// how many were scored through leaves.
func (m *Memo) Stats() (hits, misses int64) { return m.hits, m.misses }

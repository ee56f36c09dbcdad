// Package merge concatenates session-row files into one stream: csvmerge's
// engine. Every input must carry the required columns and the same columns
// as the first input; the output has the first input's schema.
//
// Plain merging streams: a few batches of rows in memory. --balance needs the
// class counts before the first row is written, so it reads the inputs twice
// (standard input is spooled to a temporary file for the second pass) and
// streams as well. --shuffle is the only mode that holds all
// rows in memory, encoded in the output format (measured: 1 M harvester rows
// took 0.5 GB peak RSS, against 12 MB when streaming).
package merge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"scanwatch/pkg/row"
)

// Options controls a merge.
type Options struct {
	// Require names the columns every input must have (known or unknown
	// column names). HarvesterRequire is the harvester's merger.py rule.
	Require []string
	// Shuffle outputs the rows in a random order fixed by Seed.
	Shuffle bool
	// Balance downsamples every class to the smallest class's size; which
	// rows are kept is fixed by Seed.
	Balance bool
	Seed    int64
	// Relabel, when not nil, forces every row's label (adding the column
	// when the inputs lack it).
	Relabel *int
	// Format of the output: "csv" or "ndjson".
	Format string
	// AutoFlush flushes the output after every row.
	AutoFlush bool
}

// HarvesterRequire is the harvester's fifteen columns plus label: what its
// merger.py's output (and so its training) needs.
func HarvesterRequire() []string {
	var out []string
	for _, c := range append(row.Harvester(), row.Label) {
		out = append(out, c.Name())
	}
	return out
}

// Input is one file to merge. Open is called once per pass.
type Input struct {
	Name string
	Open func() (io.ReadCloser, error)
}

// FileInputs turns command-line names into inputs; "-" is stdin, which may
// appear once.
func FileInputs(names []string, stdin io.Reader) ([]Input, error) {
	var out []Input
	sawStdin := false
	for _, n := range names {
		if n == "-" {
			if sawStdin {
				return nil, errors.New("standard input (-) named more than once")
			}
			sawStdin = true
			out = append(out, Input{Name: "stdin", Open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }})
			continue
		}
		out = append(out, Input{Name: n, Open: func() (io.ReadCloser, error) { return os.Open(n) }})
	}
	return out, nil
}

// Stats counts what a merge did.
type Stats struct {
	In, Out  int         // rows read, rows written
	PerClass map[int]int // rows written per label (when there is one)
}

// Merge writes the rows of inputs to out. On error the rows already written
// stay written (flushed); the error names the file and line.
func Merge(ctx context.Context, inputs []Input, out io.Writer, opt Options) (Stats, error) {
	st := Stats{PerClass: map[int]int{}}
	if len(inputs) == 0 {
		return st, errors.New("no input files")
	}
	if opt.Balance && !opt.Shuffle {
		var cleanup func()
		var err error
		if inputs, cleanup, err = rereadable(inputs); err != nil {
			return st, err
		}
		defer cleanup()
	}
	m := &merger{opt: opt}
	// Every input's header is checked before the first row is written: a
	// missing column in the last file must not fail a merge after
	// megabytes of output. The first input sets the output's schema.
	opened, err := m.openAll(inputs)
	if err != nil {
		return st, err
	}
	schema := m.outSchema
	if opt.Balance && !schema.Has(row.Label) {
		closeAll(opened)
		return st, fmt.Errorf("%s: --balance needs a label column", inputs[0].Name)
	}
	if opt.Shuffle {
		return m.shuffle(ctx, opened, out, &st)
	}
	w, err := row.NewWriter(out, opt.Format, schema, row.WriterOptions{AutoFlush: opt.AutoFlush})
	if err != nil {
		closeAll(opened)
		return st, err
	}
	var sink func(*row.Row) error
	if opt.Balance {
		// Pass 1: count the classes; pass 2 (below) keeps a seeded sample.
		counts := map[int]int{}
		err := m.each(ctx, opened, func(r *row.Row) error { counts[r.Label]++; return nil })
		if err != nil {
			return st, errors.Join(err, w.Flush())
		}
		keep := newSampler(counts, opt.Seed)
		if opened, err = m.openAll(inputs); err != nil {
			return st, err
		}
		sink = func(r *row.Row) error {
			if !keep(r.Label) {
				return nil
			}
			return m.write(w, r, &st)
		}
	} else {
		sink = func(r *row.Row) error { return m.write(w, r, &st) }
	}
	err = m.each(ctx, opened, func(r *row.Row) error { st.In++; return sink(r) })
	if err != nil {
		return st, errors.Join(err, w.Flush())
	}
	return st, w.Close()
}

// lineStore collects encoded rows in one growing byte arena.
type lineStore struct{ buf []byte }

func (l *lineStore) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// shuffle holds every row, encoded in the output format, in one byte arena
// (~150 bytes a CSV row instead of a 776-byte row.Row), then writes them in
// an order drawn from the seed; with Balance it first keeps a seeded sample
// of each class. Nothing is written before every input was read.
func (m *merger) shuffle(ctx context.Context, opened []*openReader, out io.Writer, st *Stats) (Stats, error) {
	opt := m.opt
	var header lineStore
	hw, err := row.NewWriter(&header, opt.Format, m.outSchema, row.WriterOptions{})
	if err != nil {
		closeAll(opened)
		return *st, err
	}
	hw.Close() // into memory: cannot fail
	// The arena starts with the header: the encoder writes it before the
	// first row, and row i is arena[ends[i-1]:ends[i]] with ends[-1] the
	// header's length.
	arena := &lineStore{}
	enc, _ := row.NewWriter(arena, opt.Format, m.outSchema, row.WriterOptions{AutoFlush: true}) // format checked above
	var ends []int
	var labels []int
	err = m.each(ctx, opened, func(r *row.Row) error {
		st.In++
		if err := enc.Write(r); err != nil {
			return err
		}
		ends = append(ends, len(arena.buf))
		labels = append(labels, r.Label)
		return nil
	})
	if err != nil {
		return *st, err
	}
	start := func(i int) int {
		if i == 0 {
			return len(header.buf)
		}
		return ends[i-1]
	}
	idx := make([]int, 0, len(ends))
	for i := range ends {
		idx = append(idx, i)
	}
	if opt.Balance {
		counts := map[int]int{}
		for _, l := range labels {
			counts[l]++
		}
		keep := newSampler(counts, opt.Seed)
		idx = slices.DeleteFunc(idx, func(i int) bool { return !keep(labels[i]) })
	}
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x5eed))
	rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	bw := bufio.NewWriterSize(out, 64<<10)
	if _, err := bw.Write(header.buf); err != nil {
		return *st, err
	}
	withLabel := m.outSchema.Has(row.Label)
	for _, i := range idx {
		if _, err := bw.Write(arena.buf[start(i):ends[i]]); err != nil {
			return *st, err
		}
		st.Out++
		if withLabel {
			st.PerClass[labels[i]]++
		}
	}
	return *st, bw.Flush()
}

type merger struct {
	opt       Options
	outSchema *row.Schema
	outName   string // the first input's name, for schema mismatch errors
}

// openReader is an open input.
type openReader struct {
	in Input
	rc io.ReadCloser
	r  row.Reader
	// perm maps the output's Extra index to this input's (nil when they
	// are in the same order).
	perm []int
}

func (o *openReader) Close() { o.rc.Close() }

// open opens an input and checks its columns against the requirements and
// the first input's schema (which the first call sets).
func (m *merger) open(in Input) (*openReader, error) {
	rc, err := in.Open()
	if err != nil {
		return nil, err
	}
	r, err := row.NewReader(rc, in.Name, "auto")
	if err != nil {
		rc.Close()
		return nil, err
	}
	o := &openReader{in: in, rc: rc, r: r}
	s := r.Schema()
	if m.opt.Relabel != nil {
		s = s.With(row.Label)
	}
	if missing := missingColumns(s, m.required()); len(missing) > 0 {
		rc.Close()
		word := "column"
		if len(missing) > 1 {
			word = "columns"
		}
		return nil, fmt.Errorf("%s: missing %s %s (required: %s)", in.Name, word, strings.Join(missing, ", "), describeRequire(m.opt.Require))
	}
	if m.outSchema == nil {
		m.outSchema, m.outName = s, in.Name
		return o, nil
	}
	if err := sameColumns(m.outSchema, s); err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: columns differ from %s's: %v", in.Name, m.outName, err)
	}
	if !slices.Equal(m.outSchema.Extra, s.Extra) {
		o.perm = make([]int, len(m.outSchema.Extra))
		for i, name := range m.outSchema.Extra {
			o.perm[i] = s.Index(name)
		}
	}
	return o, nil
}

func (m *merger) required() []string {
	if m.opt.Relabel == nil {
		return m.opt.Require
	}
	return slices.DeleteFunc(slices.Clone(m.opt.Require), func(n string) bool { return n == row.Label.Name() })
}

func describeRequire(req []string) string {
	if slices.Equal(req, HarvesterRequire()) {
		return "the seed's 15 columns and label; --require changes this"
	}
	return strings.Join(req, ",")
}

func missingColumns(s *row.Schema, names []string) []string {
	var out []string
	for _, n := range names {
		if c, ok := row.ColumnByName(n); ok {
			if !s.Has(c) {
				out = append(out, n)
			}
		} else if s.Index(n) < 0 {
			out = append(out, n)
		}
	}
	return out
}

// sameColumns reports how s's columns differ from want's, ignoring the
// order of unknown columns (they are reordered to the first input's).
func sameColumns(want, s *row.Schema) error {
	var missing, unexpected []string
	for _, c := range want.Known {
		if !s.Has(c) {
			missing = append(missing, c.Name())
		}
	}
	for _, c := range s.Known {
		if !want.Has(c) {
			unexpected = append(unexpected, c.Name())
		}
	}
	for _, n := range want.Extra {
		if s.Index(n) < 0 {
			missing = append(missing, n)
		}
	}
	for _, n := range s.Extra {
		if want.Index(n) < 0 {
			unexpected = append(unexpected, n)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", "))
	}
	if len(unexpected) > 0 {
		parts = append(parts, "unexpected "+strings.Join(unexpected, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}

// openAll opens every input and checks its header (see open); on an
// error it closes those it opened. Each open input holds a read buffer
// (64 KiB) until it is drained.
func (m *merger) openAll(inputs []Input) ([]*openReader, error) {
	var opened []*openReader
	for _, in := range inputs {
		o, err := m.open(in)
		if err != nil {
			closeAll(opened)
			return nil, err
		}
		opened = append(opened, o)
	}
	return opened, nil
}

func closeAll(opened []*openReader) {
	for _, o := range opened {
		o.Close()
	}
}

// each reads every opened input in turn, closing each once drained, and
// calls fn on each row, relabelled and with unknown columns in the
// output's order.
func (m *merger) each(ctx context.Context, opened []*openReader, fn func(*row.Row) error) error {
	for i, o := range opened {
		err := m.drain(ctx, o, fn)
		o.Close()
		if err != nil {
			closeAll(opened[i+1:])
			return err
		}
	}
	return nil
}

// batchRows is how many rows the reading goroutine hands over at a time.
const batchRows = 256

// drain parses rows on a second goroutine (a row.BatchReader) while this
// one relabels and writes them: parsing is two thirds of a merge's time,
// and this overlaps it with formatting on a second core. Rows reach fn in
// input order, and an error comes after every row read before it.
func (m *merger) drain(ctx context.Context, o *openReader, fn func(*row.Row) error) error {
	br := row.NewBatchReader(ctx, o.r, row.BatchOptions{Size: batchRows})
	defer br.Close() // the reader leaves before the file is closed
	var ex []string
	for b := br.Next(); b != nil; b = br.Next() {
		for i := range b.Rows {
			r := &b.Rows[i]
			if m.opt.Relabel != nil {
				r.Label = *m.opt.Relabel
			}
			own := r.Extra
			if o.perm != nil {
				ex = ex[:0]
				for _, j := range o.perm {
					v := ""
					if j < len(own) {
						v = own[j]
					}
					ex = append(ex, v)
				}
				r.Extra = ex
			}
			err := fn(r)
			r.Extra = own // the reader refills its own array next time
			if err != nil {
				return err
			}
		}
		if b.Err == io.EOF {
			return nil
		}
		if b.Err != nil {
			return b.Err
		}
		br.Release(b)
	}
	return nil
}

func (m *merger) write(w row.Writer, r *row.Row, st *Stats) error {
	if err := w.Write(r); err != nil {
		return err
	}
	st.Out++
	if m.outSchema.Has(row.Label) {
		st.PerClass[r.Label]++
	}
	return nil
}

// newSampler returns a function that, called once per row in stream order
// with the row's label, says whether to keep it: every class keeps exactly
// min(counts) rows, chosen by selection sampling (Knuth's Algorithm S) with
// one seeded generator per class, so the choice needs O(1) memory and
// depends only on the seed and the rows' order.
func newSampler(counts map[int]int, seed int64) func(label int) bool {
	least := -1
	for _, n := range counts {
		if least < 0 || n < least {
			least = n
		}
	}
	type class struct {
		need, left int
		rng        *rand.Rand
	}
	classes := map[int]*class{}
	for label, n := range counts {
		classes[label] = &class{need: least, left: n, rng: rand.New(rand.NewPCG(uint64(seed), uint64(label)))}
	}
	return func(label int) bool {
		c := classes[label]
		if c == nil || c.left == 0 {
			return false
		}
		keep := c.rng.IntN(c.left) < c.need
		c.left--
		if keep {
			c.need--
		}
		return keep
	}
}

// rereadable replaces a stdin input by a temporary file holding its bytes,
// so that a second pass can read it again.
func rereadable(inputs []Input) ([]Input, func(), error) {
	out := slices.Clone(inputs)
	cleanup := func() {}
	for i, in := range out {
		if in.Name != "stdin" {
			continue
		}
		rc, err := in.Open()
		if err != nil {
			return nil, cleanup, err
		}
		tmp, err := os.CreateTemp("", "csvmerge-stdin-*")
		if err != nil {
			return nil, cleanup, fmt.Errorf("spool stdin for --balance: %w", err)
		}
		cleanup = func() { tmp.Close(); os.Remove(tmp.Name()) }
		if _, err := io.Copy(tmp, rc); err != nil {
			cleanup()
			return nil, func() {}, fmt.Errorf("spool stdin for --balance: %w", err)
		}
		path := tmp.Name()
		out[i] = Input{Name: in.Name, Open: func() (io.ReadCloser, error) { return os.Open(path) }}
	}
	return out, cleanup, nil
}

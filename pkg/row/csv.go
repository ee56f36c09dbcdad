package row

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// csvReader reads CSV rows with its own record splitter (csvScanner), not
// gocsv (~0.7 M rows/s measured here) nor encoding/csv (~3 M rows/s on
// short records, but a quarter of scanclass's time on session rows).
type csvReader struct {
	name   string
	cr     *csvScanner
	fields int
	schema *Schema
	// target[i] is the known column of input field i, or -1-k for Extra[k].
	target []Column
	parse  [numColumns]bool
	line   int
}

func newCSVReader(br *bufio.Reader, name string, opt ReaderOptions) (*csvReader, error) {
	cr := &csvScanner{br: br}
	hdr, err := cr.Read()
	if err == io.EOF {
		return nil, &Error{Name: name, Err: ErrEmpty}
	}
	if err != nil {
		return nil, &Error{Name: name, Line: cr.line, Err: err}
	}
	r := &csvReader{name: name, cr: cr, line: cr.recLine, fields: len(hdr)}
	var known []Column
	var extra []string
	seen := map[string]bool{}
	for i, h := range hdr {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		if h == "" {
			return nil, &Error{Name: name, Line: 1, Err: fmt.Errorf("header field %d has no name", i+1)}
		}
		if !utf8.ValidString(h) {
			return nil, &Error{Name: name, Line: 1, Err: fmt.Errorf("header field %d is not UTF-8 text", i+1)}
		}
		if seen[h] {
			return nil, &Error{Name: name, Line: 1, Column: h, Err: errors.New("appears twice in the header")}
		}
		seen[h] = true
		if c, ok := byName[h]; ok {
			known = append(known, c)
			r.target = append(r.target, c)
		} else {
			r.target = append(r.target, Column(-1-len(extra)))
			extra = append(extra, h)
		}
	}
	r.schema = NewSchema(known, extra)
	r.parse = opt.parseSet()
	return r, nil
}

func (r *csvReader) Schema() *Schema { return r.schema }
func (r *csvReader) Line() int       { return r.line }
func (r *csvReader) Format() string  { return "csv" }

func (r *csvReader) Read(row *Row) error {
	rec, err := r.cr.Read()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return &Error{Name: r.name, Line: r.cr.line, Err: err}
	}
	r.line = r.cr.recLine
	if len(rec) != r.fields {
		return &Error{Name: r.name, Line: r.line, Err: fmt.Errorf("wrong number of fields: %d, the header has %d", len(rec), r.fields)}
	}
	extra := row.Extra[:0]
	*row = Row{rawPlain: r.cr.plain}
	for i, f := range rec {
		c := r.target[i]
		if c < 0 {
			extra = append(extra, f)
			continue
		}
		if !r.parse[c] && !isHarvesterList(c, f) {
			row.setRaw(c, f)
			continue
		}
		if err := parseValue(row, c, f); err != nil {
			return &Error{Name: r.name, Line: r.line, Column: c.Name(), Err: err}
		}
	}
	row.Extra = extra
	if msg := row.Valid(); msg != "" {
		return &Error{Name: r.name, Line: r.line, Err: errors.New(msg)}
	}
	return nil
}

// csvWriter writes rows by appending into one reused buffer: no reflection,
// no allocation per row.
type csvWriter struct {
	w         *bufio.Writer
	schema    *Schema
	buf       []byte
	header    bool
	autoFlush bool
	tc        timeCache
}

func newCSVWriter(w io.Writer, s *Schema, autoFlush bool) *csvWriter {
	return &csvWriter{w: bufio.NewWriterSize(w, 64<<10), schema: s, autoFlush: autoFlush}
}

func (w *csvWriter) writeHeader() error {
	w.header = true
	b := w.buf[:0]
	for i, h := range w.schema.Header() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVField(b, h)
	}
	b = append(b, '\n')
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

func (w *csvWriter) Write(r *Row) error {
	if !w.header {
		if err := w.writeHeader(); err != nil {
			return err
		}
	}
	b := w.buf[:0]
	for i, c := range w.schema.Known {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValue(b, r, c, false, &w.tc)
	}
	for i := range w.schema.Extra {
		if len(w.schema.Known) > 0 || i > 0 {
			b = append(b, ',')
		}
		if i < len(r.Extra) {
			b = appendCSVField(b, r.Extra[i])
		}
	}
	if len(b) == 0 {
		// A one-column row with an empty value would be a blank line,
		// which CSV readers skip: quote it.
		b = append(b, '"', '"')
	}
	b = append(b, '\n')
	w.buf = b
	return writeLine(w.w, b, w.autoFlush)
}

func (w *csvWriter) Flush() error { return w.w.Flush() }

func (w *csvWriter) Close() error {
	if !w.header {
		if err := w.writeHeader(); err != nil {
			return err
		}
	}
	return w.w.Flush()
}

func appendCSVField(b []byte, s string) []byte {
	if !needsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// needsQuotes is a byte loop rather than strings.ContainsAny, which builds
// a set per call: this runs for every pass-through field.
func needsQuotes(s string) bool {
	if leadingBlank(s) {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}

// leadingBlank reports a field that starts with a space or tab: CSV
// writers quote it (encoding/csv's does), so that readers that trim
// blanks keep it.
func leadingBlank(s string) bool { return s != "" && (s[0] == ' ' || s[0] == '\t') }

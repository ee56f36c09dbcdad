package row

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ndjsonReader reads one flat JSON object per line. The first object's keys
// fix the schema; later objects may omit keys (zero value) but may not add
// new ones. Values must be scalars.
type ndjsonReader struct {
	name   string
	sc     *bufio.Scanner
	schema *Schema
	extra  map[string]int
	line   int
	parse  [numColumns]bool
	first  []field // the first object, parsed while building the schema
	fields []field
}

type field struct {
	key, val string
	str      bool // val was a JSON string
}

func newNDJSONReader(br *bufio.Reader, name string, opt ReaderOptions) (*ndjsonReader, error) {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	r := &ndjsonReader{name: name, sc: sc, extra: map[string]int{}, parse: opt.parseSet()}
	for {
		ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &Error{Name: name, Err: ErrEmpty}
		}
		if r.fields != nil {
			break
		}
	}
	var known []Column
	var extra []string
	seen := map[string]bool{}
	for i := range r.fields {
		// Keys are trimmed like CSV header names, so both formats name a
		// column the same way.
		r.fields[i].key = strings.TrimSpace(r.fields[i].key)
		f := r.fields[i]
		if f.key == "" || !utf8.ValidString(f.key) {
			return nil, &Error{Name: name, Line: r.line, Err: fmt.Errorf("key %q is empty or not UTF-8 text", f.key)}
		}
		if _, dup := seen[f.key]; dup {
			return nil, &Error{Name: name, Line: r.line, Column: f.key, Err: errors.New("appears twice")}
		}
		seen[f.key] = true
		if c, ok := byName[f.key]; ok {
			known = append(known, c)
		} else {
			r.extra[f.key] = len(extra)
			extra = append(extra, f.key)
		}
	}
	r.schema = NewSchema(known, extra)
	r.first = append(make([]field, 0, len(r.fields)), r.fields...) // non-nil even for {}
	return r, nil
}

// next reads and parses the next non-blank line into r.fields; a blank
// line leaves r.fields nil.
func (r *ndjsonReader) next() (bool, error) {
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = ErrLineTooLong
			}
			return false, &Error{Name: r.name, Line: r.line + 1, Err: err}
		}
		return false, nil
	}
	r.line++
	line := bytes.TrimSpace(r.sc.Bytes())
	r.fields = r.fields[:0]
	if len(line) == 0 {
		r.fields = nil
		return true, nil
	}
	var err error
	if r.fields, err = parseFlatObject(line, r.fields); err != nil {
		return false, &Error{Name: r.name, Line: r.line, Err: err}
	}
	if r.fields == nil {
		r.fields = []field{}
	}
	return true, nil
}

func (r *ndjsonReader) Schema() *Schema { return r.schema }
func (r *ndjsonReader) Line() int       { return r.line }
func (r *ndjsonReader) Format() string  { return "ndjson" }

func (r *ndjsonReader) Read(row *Row) error {
	var fields []field
	if r.first != nil {
		fields, r.first = r.first, nil
	} else {
		for {
			ok, err := r.next()
			if err != nil {
				return err
			}
			if !ok {
				return io.EOF
			}
			if r.fields != nil {
				break
			}
		}
		fields = r.fields
	}
	extra := row.Extra[:0]
	*row = Row{}
	for range r.schema.Extra {
		extra = append(extra, "")
	}
	for _, f := range fields {
		f.key = strings.TrimSpace(f.key)
		if c, ok := byName[f.key]; ok && r.schema.Has(c) {
			if !r.parse[c] && !isHarvesterList(c, f.val) {
				row.setRaw(c, f.val)
				continue
			}
			if err := parseValue(row, c, f.val); err != nil {
				return &Error{Name: r.name, Line: r.line, Column: f.key, Err: err}
			}
			continue
		}
		i, ok := r.extra[f.key]
		if !ok {
			return &Error{Name: r.name, Line: r.line, Column: f.key, Err: errors.New("not in the first line's columns")}
		}
		extra[i] = f.val
	}
	row.Extra = extra
	if msg := row.Valid(); msg != "" {
		return &Error{Name: r.name, Line: r.line, Err: errors.New(msg)}
	}
	return nil
}

// parseFlatObject parses {"k": scalar, ...}.
func parseFlatObject(b []byte, out []field) ([]field, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipWS(b, i+1) != len(b) {
			return nil, errors.New("text after the JSON object")
		}
		return out, nil
	}
	for {
		var f field
		var err error
		if i >= len(b) || b[i] != '"' {
			return nil, fmt.Errorf("expected a key at byte %d", i+1)
		}
		if f.key, i, err = parseString(b, i); err != nil {
			return nil, err
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return nil, fmt.Errorf("expected ':' at byte %d", i+1)
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return nil, errors.New("unexpected end of line")
		}
		switch b[i] {
		case '"':
			f.str = true
			if f.val, i, err = parseString(b, i); err != nil {
				return nil, err
			}
		case '{', '[':
			return nil, fmt.Errorf("key %q: nested values are not supported", clip(f.key))
		default:
			j := i
			for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ' ' && b[j] != '\t' {
				j++
			}
			lit := string(b[i:j])
			switch lit {
			case "true", "false":
			case "null":
				lit = ""
			default:
				if !json.Valid(b[i:j]) {
					return nil, fmt.Errorf("key %q: %q is not a JSON value", clip(f.key), clip(lit))
				}
			}
			f.val, i = lit, j
		}
		out = append(out, f)
		i = skipWS(b, i)
		if i >= len(b) {
			return nil, errors.New("unexpected end of line")
		}
		if b[i] == '}' {
			if skipWS(b, i+1) != len(b) {
				return nil, errors.New("text after the JSON object")
			}
			return out, nil
		}
		if b[i] != ',' {
			return nil, fmt.Errorf("expected ',' or '}' at byte %d", i+1)
		}
		i = skipWS(b, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// parseString parses the JSON string starting at b[i] == '"'.
func parseString(b []byte, i int) (string, int, error) {
	j := i + 1
	esc := false
	for j < len(b) {
		switch b[j] {
		case '\\':
			esc = true
			j += 2
			continue
		case '"':
			if !esc {
				return string(b[i+1 : j]), j + 1, nil
			}
			var s string
			if err := json.Unmarshal(b[i:j+1], &s); err != nil {
				return "", 0, fmt.Errorf("bad JSON string at byte %d", i+1)
			}
			return s, j + 1, nil
		}
		j++
	}
	return "", 0, errors.New("unterminated JSON string")
}

// ndjsonWriter writes one JSON object per row.
type ndjsonWriter struct {
	w         *bufio.Writer
	schema    *Schema
	keys      [][]byte // `"name":` per column, prebuilt
	buf       []byte
	autoFlush bool
	tc        timeCache
}

func newNDJSONWriter(w io.Writer, s *Schema, autoFlush bool) *ndjsonWriter {
	nw := &ndjsonWriter{w: bufio.NewWriterSize(w, 64<<10), schema: s, autoFlush: autoFlush}
	for _, h := range s.Header() {
		k, _ := json.Marshal(h)
		nw.keys = append(nw.keys, append(k, ':'))
	}
	return nw
}

func (w *ndjsonWriter) Write(r *Row) error {
	b := append(w.buf[:0], '{')
	k := 0
	for _, c := range w.schema.Known {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, w.keys[k]...)
		b = appendValue(b, r, c, true, &w.tc)
		k++
	}
	for i := range w.schema.Extra {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, w.keys[k]...)
		k++
		v := ""
		if i < len(r.Extra) {
			v = r.Extra[i]
		}
		if isJSONScalarLiteral(v) {
			b = append(b, v...)
		} else {
			q, _ := json.Marshal(v)
			b = append(b, q...)
		}
	}
	b = append(b, '}', '\n')
	w.buf = b
	return writeLine(w.w, b, w.autoFlush)
}

func isJSONScalarLiteral(v string) bool {
	if v == "true" || v == "false" {
		return true
	}
	if v == "" || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) || strings.TrimSpace(v) != v {
		return false
	}
	return json.Valid([]byte(v))
}

func (w *ndjsonWriter) Flush() error { return w.w.Flush() }
func (w *ndjsonWriter) Close() error { return w.w.Flush() }

// ColumnSet is a set of known columns: the ones a decoded line held.
type ColumnSet uint64

// Has reports whether c is in the set.
func (s ColumnSet) Has(c Column) bool { return c >= 0 && c < numColumns && s&(1<<uint(c)) != 0 }

// Missing returns the names of cols not in the set.
func (s ColumnSet) Missing(cols ...Column) []string {
	var out []string
	for _, c := range cols {
		if !s.Has(c) {
			out = append(out, c.Name())
		}
	}
	return out
}

// LineDecoder decodes NDJSON rows that arrive one line at a time and
// stand alone, as rows from many sensors do on a message bus: unlike a
// Reader, no first line fixes a schema, so lines with other columns may
// follow each other. Keys this package does not know are skipped (there
// is no schema to carry them in). It reuses its buffers; not safe for
// concurrent use.
type LineDecoder struct {
	fields []field
}

// Decode fills r from one line (a flat JSON object) and returns the known
// columns it held. Errors are *Error with name, line and column set.
func (d *LineDecoder) Decode(name string, line int, b []byte, r *Row) (ColumnSet, error) {
	fields, err := parseFlatObject(b, d.fields[:0])
	d.fields = fields
	if err != nil {
		return 0, &Error{Name: name, Line: line, Err: err}
	}
	extra := r.Extra[:0]
	*r = Row{Extra: extra}
	var set ColumnSet
	for _, f := range fields {
		c, ok := byName[strings.TrimSpace(f.key)]
		if !ok {
			continue
		}
		if err := parseValue(r, c, f.val); err != nil {
			return 0, &Error{Name: name, Line: line, Column: c.Name(), Err: err}
		}
		set |= 1 << uint(c)
	}
	if msg := r.Valid(); msg != "" {
		return 0, &Error{Name: name, Line: line, Err: errors.New(msg)}
	}
	return set, nil
}

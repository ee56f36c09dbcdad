package row

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Reader reads rows one at a time.
type Reader interface {
	// Read fills r with the next row; io.EOF at the end. Errors are *Error.
	Read(r *Row) error
	// Schema is the stream's columns, known as soon as the reader exists.
	Schema() *Schema
	// Line is the input line of the row last read.
	Line() int
	// Format is "csv" or "ndjson".
	Format() string
}

// ReadAll reads every row left in r: for inputs small enough to hold.
func ReadAll(r Reader) ([]Row, error) {
	var rows []Row
	for {
		var x Row
		if err := r.Read(&x); err == io.EOF {
			return rows, nil
		} else if err != nil {
			return rows, err
		}
		rows = append(rows, x)
	}
}

// Writer writes rows one at a time. The header (if the format has one) is
// written once, before the first row or by Close for an empty stream.
type Writer interface {
	Write(r *Row) error
	Flush() error
	// Close writes what is buffered; it does not close the underlying writer.
	Close() error
}

// writeLine writes one encoded row, flushing it at once with autoFlush.
func writeLine(w *bufio.Writer, b []byte, autoFlush bool) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	if autoFlush {
		return w.Flush()
	}
	return nil
}

// Formats are the names NewReader and NewWriter accept ("auto" only for reading).
var Formats = []string{"csv", "ndjson"}

// NewReader returns a reader for format "csv", "ndjson" or "auto" (sniffed
// from the first non-blank byte: '{' is NDJSON, anything else CSV). name is
// used in error messages.
func NewReader(r io.Reader, name, format string) (Reader, error) {
	return NewReaderWith(r, name, format, ReaderOptions{})
}

// ReaderOptions tune a reader.
type ReaderOptions struct {
	// Parse, when not nil, lists the known columns to parse; the others
	// keep their input text (Row.IsRaw), which writers copy through. A
	// filter that needs a few columns of wide rows then skips the rest.
	// Unparsed columns are not checked.
	Parse []Column
}

func (o ReaderOptions) parseSet() [numColumns]bool {
	var set [numColumns]bool
	for c := range set {
		set[c] = o.Parse == nil
	}
	for _, c := range o.Parse {
		if c >= 0 && c < numColumns {
			set[c] = true
		}
	}
	return set
}

// NewReaderWith is NewReader with options.
func NewReaderWith(r io.Reader, name, format string, opt ReaderOptions) (Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := notRows(br); err != nil {
		return nil, &Error{Name: name, Err: err}
	}
	if format == "" || format == "auto" {
		var err error
		if format, err = sniff(br); err != nil {
			return nil, &Error{Name: name, Err: err}
		}
	}
	switch format {
	case "csv":
		return newCSVReader(br, name, opt)
	case "ndjson", "json", "jsonl":
		return newNDJSONReader(br, name, opt)
	}
	return nil, unknownFormat(format, true)
}

func sniff(br *bufio.Reader) (string, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if err == io.EOF {
				return "csv", nil // empty: the CSV reader reports it
			}
			return "", err
		}
		switch c := b[n-1]; c {
		case ' ', '\t', '\r', '\n':
			if n >= 4096 {
				return "csv", nil
			}
			continue
		case '{':
			return "ndjson", nil
		default:
			return "csv", nil
		}
	}
}

// ErrCapture is the error for a packet capture given where rows belong
// ("scanclass < scan.pcap"): without it the reader would call the capture's
// binary header a CSV header that is not UTF-8 text.
var ErrCapture = errors.New("this is a packet capture (pcap or pcapng), not session rows: make rows of it with pcapsess first (pcapsess -r FILE | ...)")

// ErrGzip is the error for gzip'd input: a gzip'd capture goes to pcapsess,
// gzip'd rows through zcat.
var ErrGzip = errors.New("this is gzip-compressed data, not session rows: give a gzip'd capture to pcapsess -r FILE, gzip'd rows through zcat")

// notRows recognises, by their first bytes, inputs that are certainly not
// rows: pcap (either byte order, µs or ns), pcapng and gzip.
func notRows(br *bufio.Reader) error {
	b, _ := br.Peek(4)
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		return ErrGzip
	}
	if len(b) < 4 {
		return nil
	}
	switch uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24 {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a:
		return ErrCapture
	}
	return nil
}

// WriterOptions tune a writer.
type WriterOptions struct {
	// AutoFlush flushes after every row: for terminals and live pipelines.
	AutoFlush bool
	// Background encodes and writes on a goroutine of its own, taking rows
	// in batches: for bulk output from a producer that has a core's worth
	// of work of its own. Not with AutoFlush.
	Background bool
}

// NewWriter returns a writer for format "csv" or "ndjson".
func NewWriter(w io.Writer, format string, s *Schema, opt WriterOptions) (Writer, error) {
	var enc Writer
	switch format {
	case "csv", "":
		enc = newCSVWriter(w, s, opt.AutoFlush)
	case "ndjson", "json", "jsonl":
		enc = newNDJSONWriter(w, s, opt.AutoFlush)
	default:
		return nil, unknownFormat(format, false)
	}
	if opt.Background && !opt.AutoFlush {
		return newBackgroundWriter(enc), nil
	}
	return enc, nil
}

func unknownFormat(f string, reading bool) error {
	names := slices.Clone(Formats)
	if reading {
		names = append(names, "auto")
	}
	return fmt.Errorf("unknown format %q (known: %s)", f, strings.Join(names, ", "))
}

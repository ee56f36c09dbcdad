package row

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// csvScanner splits CSV records (RFC 4180: quoted fields, "" escapes,
// newlines inside quotes, blank lines skipped). Rows of session data have
// no quotes, so the common line is split with IndexByte on one string; it
// is several times faster than encoding/csv, which checks every byte for
// quotes and copies fields twice.
type csvScanner struct {
	br      *bufio.Reader
	line    int // last input line read
	recLine int // first line of the record last returned
	long    []byte
	quoted  []byte
	ends    []int
	fields  []string
	// plain: the last record's line had no quote and no CR, so its fields
	// hold none of the characters a CSV writer quotes (but a leading blank).
	plain bool
}

var (
	errBareQuote = errors.New(`bare " in non-quoted field`)
	errQuote     = errors.New(`extraneous or missing " in quoted field`)
)

// readLine returns the next line without its line ending; io.EOF at the end.
func (s *csvScanner) readLine() ([]byte, error) {
	l, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], l...)
		for err == bufio.ErrBufferFull {
			if len(s.long) > MaxLineBytes {
				return nil, ErrLineTooLong
			}
			l, err = s.br.ReadSlice('\n')
			s.long = append(s.long, l...)
		}
		l = s.long
	}
	if len(l) > MaxLineBytes+1 {
		return nil, ErrLineTooLong
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(l) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	s.line++
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
	} else if n > 0 && l[n-1] == '\r' {
		l = l[:n-1] // a last line ending in a bare CR, as encoding/csv reads it
	}
	return l, nil
}

// Read returns the next record's fields, valid until the next call.
func (s *csvScanner) Read() ([]string, error) {
	var l []byte
	var err error
	for {
		if l, err = s.readLine(); err != nil {
			return nil, err
		}
		if len(l) > 0 {
			break
		}
	}
	s.recLine = s.line
	s.fields = s.fields[:0]
	s.plain = false
	if bytes.IndexByte(l, '"') < 0 {
		s.plain = bytes.IndexByte(l, '\r') < 0
		text := string(l)
		for {
			i := strings.IndexByte(text, ',')
			if i < 0 {
				s.fields = append(s.fields, text)
				return s.fields, nil
			}
			s.fields = append(s.fields, text[:i])
			text = text[i+1:]
		}
	}
	return s.readQuoted(l)
}

// readQuoted parses a record with quotes, reading more lines while a
// quoted field is open.
func (s *csvScanner) readQuoted(l []byte) ([]string, error) {
	out := s.quoted[:0]
	ends := s.ends[:0]
	i := 0
	for {
		// At the start of a field.
		if i < len(l) && l[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(l[i:], '"')
				if j < 0 {
					// The field goes on past this line.
					out = append(out, l[i:]...)
					out = append(out, '\n')
					var err error
					if l, err = s.readLine(); err != nil {
						if err == io.EOF {
							return nil, errQuote
						}
						return nil, err
					}
					if len(out) > MaxLineBytes {
						return nil, ErrLineTooLong
					}
					i = 0
					continue
				}
				out = append(out, l[i:i+j]...)
				i += j + 1
				if i < len(l) && l[i] == '"' { // "" is a quote
					out = append(out, '"')
					i++
					continue
				}
				break
			}
			if i < len(l) && l[i] != ',' {
				return nil, errQuote
			}
		} else {
			j := bytes.IndexByte(l[i:], ',')
			if j < 0 {
				j = len(l) - i
			}
			if bytes.IndexByte(l[i:i+j], '"') >= 0 {
				return nil, errBareQuote
			}
			out = append(out, l[i:i+j]...)
			i += j
		}
		ends = append(ends, len(out))
		if i >= len(l) {
			break
		}
		i++ // the comma
		if i == len(l) {
			ends = append(ends, len(out)) // a trailing empty field
			break
		}
	}
	s.quoted, s.ends = out, ends
	text := string(out)
	start := 0
	for _, e := range ends {
		s.fields = append(s.fields, text[start:e])
		start = e
	}
	return s.fields, nil
}

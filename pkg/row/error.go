package row

import (
	"errors"
	"fmt"
)

// Error is a problem in an input stream, located by file, line and column.
type Error struct {
	Name   string // file name, "-" or "stdin"
	Line   int    // 1-based line number, 0 when unknown
	Column string // column name, "" when the whole line is at fault
	Err    error
}

func (e *Error) Error() string {
	s := "read " + e.Name
	if e.Line > 0 {
		s += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Column != "" {
		s += ": column " + e.Column
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrEmpty is returned by NewReader for input without even a header line.
var ErrEmpty = errors.New("empty input: no header line")

// ErrLineTooLong is returned for lines beyond MaxLineBytes.
var ErrLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineBytes)

// MaxLineBytes bounds one input line: a session row is a few hundred bytes,
// so a longer line is garbage, and bounding it bounds memory.
const MaxLineBytes = 1 << 20

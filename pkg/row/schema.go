package row

import (
	"fmt"
	"slices"
	"strings"
)

// Schema names the columns of a stream: the known ones it carries, in the
// contract's order, then the unknown ones in input order.
type Schema struct {
	Known []Column
	Extra []string
	has   [numColumns]bool
}

// NewSchema builds a schema; known columns are put in the contract's order
// and duplicates dropped.
func NewSchema(known []Column, extra []string) *Schema {
	s := &Schema{Extra: slices.Clone(extra)}
	for _, c := range known {
		if c >= 0 && c < numColumns {
			s.has[c] = true
		}
	}
	for c := Column(0); c < numColumns; c++ {
		if s.has[c] {
			s.Known = append(s.Known, c)
		}
	}
	return s
}

// SessionSchema is what pcapsess writes: harvester columns, evidence, and the
// label when one is given.
func SessionSchema(withLabel bool) *Schema {
	cols := append(Harvester(), Evidence()...)
	if withLabel {
		cols = append(cols, Label)
	}
	return NewSchema(cols, nil)
}

// Has reports whether the stream carries column c.
func (s *Schema) Has(c Column) bool {
	if from, ok := derivedFrom[c]; ok {
		for _, f := range from {
			if !s.Has(f) {
				return false
			}
		}
		return true
	}
	return c >= 0 && c < numColumns && s.has[c]
}

// With returns a copy of s that also carries cols.
func (s *Schema) With(cols ...Column) *Schema {
	return NewSchema(append(slices.Clone(s.Known), cols...), s.Extra)
}

// WithExtra returns a copy of s that also carries the unknown columns names
// (after its own).
func (s *Schema) WithExtra(names ...string) *Schema {
	return NewSchema(s.Known, append(slices.Clone(s.Extra), names...))
}

// Header is the header line's names.
func (s *Schema) Header() []string {
	h := make([]string, 0, len(s.Known)+len(s.Extra))
	for _, c := range s.Known {
		h = append(h, c.Name())
	}
	return append(h, s.Extra...)
}

// Missing returns the names of cols the stream does not carry.
func (s *Schema) Missing(cols ...Column) []string {
	var out []string
	for _, c := range cols {
		if !s.Has(c) {
			out = append(out, c.Name())
		}
	}
	return out
}

// Require returns an error naming every column of cols the stream lacks.
func (s *Schema) Require(cols ...Column) error {
	if m := s.Missing(cols...); len(m) > 0 {
		word := "column"
		if len(m) > 1 {
			word = "columns"
		}
		return fmt.Errorf("missing %s %s", word, strings.Join(m, ", "))
	}
	return nil
}

// Index returns the position in Extra of an unknown column, or -1.
func (s *Schema) Index(name string) int { return slices.Index(s.Extra, name) }

// Equal reports whether two schemas have the same columns in the same order.
func (s *Schema) Equal(o *Schema) bool {
	return slices.Equal(s.Known, o.Known) && slices.Equal(s.Extra, o.Extra)
}

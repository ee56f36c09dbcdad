package capture

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopacket/gopacket"
)

// ExpandFiles turns -r arguments into file names: an argument that names
// no file but holds a glob pattern (* ? [) stands for the files it
// matches, in name order; "-" is stdin and stays.
func ExpandFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" || !strings.ContainsAny(a, "*?[") {
			out = append(out, a)
			continue
		}
		if _, err := os.Stat(a); err == nil {
			out = append(out, a)
			continue
		}
		m, err := filepath.Glob(a)
		if err != nil {
			return nil, fmt.Errorf("-r %q: %w", a, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("-r %q: no file matches", a)
		}
		out = append(out, m...)
	}
	return out, nil
}

// ReadError is a read error of one of several merged files.
type ReadError struct {
	Name string
	Err  error
}

func (e *ReadError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// OpenFiles opens captures and merges their packets in timestamp order,
// as mergecap does (a tie goes to the file named first). All must have the
// same link type. One name is OpenFileWith. Each file's bytes are read
// through wrap, as OpenFileWith does, when wrap is not nil.
func OpenFiles(names []string, stdin io.Reader, wrap func(io.Reader) io.Reader) (*Source, error) {
	if len(names) == 1 {
		return OpenFileWith(names[0], stdin, wrap)
	}
	m := &mergeSource{last: -1}
	closeAll := func() error {
		var first error
		for _, in := range m.in {
			if err := in.src.Close(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	for _, name := range names {
		src, err := OpenFileWith(name, stdin, wrap)
		if err != nil {
			closeAll()
			return nil, err
		}
		if len(m.in) > 0 && src.Link != m.in[0].src.Link {
			src.Close()
			closeAll()
			return nil, fmt.Errorf("%s has link type %s, %s has %s: pcapsess merges captures of one link type",
				names[0], m.in[0].src.Link, name, src.Link)
		}
		m.in = append(m.in, &mergeInput{src: src, name: name})
	}
	for i := range m.in {
		if err := m.advance(i); err != nil {
			closeAll()
			return nil, err
		}
	}
	return &Source{PacketDataSource: m, Link: m.in[0].src.Link, Name: strings.Join(names, ", "), close: closeAll}, nil
}

type mergeInput struct {
	src  *Source
	name string
	data []byte
	ci   gopacket.CaptureInfo
	done bool
}

// mergeSource yields the earliest pending packet of its inputs. Reads are
// zero-copy: an input is read again only when the packet it returned last
// has been used (on the next read), so every returned slice stays valid
// until then, as the contract asks.
type mergeSource struct {
	in   []*mergeInput
	last int // the input whose packet was returned last, to be advanced
}

func (m *mergeSource) advance(i int) error {
	in := m.in[i]
	data, ci, err := in.src.ZeroCopyReadPacketData()
	switch {
	case err == io.EOF:
		in.done = true
		return nil
	case err != nil:
		return &ReadError{Name: in.name, Err: err}
	}
	in.data, in.ci = data, ci
	return nil
}

func (m *mergeSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if m.last >= 0 {
		if err := m.advance(m.last); err != nil {
			return nil, gopacket.CaptureInfo{}, err
		}
	}
	best := -1
	for i, in := range m.in {
		if !in.done && (best < 0 || in.ci.Timestamp.Before(m.in[best].ci.Timestamp)) {
			best = i
		}
	}
	m.last = best
	if best < 0 {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	return m.in[best].data, m.in[best].ci, nil
}

func (m *mergeSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := m.ZeroCopyReadPacketData()
	return append([]byte(nil), data...), ci, err
}

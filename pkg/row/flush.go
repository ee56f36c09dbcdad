package row

import "io"

// FlushBeforeRead wraps an input so that flush is called each time the
// reader must go back to the input for more bytes: just before it might
// block. A live stream (one row per read) is then flushed row by row, while
// a file (64 KiB per read) is written in large blocks. Set flush after the
// output exists; until then reads just pass through.
type FlushBeforeRead struct {
	R     io.Reader
	Flush func() error
}

func (f *FlushBeforeRead) Read(p []byte) (int, error) {
	if f.Flush != nil {
		if err := f.Flush(); err != nil {
			return 0, err
		}
	}
	return f.R.Read(p)
}

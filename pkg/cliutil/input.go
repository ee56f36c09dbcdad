package cliutil

import (
	"context"
	"errors"
	"io"
	"os"
)

// ErrInterrupted is what a read of an Input returns once SIGINT or SIGTERM
// ended it. Readers above it (row readers, capture readers) drop the
// incomplete record they hold and pass it up; tools treat it as the end of
// their input.
var ErrInterrupted = errors.New("interrupted by a signal")

// Input wraps a tool's input so that ctx (SignalContext's) ends it, also
// while a read waits on a terminal, a pipe or a FIFO that nobody writes to.
//
// Why not close the file on the signal, as the tools once did: os.Stdin
// is a blocking descriptor outside Go's poller, so closing it does not wake
// a read blocked on it (the signal looked ignored), and the next read after
// the writer finally closed failed with "file already closed". Here a read
// that may wait runs on a goroutine of its own while Read waits for it or
// for ctx; once ctx is done, Read returns ErrInterrupted and the read left
// behind is abandoned (the process is about to end). Regular files never
// wait: they are read directly, and ctx is checked before each read.
func Input(ctx context.Context, r io.Reader) io.Reader {
	return &input{ctx: ctx, r: r, direct: IsRegularFile(r), done: make(chan readResult, 1)}
}

type input struct {
	ctx    context.Context
	r      io.Reader
	direct bool
	buf    []byte
	done   chan readResult
	ended  bool
}

type readResult struct {
	n   int
	err error
}

func (in *input) Read(p []byte) (int, error) {
	if in.ended || in.ctx.Err() != nil {
		in.ended = true
		return 0, ErrInterrupted
	}
	if in.direct || len(p) == 0 {
		return in.r.Read(p)
	}
	// The goroutine reads into a buffer of its own: p is the caller's
	// again as soon as Read returns, also when it returns on ctx.
	if cap(in.buf) < len(p) {
		in.buf = make([]byte, len(p))
	}
	buf := in.buf[:len(p)]
	go func() {
		n, err := in.r.Read(buf)
		in.done <- readResult{n, err}
	}()
	select {
	case res := <-in.done:
		return copy(p, buf[:res.n]), res.err
	case <-in.ctx.Done():
		in.ended = true // buf still belongs to the abandoned read
		return 0, ErrInterrupted
	}
}

// IsRegularFile reports whether r is an *os.File on a regular file: an
// input whose reads never wait for a writer.
func IsRegularFile(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

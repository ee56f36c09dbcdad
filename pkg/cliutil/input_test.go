package cliutil

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A read waiting on an idle pipe ends with ErrInterrupted once the context
// is done; what arrived before it was read in full.
func TestInputEndsAWaitingRead(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	in := Input(ctx, pr)
	go pw.Write([]byte("row 1\n"))
	buf := make([]byte, 64)
	n, err := in.Read(buf)
	if err != nil || string(buf[:n]) != "row 1\n" {
		t.Fatalf("first read: %q %v", buf[:n], err)
	}
	done := make(chan error, 1)
	go func() { _, err := in.Read(buf); done <- err }()
	time.Sleep(20 * time.Millisecond) // the read waits on the idle pipe
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInterrupted) {
			t.Errorf("after cancel: %v, want ErrInterrupted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read still waits 5 s after cancel")
	}
	if _, err := in.Read(buf); !errors.Is(err, ErrInterrupted) {
		t.Errorf("a later read: %v", err)
	}
}

// A regular file is read directly, and a done context still ends it.
func TestInputRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !IsRegularFile(f) {
		t.Fatal("a regular file is not seen as one")
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := Input(ctx, f)
	b, err := io.ReadAll(in)
	if err != nil || string(b) != "a\nb\n" {
		t.Fatalf("%q %v", b, err)
	}
	cancel()
	if _, err := in.Read(make([]byte, 1)); !errors.Is(err, ErrInterrupted) {
		t.Errorf("after cancel: %v", err)
	}
}

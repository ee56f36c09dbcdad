package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal pair: what is written to tty can be
// read from ptm.
func openPTY(t *testing.T) (ptm, tty *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		t.Skipf("ptsname: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		t.Skipf("open pts: %v", err)
	}
	return ptm, tty
}

// With stderr on a terminal, modelpick draws a progress bar there, and
// stdout (the data) stays free of it.
func TestProgressBarOnTerminal(t *testing.T) {
	ptm, tty := openPTY(t)
	defer ptm.Close()
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&screen, ptm) // ends with EIO once tty is closed
		close(done)
	}()
	var stdout bytes.Buffer
	code := Run(context.Background(), []string{smallCSV, "--folds", "3", "--candidates", "DecisionTree,kNN(5)"}, nil, &stdout, tty)
	tty.Close()
	<-done
	if code != 0 {
		t.Fatalf("exit %d: %s", code, screen.String())
	}
	if !strings.Contains(screen.String(), "(6/6)") || !strings.Contains(screen.String(), "█") {
		t.Errorf("no progress bar on the terminal: %q", screen.String())
	}
	if strings.Contains(stdout.String(), "█") || !strings.Contains(stdout.String(), "Best by MCC:") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

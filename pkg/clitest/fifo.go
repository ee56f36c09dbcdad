package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv carries a FIFO case's arguments to the test binary run again as
// the tool.
const childEnv = "SCANWATCH_CLITEST_TOOL_ARGS"

// runChild is the tool's main in the re-run test binary: it never returns.
func runChild(encoded string, run Main) {
	var args []string
	if err := json.Unmarshal([]byte(encoded), &args); err != nil {
		fmt.Fprintf(os.Stderr, "clitest: %s: %v\n", childEnv, err)
		os.Exit(125)
	}
	os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
}

// fifoWait bounds every wait of a FIFO case: the tool reading its input,
// and the tool ending after the signal or the end of input.
const fifoWait = 10 * time.Second

// runFIFO runs case c as a process whose stdin is a FIFO held open by the
// test (see Case.FIFO) and returns what it had written to stdout when it
// waited on the FIFO, its whole output and its exit code (-1 when a signal
// killed it).
func runFIFO(t *testing.T, test string, c Case) (waiting, stdout, stderr []byte, code int) {
	t.Helper()
	var sig syscall.Signal
	switch c.Signal {
	case "":
	case "INT":
		sig = syscall.SIGINT
	case "TERM":
		sig = syscall.SIGTERM
	default:
		t.Fatalf("signal %q: INT or TERM", c.Signal)
	}
	var data []byte
	if c.Stdin != "" {
		var err error
		if data, err = os.ReadFile(c.Stdin); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "stdin.fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// The read end opens without waiting for a writer, then becomes
	// blocking, as the descriptor a shell's "< fifo" hands over.
	rfd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(rfd, false); err != nil {
		t.Fatal(err)
	}
	readEnd := os.NewFile(uintptr(rfd), path)
	writeEnd, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		readEnd.Close()
		t.Fatal(err)
	}
	defer writeEnd.Close()

	args, _ := json.Marshal(c.Args)
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(test)+"$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(args))
	cmd.Stdin = readEnd
	// Stdout is a pipe the test leaves unread until the tool waits on the
	// FIFO (1 MiB holds a case's output): what is in it then is what the
	// tool wrote before its input ended.
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	if _, err := unix.FcntlInt(outW.Fd(), unix.F_SETPIPE_SZ, 1<<20); err != nil {
		t.Logf("F_SETPIPE_SZ: %v (the pipe holds 64 KiB)", err)
	}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = outW, &errb
	if err := cmd.Start(); err != nil {
		readEnd.Close()
		t.Fatal(err)
	}
	readEnd.Close()
	outW.Close()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()

	written := make(chan error, 1)
	go func() { _, err := writeEnd.Write(data); written <- err }()
	select {
	case err := <-written:
		if err != nil {
			t.Fatalf("writing stdin: %v", err)
		}
	case <-exited:
		t.Fatalf("the tool exited (%v) before it read its input; stderr:\n%s", cmd.ProcessState, errb.String())
	case <-time.After(fifoWait):
		t.Fatalf("the tool did not read its input within %v", fifoWait)
	}
	if err := waitReading(cmd.Process.Pid, writeEnd, exited); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, errb.String())
	}
	n, err := unix.IoctlGetInt(int(outR.Fd()), unix.TIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	waiting = make([]byte, n)
	if _, err := io.ReadFull(outR, waiting); err != nil {
		t.Fatal(err)
	}
	rest := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(outR); rest <- b }()
	if sig != 0 {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	} else {
		writeEnd.Close()
	}
	select {
	case <-exited:
	case <-time.After(fifoWait):
		t.Fatalf("the tool still runs %v after %s; stderr:\n%s", fifoWait, map[bool]string{true: "SIG" + c.Signal, false: "the end of input"}[sig != 0], errb.String())
	}
	return waiting, append(slices.Clip(waiting), <-rest...), errb.Bytes(), cmd.ProcessState.ExitCode()
}

// waitReading returns once the FIFO is empty and a thread of process pid
// waits in read(0, …): the tool has read all it was given and waits for
// more. Where /proc does not show a thread's system call, it settles for
// the empty FIFO and a pause.
func waitReading(pid int, fifo *os.File, exited <-chan struct{}) error {
	deadline := time.Now().Add(fifoWait)
	readCall := fmt.Sprintf("%d 0x0 ", syscall.SYS_READ)
	for {
		select {
		case <-exited:
			return fmt.Errorf("the tool exited before it waited for more input")
		default:
		}
		left, err := unix.IoctlGetInt(int(fifo.Fd()), unix.TIOCINQ) // FIONREAD: bytes in the pipe
		if err != nil {
			return fmt.Errorf("FIONREAD: %w", err)
		}
		if left == 0 {
			waiting, known := threadIn(pid, readCall)
			if !known {
				time.Sleep(300 * time.Millisecond)
				return nil
			}
			if waiting {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the tool did not wait on its input within %v (%d bytes unread)", fifoWait, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// threadIn reports whether a thread of pid is in the system call whose
// /proc/PID/task/TID/syscall line starts with prefix; known is false when
// /proc does not say.
func threadIn(pid int, prefix string) (in, known bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		if err != nil {
			continue
		}
		known = true
		if strings.HasPrefix(string(b), prefix) {
			return true, true
		}
	}
	return false, known
}

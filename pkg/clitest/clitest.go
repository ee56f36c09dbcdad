package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Case is one command-line run.
type Case struct {
	Name  string   `json:"name"`
	Args  []string `json:"args"`
	Stdin string   `json:"stdin,omitempty"` // a file whose content is stdin (default: empty)
	Exit  int      `json:"exit"`
	// SkipStdout skips comparing stdout (for outputs checked elsewhere).
	SkipStdout bool `json:"skip_stdout,omitempty"`
	// FIFO makes stdin a FIFO that the test holds open, as a shell's
	// "tool < fifo" or an idle upstream would: the test writes the Stdin
	// file into it, waits until the tool has read it all and waits for
	// more, then sends Signal or, without one, closes the FIFO (the end of
	// input, like Ctrl-D). Such a case runs the tool as a process of its
	// own (the test binary run again), whose stdin is a blocking
	// descriptor outside Go's poller, as it is in a shell.
	FIFO bool `json:"fifo,omitempty"`
	// Signal is "INT" or "TERM", sent once the tool waits on the FIFO.
	Signal string `json:"signal,omitempty"`
	// Waiting (with FIFO) also compares what the tool had written to
	// stdout by the time it waited on the FIFO with golden NAME.waiting:
	// what a filter streams before its input ends.
	Waiting bool `json:"waiting,omitempty"`
}

// Main is the signature of every tool's cli.Run.
type Main func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Run runs every case of toolDir/testdata/cases.json through run, with
// toolDir as the working directory, and compares exit code, stdout and
// stderr with the case's. Cases run one after another (the working
// directory is the test's).
func Run(t *testing.T, toolDir string, run Main) {
	t.Helper()
	if args, ok := os.LookupEnv(childEnv); ok {
		runChild(args, run) // this process is a FIFO case's tool
	}
	test := t.Name()
	t.Chdir(toolDir)
	data, err := os.ReadFile(filepath.Join("testdata", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []Case
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("%s/testdata/cases.json: %v", toolDir, err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.FIFO {
				waiting, stdout, stderr, code := runFIFO(t, test, c)
				if c.Waiting {
					golden(t, filepath.Join("testdata", "golden", c.Name+".waiting"), waiting)
				}
				check(t, c, code, stdout, stderr)
				return
			}
			if c.Signal != "" || c.Waiting {
				t.Fatal("signal and waiting go with fifo")
			}
			name := os.DevNull
			if c.Stdin != "" {
				name = c.Stdin
			}
			stdin, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.Args, stdin, &stdout, &stderr)
			check(t, c, code, stdout.Bytes(), stderr.Bytes())
		})
	}
}

// check compares a run's exit code and output with the case's.
func check(t *testing.T, c Case, code int, stdout, stderr []byte) {
	t.Helper()
	if code != c.Exit {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, c.Exit, stderr)
	}
	if !c.SkipStdout {
		golden(t, filepath.Join("testdata", "golden", c.Name+".stdout"), stdout)
	}
	golden(t, filepath.Join("testdata", "golden", c.Name+".stderr"), stderr)
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n%s", path, diff(string(want), string(got)))
	}
}

// diff shows the first differing line, enough to see what changed.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(same lines, different bytes)"
}

// Buffer is a bytes.Buffer that a tool may write on one goroutine while a
// test reads on another (a live tool's stdout or stderr).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Package clitest runs CLI test cases written as data: a cases file lists
// each case's arguments, standard input and exit code; the expected stdout
// and stderr live in golden files beside it and are rewritten with -update.
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Case is one command-line run.
type Case struct {
	Name  string   `json:"name"`
	Args  []string `json:"args"`
	Stdin string   `json:"stdin,omitempty"` // a file whose content is stdin
	Exit  int      `json:"exit"`
	// SkipStdout skips comparing stdout (for outputs checked elsewhere).
	SkipStdout bool `json:"skip_stdout,omitempty"`
}

// Run loads dir/cases.json and runs every case through run, comparing with
// dir/golden/NAME.stdout and NAME.stderr.
func Run(t *testing.T, dir string, run func(ctx context.Context, args []string, stdin *os.File, stdout, stderr *bytes.Buffer) int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []Case
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("%s/cases.json: %v", dir, err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			stdin, err := os.Open(os.DevNull)
			if c.Stdin != "" {
				stdin, err = os.Open(filepath.Join(dir, c.Stdin))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.Args, stdin, &stdout, &stderr)
			if code != c.Exit {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.Exit, stderr.String())
			}
			if !c.SkipStdout {
				golden(t, filepath.Join(dir, "golden", c.Name+".stdout"), stdout.Bytes())
			}
			golden(t, filepath.Join(dir, "golden", c.Name+".stderr"), stderr.Bytes())
		})
	}
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

package clitest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RunText runs the cases of root/testdata/cases.txt, one per line:
// "name | args | stdin file", with '#' comments. Each case runs with root
// as the working directory (paths in messages are as typed) and its exit
// code, stdout and stderr are compared with one golden file,
// root/testdata/golden/NAME.txt, rewritten with -update. tool names the
// command in failure messages. Cases must not run in parallel: the working
// directory changes.
func RunText(t *testing.T, root, tool string, run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "testdata", "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "|")
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		name := strings.TrimSpace(parts[0])
		args := strings.Fields(parts[1])
		stdinFile := strings.TrimSpace(parts[2])
		n++
		t.Run(name, func(t *testing.T) {
			var stdin bytes.Buffer
			if stdinFile != "" {
				b, err := os.ReadFile(filepath.Join(root, stdinFile))
				if err != nil {
					t.Fatal(err)
				}
				stdin.Write(b)
			}
			var stdout, stderr bytes.Buffer
			code := runIn(t, root, func() int { return run(context.Background(), args, &stdin, &stdout, &stderr) })
			got := fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", code, stdout.String(), stderr.String())
			golden := filepath.Join(root, "testdata", "golden", name+".txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s %s\ngot:\n%s\nwant:\n%s", tool, strings.Join(args, " "), got, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("no cases")
	}
}

// runIn runs fn with dir as the working directory.
func runIn(t *testing.T, dir string, fn func() int) int {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	return fn()
}

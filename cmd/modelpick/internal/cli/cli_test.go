package cli

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The cases live in ../../testdata/cases.txt, one per line:
// name | args | stdin file. Paths in args are relative to cmd/modelpick.
func TestCLICases(t *testing.T) {
	root := filepath.Join("..", "..")
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
			// Paths in messages are as typed, so run from cmd/modelpick.
			var stdout, stderr bytes.Buffer
			code := runIn(t, root, func() int { return Run(context.Background(), args, &stdin, &stdout, &stderr) })
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
				t.Errorf("modelpick %s\ngot:\n%s\nwant:\n%s", strings.Join(args, " "), got, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("no cases")
	}
}

// runIn runs fn with dir as the working directory. Tests in this package do
// not run in parallel, so changing directory is safe.
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

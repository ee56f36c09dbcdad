package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"scanwatch/pkg/clitest"
)

// The cases are data: ../../testdata/cases.json, goldens beside it;
// regenerate with: go test ./cmd/trafficgen/... -run TestCLI -update
func TestCLI(t *testing.T) {
	clitest.Run(t, filepath.Join("..", "..", "testdata"), func(ctx context.Context, args []string, stdin *os.File, stdout, stderr *bytes.Buffer) int {
		return Run(ctx, args, stdin, stdout, stderr)
	})
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"200/s": 200, "60/m": 1, "3600/h": 1, "0": 0, "2.5": 2.5} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x/s", "-1/s", "5/d"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) accepted", in)
		}
	}
}

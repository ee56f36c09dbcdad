package cli

import (
	"testing"

	"scanwatch/pkg/clitest"
)

// The cases are data: ../testdata/cases.json, goldens in ../testdata/golden;
// paths in them are relative to cmd/trafficgen. Regenerate the goldens with:
// go test ./cmd/trafficgen/cli -run TestCLI -update
func TestCLI(t *testing.T) {
	clitest.Run(t, "..", Run)
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

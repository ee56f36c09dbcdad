package cli

import (
	"testing"

	"scanwatch/pkg/clitest"
)

// The cases are data: ../testdata/cases.json, goldens in ../testdata/golden;
// paths in them are relative to cmd/modelpick. Regenerate the goldens with:
// go test ./cmd/modelpick/cli -run TestCLI -update
//
// Only deterministic output belongs there: tables carry timings, so runs
// that print one are checked by the tests of run_test.go instead.
func TestCLI(t *testing.T) {
	clitest.Run(t, "..", Run)
}

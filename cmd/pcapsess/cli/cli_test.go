package cli

import (
	"testing"

	"scanwatch/pkg/clitest"
)

// The cases are data: ../testdata/cases.json, goldens in ../testdata/golden;
// paths in them are relative to cmd/pcapsess. Regenerate the goldens with:
// go test ./cmd/pcapsess/cli -run TestCLI -update
func TestCLI(t *testing.T) {
	clitest.Run(t, "..", Run)
}

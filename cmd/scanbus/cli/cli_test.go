package cli

import (
	"testing"

	"scanwatch/pkg/clitest"
)

// The cases are data: ../testdata/cases.json, goldens in ../testdata/golden;
// paths in them are relative to cmd/scanbus. Regenerate the goldens with:
// go test ./cmd/scanbus/cli -run TestCLI -update
// Publishing through a real cluster is tested in pkg/bus/natsbus and e2e.
func TestCLI(t *testing.T) {
	clitest.Run(t, "..", Run)
}

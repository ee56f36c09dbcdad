package cli

import (
	"path/filepath"
	"testing"

	"scanwatch/pkg/clitest"
)

// The cases live in ../../testdata/cases.txt, one per line:
// name | args | stdin file. Paths in args are relative to cmd/csvmerge.
func TestCLICases(t *testing.T) {
	clitest.RunText(t, filepath.Join("..", ".."), "csvmerge", Run)
}

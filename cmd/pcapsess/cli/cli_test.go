package cli

import (
	"bytes"
	"context"
	"os"
	"testing"

	"scanwatch/pkg/clitest"
)

func TestCLI(t *testing.T) {
	clitest.Run(t, "testdata", func(ctx context.Context, args []string, stdin *os.File, stdout, stderr *bytes.Buffer) int {
		return Run(ctx, args, stdin, stdout, stderr)
	})
}

// Command modelpick compares classifiers by cross-validation and exports the
// chosen one as a LightGBM text model.
package main

import (
	"context"
	"os"

	"scanwatch/cmd/modelpick/cli"
)

func main() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

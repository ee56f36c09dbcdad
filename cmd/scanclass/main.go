// Command scanclass scores session rows with a model: it appends score and
// prediction columns and passes every other column through.
package main

import (
	"context"
	"os"

	"scanwatch/cmd/scanclass/cli"
)

func main() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

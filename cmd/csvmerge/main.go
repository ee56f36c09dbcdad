// Command csvmerge concatenates session-row files into one stream.
package main

import (
	"context"
	"os"

	"scanwatch/cmd/csvmerge/cli"
)

func main() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

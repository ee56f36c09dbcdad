// Command pcapsess turns TCP packets, live or from a capture file, into
// session rows on stdout.
package main

import (
	"context"
	"os"

	"scanwatch/cmd/pcapsess/cli"
)

func main() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

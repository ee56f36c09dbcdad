// Command scanalert raises port-scan alerts from classified session rows.
package main

import (
	"context"
	"os"

	"scanwatch/cmd/scanalert/cli"
)

func main() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

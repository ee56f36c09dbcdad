// Command scanbus carries a sensor's classified session rows to NATS
// JetStream, for central scanalert instances (scanalert --subscribe).
package main

import (
	"context"
	"os"

	"scanwatch/cmd/scanbus/cli"
)

func main() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

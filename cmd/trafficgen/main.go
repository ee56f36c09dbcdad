// Command trafficgen makes labelled traffic on loopback: legitimate clients,
// real nmap scans, a seeded mix of both with a ground-truth log, and the
// datasets built from capturing each.
package main

import (
	"context"
	"os"

	"scanwatch/cmd/trafficgen/cli"
)

func main() { os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// Command netnsdata builds datasets/netns (see package netnsdata).
package main

import (
	"context"
	"os"

	"scanwatch/internal/netnsdata"
)

func main() {
	os.Exit(netnsdata.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

package cli

import (
	"context"
	"fmt"
	"io"
)

// DatasetCmd is `trafficgen dataset`.
type DatasetCmd struct {
	Out string `default:"datasets/train" help:"Directory for bad.csv, good.csv and merged.csv."`
}

func (c *DatasetCmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	return fmt.Errorf("dataset: not implemented yet")
}

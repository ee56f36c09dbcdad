// Package cli is csvmerge's command line: flags in, pkg/merge out.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/merge"
)

const tool = "csvmerge"

const description = `Concatenate session-row files (CSV or NDJSON, the seed's CSVs too) into one stream on stdout.

Every input must have the required columns (by default the seed's fifteen and label, as the seed's merger.py
demanded) and the same columns as the first input; the output has the first input's columns. Without --shuffle
or --balance it streams with constant memory. --balance reads the inputs twice (stdin is spooled to a temporary
file) and keeps constant memory; --shuffle holds every row in memory (about 0.5 GB per million rows).`

type cliArgs struct {
	Files   []string `arg:"" name:"file" help:"Row files to merge, in order; - is standard input."`
	Require string   `default:"seed" placeholder:"LIST" help:"Columns every input must have: 'seed' (the seed's 15 columns and label), 'none', or a comma-separated list of column names."`
	Shuffle bool     `help:"Write the rows in a random order fixed by --seed (holds all rows in memory)."`
	Balance bool     `help:"Downsample every larger class to the smallest class's row count; the rows kept are fixed by --seed."`
	Seed    int64    `default:"1" help:"Seed for --shuffle and --balance."`
	Relabel *int     `placeholder:"N" help:"Force every row's label to N (adding the label column if absent)."`
	Format  string   `enum:"csv,ndjson" default:"csv" help:"Output format: csv or ndjson."`
	cliutil.VersionFlag
}

// Run runs csvmerge with args and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cliArgs
	return cliutil.Run(ctx, tool, description, &c, args, stdout, stderr, func(ctx context.Context, _ string) error {
		return run(ctx, &c, stdin, stdout, stderr)
	})
}

func run(ctx context.Context, c *cliArgs, stdin io.Reader, stdout, stderr io.Writer) error {
	opt := merge.Options{
		Shuffle:   c.Shuffle,
		Balance:   c.Balance,
		Seed:      c.Seed,
		Relabel:   c.Relabel,
		Format:    c.Format,
		AutoFlush: cliutil.IsTerminal(stdout),
	}
	if c.Relabel != nil && *c.Relabel < 0 {
		return cliutil.Usagef("--relabel %d: a label is a non-negative integer", *c.Relabel)
	}
	switch c.Require {
	case "seed":
		opt.Require = merge.HarvesterRequire()
	case "none", "":
	default:
		for _, n := range strings.Split(c.Require, ",") {
			if n = strings.TrimSpace(n); n != "" {
				opt.Require = append(opt.Require, n)
			}
		}
	}
	// A signal ends stdin, also while it waits on an idle pipe or terminal.
	inputs, err := merge.FileInputs(c.Files, cliutil.Input(ctx, stdin))
	if err != nil {
		return cliutil.Usage(err)
	}
	st, err := merge.Merge(ctx, inputs, stdout, opt)
	if errors.Is(err, cliutil.ErrInterrupted) {
		// Every complete row read before the signal was written (flushed):
		// the input ended early, which is what the user asked for.
		fmt.Fprintf(stderr, "%s: interrupted by a signal before the end of the input: %d rows written\n", tool, st.Out)
		return nil
	}
	return err
}

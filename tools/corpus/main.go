// Command corpus works on the repository's labelled captures (package
// corpus): `corpus eval` runs the user's pipeline over every one of them and
// scores it against the ground truth (just eval), `corpus rows` writes their
// labelled session rows (just train).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/corpus"
	"scanwatch/pkg/row"
	"scanwatch/pkg/session"
)

const tool = "corpus"

const description = `The repository's labelled captures (datasets/*/manifest.json): our own
data sets, each capture a pcap with its scanners' ground truth, and other
people's captures (datasets/public).`

type cliArgs struct {
	cliutil.VersionFlag
	Datasets string     `default:"datasets" help:"Directory whose subdirectories hold manifest.json files."`
	Eval     EvalCmd    `cmd:"" help:"Run pcapsess -r | scanclass | scanalert over every capture and score it against the ground truth."`
	Rows     RowsCmd    `cmd:"" help:"Write the labelled session rows of the captures (CSV) to stdout."`
	List     ListCmd    `cmd:"" help:"List the captures: name, source, class, scanners."`
	Loso     LosoCmd    `cmd:"" help:"Leave one source out: for every source, train the default model's recipe on all the others and run the pipeline over that one."`
	Compose  ComposeCmd `cmd:"" help:"Put scans into other captures: each scan rewritten so that a busy client of the base capture is its scanner, merged in time order (datasets/composed)."`
}

func main() { os.Exit(Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// Run is the tool's main.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cliArgs
	kctx, code, done := cliutil.Parse(tool, description, &c, args, stdout, stderr)
	if done {
		return code
	}
	ctx, stop := cliutil.SignalContext(ctx)
	defer stop()
	caps, err := corpus.Load(c.Datasets)
	if err == nil && len(caps) == 0 {
		err = fmt.Errorf("no labelled captures under %s", c.Datasets)
	}
	if err == nil {
		switch strings.Fields(kctx.Command())[0] {
		case "eval":
			err = c.Eval.run(ctx, caps, stdout, stderr)
		case "rows":
			err = c.Rows.run(ctx, caps, stdout)
		case "compose":
			err = c.Compose.run(ctx, caps, stderr)
		case "loso":
			err = c.Loso.run(ctx, caps, stdout, stderr)
		case "list":
			for _, cp := range caps {
				var sc []string
				for _, s := range cp.Scanners {
					sc = append(sc, s.Address+":"+strings.Join(s.Techniques, "+"))
				}
				fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", cp.Name, cp.Source, cp.Class, strings.Join(sc, " "))
			}
		}
	}
	return cliutil.Report(tool, stderr, err)
}

// Select picks captures by source.
type Select struct {
	Source []string `help:"Only captures from this source (repeatable; own/lo, public/OWNER/REPO, or a prefix like public/)."`
	Except []string `help:"Leave out captures from this source, and composed captures made of it (repeatable; prefixes too)."`
}

func (s Select) keep(c *corpus.Capture) bool {
	matches := func(list []string, src string) bool {
		return slices.ContainsFunc(list, func(p string) bool { return src == p || strings.HasSuffix(p, "/") && strings.HasPrefix(src, p) })
	}
	// A composed capture is left out with every source it is made of.
	for _, u := range append([]string{c.Source}, c.Uses...) {
		if matches(s.Except, u) {
			return false
		}
	}
	return len(s.Source) == 0 || matches(s.Source, c.Source)
}

// ListCmd lists the captures.
type ListCmd struct{}

// EvalCmd is `corpus eval`.
type EvalCmd struct {
	Select
	Bin     string   `default:"bin" help:"Directory of the built tools (just build)."`
	Model   string   `help:"scanclass --model (default: the embedded model)."`
	Alert   []string `help:"Extra scanalert flag (repeatable), e.g. --alert=--rule=sessions."`
	Figures string   `default:"datasets/eval.json" help:"Committed per-capture figures."`
	Check   bool     `help:"Fail when a figure regressed against --figures."`
	Write   bool     `help:"Write the figures of this run to --figures."`
	JSON    bool     `help:"Print the per-capture results as JSON instead of tables."`
}

func (c *EvalCmd) run(ctx context.Context, caps []corpus.Capture, stdout, stderr io.Writer) error {
	p := corpus.Pipeline{Bin: c.Bin, Model: c.Model, AlertArgs: c.Alert}
	var results []corpus.Result
	for i := range caps {
		if !c.keep(&caps[i]) {
			continue
		}
		r, err := p.Run(ctx, &caps[i])
		if err != nil {
			return err
		}
		results = append(results, *r)
	}
	if c.JSON {
		b, _ := json.MarshalIndent(results, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		corpus.Markdown(stdout, results)
	}
	if c.Write {
		b, _ := json.MarshalIndent(results, "", " ")
		if err := os.WriteFile(c.Figures, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if c.Check {
		b, err := os.ReadFile(c.Figures)
		if err != nil {
			return err
		}
		var then []corpus.Result
		if err := json.Unmarshal(b, &then); err != nil {
			return fmt.Errorf("%s: %v", c.Figures, err)
		}
		if reg := corpus.Regressions(then, results); len(reg) > 0 {
			return fmt.Errorf("%d regressions against %s:\n  %s", len(reg), c.Figures, strings.Join(reg, "\n  "))
		}
		fmt.Fprintf(stderr, "%s: eval: no regression against %s\n", tool, c.Figures)
	}
	return nil
}

// RowsCmd is `corpus rows`.
type RowsCmd struct {
	Select
	Class  string `help:"Only captures of this class (normal or scan)." enum:",normal,scan" default:""`
	OneWay bool   `name:"one-way" help:"Also write the rows of each capture's two one-way views (its clients' packets alone, its servers' alone), as a sensor on an asymmetric route sees them: for training."`
	// A scan's first probes, when it is slow, have no scan around them
	// yet: labelled 1, they teach a model that one connection attempt is a
	// scan, which no single session shows.
	MinScanContext int `name:"min-scan-context" help:"Leave out scan rows whose initiator contacted fewer services than this in their context window (ctx_pairs): for training."`
}

func (c *RowsCmd) run(ctx context.Context, caps []corpus.Capture, stdout io.Writer) error {
	w, err := row.NewWriter(stdout, "csv", row.SessionSchema(true).WithExtra("source", "capture"), row.WriterOptions{})
	if err != nil {
		return err
	}
	for i := range caps {
		cp := &caps[i]
		if !c.keep(cp) || c.Class != "" && cp.Class != c.Class {
			continue
		}
		halves := []corpus.Half{corpus.Both}
		if c.OneWay {
			halves = append(halves, corpus.ClientHalf, corpus.ServerHalf)
		}
		for _, h := range halves {
			extra := []string{cp.Source, cp.Name + []string{"", " (clients' half)", " (servers' half)"}[h]}
			err := corpus.OneWayRows(ctx, cp, session.Config{}, h, func(r *row.Row, _ int) error {
				if r.Label == 1 && r.CtxPairs < c.MinScanContext {
					return nil
				}
				r.Extra = append(r.Extra[:0], extra...)
				return w.Write(r)
			})
			if err != nil {
				return err
			}
		}
	}
	return w.Close()
}

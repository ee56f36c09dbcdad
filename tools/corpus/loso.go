package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"scanwatch/pkg/corpus"
)

// LosoCmd is `corpus loso`: the honest figure of how the default model's
// recipe generalises. For each source it writes the rows of every other
// source (corpus rows --except), balances them (csvmerge --balance), trains
// the default model on them (modelpick --features portable --model
// 'GBDT(210)' --export) and runs the pipeline with that model over the
// left-out source's captures.
type LosoCmd struct {
	Bin            string `default:"bin" help:"Directory of the built tools (just build)."`
	Features       string `default:"portable" help:"modelpick --features."`
	Model          string `default:"GBDT(210)" help:"modelpick --model."`
	Keep           string `help:"Keep the per-source models and rows in this directory."`
	OneWay         bool   `name:"one-way" default:"true" negatable:"" help:"Train on the captures' one-way views too (corpus rows --one-way), as just train does."`
	MinScanContext int    `name:"min-scan-context" default:"3" help:"corpus rows --min-scan-context, as just train does."`
}

func (c *LosoCmd) run(ctx context.Context, caps []corpus.Capture, stdout, stderr io.Writer) error {
	dir := c.Keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "loso")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var sources []string
	for _, cp := range caps {
		if !slices.Contains(sources, cp.Source) {
			sources = append(sources, cp.Source)
		}
	}
	slices.Sort(sources)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	datasets := filepath.Dir(filepath.Dir(caps[0].Path))
	fmt.Fprintln(stdout, "| left out | captures | normal sessions called scans | captures with false alerts | scanners alerted | technique right | scan sessions called scans |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	var all []corpus.Result
	for _, src := range sources {
		tag := strings.NewReplacer("/", "_").Replace(src)
		rows := filepath.Join(dir, tag+".train.csv")
		model := filepath.Join(dir, tag+".model.txt")
		oneWay := fmt.Sprintf(" --min-scan-context %d", c.MinScanContext)
		if c.OneWay {
			oneWay += " --one-way"
		}
		script := fmt.Sprintf("%q --datasets %q rows%s --except %q | %q --balance - > %q && %q %q --folds 2 --features %s --candidates %q --model %q --export %q",
			self, datasets, oneWay, src, filepath.Join(c.Bin, "csvmerge"), rows, filepath.Join(c.Bin, "modelpick"), rows, c.Features, c.Model, c.Model, model)
		cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", script)
		cmd.Stdout = io.Discard
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("training without %s: %v: %s", src, err, errb.String())
		}
		p := corpus.Pipeline{Bin: c.Bin, Model: model}
		var results []corpus.Result
		for i := range caps {
			if caps[i].Source != src {
				continue
			}
			r, err := p.Run(ctx, &caps[i])
			if err != nil {
				return err
			}
			results = append(results, *r)
		}
		all = append(all, results...)
		t := corpus.Sum(results, func(*corpus.Result) bool { return true })
		scan, called := 0, 0
		for _, r := range results {
			scan += r.ScanSessions
			called += r.TrueSessions
		}
		fmt.Fprintf(stdout, "| %s | %d | %d/%d (%.2f%%) | %d | %d/%d | %d/%d | %s |\n", src, t.Captures, t.FalseSessions, t.Sessions, 100*t.Share(),
			t.AlertedCaps, t.Alerted, t.Scanners, t.Right, t.Single, recall(called, scan))
		if c.Keep == "" {
			os.Remove(rows)
		}
	}
	fmt.Fprintf(stdout, "\nEvery capture scored by a model that never saw its source:\n\n")
	corpus.Markdown(stdout, all)
	return nil
}

func recall(called, scan int) string {
	if scan == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d (%.4f)", called, scan, float64(called)/float64(scan))
}

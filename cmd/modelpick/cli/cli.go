// Package cli is modelpick's command line: load labelled rows, compare the
// candidates by stratified k-fold cross-validation (and optionally on a
// hold-out capture), print the table and the harvester's three verdicts, export
// the chosen model as LightGBM text and write a report.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/learn"
	"scanwatch/pkg/learn/eval"
	treemodels "scanwatch/pkg/learn/trees"
)

const tool = "modelpick"

const description = `Compare classifiers on labelled session rows and export the chosen one.

Every candidate (boosted trees of several sizes, a random forest, a decision tree, k-NN, logistic regression,
Gaussian naive Bayes) is scored by stratified k-fold cross-validation with a fixed seed: accuracy, MCC,
precision, recall, F1, ROC-AUC, train time, predict time per row and the confusion counts, as mean ± std over
the folds. The table goes to stdout, followed by the seed's three verdicts: best by accuracy, by MCC and by
prediction time. --export trains the chosen model on all rows and writes a LightGBM text model.`

type cliArgs struct {
	File       string `arg:"" optional:"" name:"file" help:"Labelled rows (CSV or NDJSON, e.g. from csvmerge); - is standard input."`
	Features   string `default:"seed" placeholder:"LIST" help:"Features to train on (default: seed): 'seed' (duration SYN ACK FIN RST URG PSH), 'extended' (those plus every evidence column the file has), 'portable' (the evidence whose meaning does not depend on the path: the default model's) or a comma-separated list of numeric columns."`
	Folds      int    `default:"5" help:"Cross-validation folds (at least 2)."`
	Seed       int64  `default:"1" help:"Seed for the folds and the random forest."`
	Candidates string `placeholder:"LIST" help:"Comma-separated candidates to evaluate (default: all; see --list)."`
	List       bool   `help:"List the candidates and exit."`
	Model      string `placeholder:"NAME" help:"Model to export (default: the best GBDT by cross-validated accuracy)."`
	Export     string `placeholder:"FILE" help:"Train the chosen model on all rows and write it as a LightGBM text model."`
	Report     string `placeholder:"DIR" help:"Write report.md, report.json and pictures (ROC on a log false-positive axis and zoomed, precision-recall, calibration, the exported model's confusion matrix and feature importance, speed; PNG and SVG) into DIR."`
	Holdout    string `placeholder:"FILE" help:"Also train each candidate on all rows and score it on FILE, a capture it never saw."`
	cliutil.VersionFlag
}

// Run runs modelpick with args and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cliArgs
	return cliutil.Run(ctx, tool, description, &c, args, stdout, stderr, func(ctx context.Context, _ string) error {
		err := run(ctx, &c, cliutil.Input(ctx, stdin), stdout, stderr)
		if errors.Is(err, cliutil.ErrInterrupted) || (err != nil && ctx.Err() != nil) {
			// Not a filter: a model or a table from part of the rows is
			// not what was asked for, so a signal is a failure (exit 1)
			// and nothing is written.
			return errors.New("interrupted by a signal: nothing evaluated or written")
		}
		return err
	})
}

// outcome is everything one modelpick run measured: what the report shows.
type outcome struct {
	Input     string
	Rows      int
	Normal    int
	Scan      int
	Features  []string
	Folds     int
	Seed      int64
	CV        []*eval.Result
	Holdout   []*eval.Result
	HoldName  string
	HoldRows  int
	Exported  string // model name written by --export
	ExportTo  string
	ExportMax float64 // largest |trainer − leaves| probability difference
	// WouldExport is the model --export writes (or would), chosen for
	// WouldExportWhy.
	WouldExport, WouldExportWhy string
	// Featured is the model the report's confusion matrix and importance
	// picture show: the one --export writes (or would), FeaturedWhy says so.
	Featured    string
	FeaturedWhy string
	// Importance is each evaluated tree model's gain importance, trained
	// on all rows (report only).
	Importance map[string][]float64
}

func run(ctx context.Context, c *cliArgs, stdin io.Reader, stdout, stderr io.Writer) error {
	all := candidates(c.Seed)
	if c.List {
		for _, cand := range all {
			note := ""
			if exportable(cand) {
				note = "\texportable"
			}
			fmt.Fprintf(stdout, "%s%s\n", cand.Name, note)
		}
		return nil
	}
	if c.File == "" {
		return cliutil.Usagef("expected <file> (labelled rows; - is standard input)")
	}
	if c.File == "-" && c.Holdout == "-" {
		return cliutil.Usagef("standard input (-) cannot be both the training file and --holdout")
	}
	if c.Folds < 2 {
		return cliutil.Usagef("--folds %d: need at least 2", c.Folds)
	}
	chosen := all
	if c.Candidates != "" {
		chosen = nil
		for _, n := range strings.Split(c.Candidates, ",") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			cand, err := findCandidate(all, n)
			if err != nil {
				return cliutil.Usage(err)
			}
			if slices.ContainsFunc(chosen, func(c eval.Candidate) bool { return c.Name == cand.Name }) {
				continue // named twice: evaluate once
			}
			chosen = append(chosen, cand)
		}
	}
	var exportCand *eval.Candidate
	if c.Model != "" {
		cand, err := findCandidate(all, c.Model)
		if err != nil {
			return cliutil.Usage(err)
		}
		if !exportable(cand) {
			return cliutil.Usagef("model %s cannot be exported: only tree models (GBDT, RandomForest, DecisionTree) write LightGBM text", cand.Name)
		}
		exportCand = &cand
	}
	if c.Model != "" && c.Export == "" {
		return cliutil.Usagef("--model names the model to export: give --export FILE too")
	}

	// Fail before minutes of training, not after, on a place we cannot write.
	if c.Export != "" {
		if err := checkWritableDir(filepath.Dir(c.Export)); err != nil {
			return fmt.Errorf("--export %s: %w", c.Export, err)
		}
	}
	if c.Report != "" {
		if err := checkWritableDir(c.Report); err != nil {
			return fmt.Errorf("--report %s: %w", c.Report, err)
		}
	}

	d, cols, err := loadFile(c.File, stdin, c.Features, nil)
	if err != nil {
		return err
	}
	normal, scan := classCounts(d)
	if normal < c.Folds || scan < c.Folds {
		return fmt.Errorf("%s: %d normal and %d scan rows: each class needs at least --folds %d rows", inputName(c.File), normal, scan, c.Folds)
	}
	var hold *learn.Dataset
	if c.Holdout != "" {
		if hold, _, err = loadFile(c.Holdout, stdin, "", cols); err != nil {
			return err
		}
	}
	out := &outcome{Input: inputName(c.File), Rows: d.N(), Normal: normal, Scan: scan,
		Features: d.Features, Folds: c.Folds, Seed: c.Seed}
	fmt.Fprintf(stdout, "%s: %d rows (%d scan, %d normal); features: %s; %d-fold stratified cross-validation, seed %d\n\n",
		out.Input, out.Rows, scan, normal, strings.Join(d.Features, " "), c.Folds, c.Seed)

	steps := len(chosen) * c.Folds
	if hold != nil {
		steps += len(chosen)
	}
	var trees []eval.Candidate // for the report's feature importance
	if c.Report != "" {
		for _, cand := range chosen {
			if exportable(cand) {
				trees = append(trees, cand)
			}
		}
		steps += len(trees)
	}
	bar := newBar(stderr, steps)
	folds := eval.StratifiedFolds(d.Y, c.Folds, c.Seed)
	for _, cand := range chosen {
		bar.Describe(cand.Name)
		r, err := eval.CrossValidate(ctx, d, cand, folds, func() { bar.Add(1) })
		if err != nil {
			bar.Clear()
			return err
		}
		out.CV = append(out.CV, r)
	}
	if hold != nil {
		out.HoldName, out.HoldRows = inputName(c.Holdout), hold.N()
		for _, cand := range chosen {
			if err := ctx.Err(); err != nil {
				return err
			}
			bar.Describe(cand.Name + " hold-out")
			r, err := eval.Holdout(cand, d, hold)
			if err != nil {
				bar.Clear()
				return err
			}
			bar.Add(1)
			out.Holdout = append(out.Holdout, r)
		}
	}
	if len(trees) > 0 {
		out.Importance = map[string][]float64{}
		for _, cand := range trees {
			if err := ctx.Err(); err != nil {
				return err
			}
			bar.Describe(cand.Name + " importance")
			m := cand.New()
			if err := m.Fit(d); err != nil {
				bar.Clear()
				return err
			}
			if share, ok := treemodels.GainImportance(m, len(d.Features)); ok {
				out.Importance[cand.Name] = share
			}
			bar.Add(1)
		}
	}
	bar.Finish()
	bar.Clear()

	// The table first: if the export fails, the cross-validation's results
	// are not lost with it.
	writeTable(stdout, summaries(out.CV), true)
	wouldExport, why := defaultExport(all, out.CV), "the best GBDT by accuracy"
	if exportCand != nil {
		wouldExport, why = *exportCand, "as --model says"
	}
	out.WouldExport, out.WouldExportWhy = wouldExport.Name, why
	writeVerdicts(stdout, summaries(out.CV), all, wouldExport.Name, why)
	if hold != nil {
		fmt.Fprintf(stdout, "\nHold-out: trained on all %d rows of %s, scored on %d rows of %s\n\n", out.Rows, out.Input, out.HoldRows, out.HoldName)
		writeTable(stdout, summaries(out.Holdout), false)
	}
	if c.Export != "" {
		if exportCand == nil {
			cand := defaultExport(all, out.CV)
			exportCand = &cand
		}
		if err := export(*exportCand, d, c.Export, out); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: wrote %s: %s trained on all %d rows, features %s; leaves reproduces its probabilities on every row (max difference %.2g)\n",
			tool, out.ExportTo, out.Exported, out.Rows, strings.Join(out.Features, " "), out.ExportMax)
	}
	if c.Report != "" {
		out.Featured, out.FeaturedWhy = wouldExport.Name, "the model --export writes"
		if out.featuredResult() == nil { // not evaluated (--candidates): the best by accuracy instead
			v := verdicts(summaries(out.CV))[0]
			out.Featured, out.FeaturedWhy = v.Model, "the best by accuracy"
		}
		if err := writeReport(c.Report, out); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: wrote report.md, report.json and its pictures in %s\n", tool, c.Report)
	}
	return nil
}

// checkWritableDir makes dir if needed and checks that a file can be
// created in it.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".modelpick-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func inputName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

func summaries(rs []*eval.Result) []eval.Summary {
	out := make([]eval.Summary, len(rs))
	for i, r := range rs {
		out[i] = r.Summarize()
	}
	return out
}

// bar is a progress bar on stderr when it is a terminal, else nothing.
type bar struct{ pb *progressbar.ProgressBar }

func newBar(stderr io.Writer, steps int) bar {
	if !cliutil.IsTerminal(stderr) {
		return bar{}
	}
	return bar{progressbar.NewOptions(steps,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("cross-validating"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100_000_000),
	)}
}

func (b bar) Describe(s string) {
	if b.pb != nil {
		b.pb.Describe(s)
	}
}
func (b bar) Add(n int) {
	if b.pb != nil {
		b.pb.Add(n)
	}
}
func (b bar) Finish() {
	if b.pb != nil {
		b.pb.Finish()
	}
}
func (b bar) Clear() {
	if b.pb != nil {
		b.pb.Clear()
	}
}

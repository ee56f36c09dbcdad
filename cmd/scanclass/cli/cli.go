// Package cli is scanclass: session rows in, scored rows out.
package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"scanwatch/models"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/infer"
	"scanwatch/pkg/row"
)

const tool = "scanclass"

const description = `Score session rows with a model: append score (probability that the
session is part of a port scan) and prediction (1 when score >= --threshold)
and pass every other column through unchanged.

Input is CSV or NDJSON (detected), as written by pcapsess; output has the
input's format unless --format says otherwise. Without --model the embedded
default model is used. Models are LightGBM text models (v3 or v4): those
modelpick --export writes, or any binary model LightGBM itself saved, as long
as the input has every feature column the model names.

Examples:
  sudo pcapsess -i lo | scanclass | scanalert
  scanclass --model models/model.txt < sessions.csv > scored.csv`

type cmd struct {
	Model       string  `short:"m" help:"LightGBM text model file (default: the embedded model)." placeholder:"FILE"`
	Threshold   float64 `short:"t" help:"Score at or above which a row is predicted a scan." default:"0.5"`
	InputFormat string  `help:"Input format: auto, csv or ndjson." default:"auto" enum:"auto,csv,ndjson"`
	Format      string  `help:"Output format: same (as the input), csv or ndjson." default:"same" enum:"same,csv,ndjson"`
	cliutil.VersionFlag
}

// Run is scanclass's main.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cmd
	if _, code, done := cliutil.Parse(tool, description, &c, args, stdout, stderr); done {
		return code
	}
	return cliutil.Report(tool, stderr, c.run(ctx, stdin, stdout))
}

func (c *cmd) run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	if !(c.Threshold >= 0 && c.Threshold <= 1) {
		return cliutil.Usagef("--threshold must be between 0 and 1, got %v", c.Threshold)
	}
	model, err := c.load()
	if err != nil {
		return err
	}
	ctx, cancel := cliutil.SignalContext(ctx)
	defer cancel()
	if f, ok := stdin.(*os.File); ok {
		// A signal ends the input: rows already read are scored and written.
		stop := context.AfterFunc(ctx, func() { f.Close() })
		defer stop()
	}
	in := &row.FlushBeforeRead{R: stdin}
	// Only the model's features are parsed (and checked); every other
	// column is copied through as the input had it.
	parse := []row.Column{row.Score, row.Prediction}
	for _, f := range model.Features() {
		if c, ok := row.ColumnByName(f); ok {
			parse = append(parse, c)
		}
	}
	r, err := row.NewReaderWith(in, "stdin", c.InputFormat, row.ReaderOptions{Parse: parse})
	if err != nil {
		return err
	}
	cols, err := featureColumns(model.Features(), r.Schema())
	if err != nil {
		return err
	}
	format := c.Format
	if format == "same" {
		format = r.Format()
	}
	w, err := row.NewWriter(stdout, format, r.Schema().With(row.Score, row.Prediction), row.WriterOptions{
		AutoFlush: cliutil.IsTerminal(stdout),
	})
	if err != nil {
		return err
	}
	// Two stages on two cores: this goroutine parses, the other scores and
	// writes. Rows travel in batches; when the parser is about to wait for
	// input, it hands over what it has, so live rows are never held back.
	batches, free := make(chan *batch, 4), make(chan *batch, 4)
	for i := 0; i < cap(free); i++ {
		free <- newBatch(len(cols))
	}
	done := make(chan error, 1)
	go func() { done <- c.scoreAndWrite(ctx, model, w, batches, free) }()
	b := <-free
	ship := func(flush bool) {
		b.flush = flush
		batches <- b
		b = <-free
	}
	in.Flush = func() error {
		if b.n > 0 {
			ship(true)
		}
		return nil
	}
	var cur row.Row
	for {
		err := r.Read(&cur)
		if err != nil {
			if err == io.EOF || ctx.Err() != nil {
				err = nil // the end, or stdin closed by a signal
			}
			b.err, b.last = err, true
			batches <- b
			break
		}
		b.add(&cur, cols)
		if b.n == len(b.rows) {
			ship(false)
		}
	}
	in.Flush = nil
	err = <-done
	// Rows before a bad line are written: flush them before the error.
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// batch is rows parsed together with their feature vectors.
type batch struct {
	rows  []row.Row
	x     []float64
	n     int
	flush bool  // write out at once: input is live
	last  bool  // nothing follows
	err   error // the read error that ended input, after these rows
}

const batchRows = 1024

func newBatch(nf int) *batch {
	return &batch{rows: make([]row.Row, batchRows), x: make([]float64, batchRows*nf)}
}

func (b *batch) add(r *row.Row, cols []row.Column) {
	b.rows[b.n].CopyFrom(r)
	x := b.x[b.n*len(cols) : (b.n+1)*len(cols)]
	for i, col := range cols {
		x[i], _ = r.Number(col)
	}
	b.n++
}

func (c *cmd) scoreAndWrite(ctx context.Context, model *infer.Predictor, w row.Writer, batches <-chan *batch, free chan<- *batch) error {
	var failed error
	nf := len(model.Features())
	scores := make([]float64, batchRows)
	memo := model.NewMemo()
	for b := range batches {
		if failed == nil && b.n > 0 {
			failed = memo.ProbBatch(b.x[:b.n*nf], scores[:b.n])
		}
		for i := 0; i < b.n && failed == nil; i++ {
			rec := &b.rows[i]
			score := scores[i]
			rec.Prediction = 0
			if score >= c.Threshold {
				rec.Prediction = 1
			}
			// Six decimals keep rows short; the prediction uses the exact score.
			rec.Score = math.Round(score*1e6) / 1e6
			failed = w.Write(rec)
		}
		if failed == nil && b.flush {
			failed = w.Flush()
		}
		last, err := b.last, b.err
		b.n, b.err, b.flush, b.last = 0, nil, false, false
		if last {
			if failed != nil {
				return failed
			}
			return err
		}
		free <- b
	}
	return failed
}

func (c *cmd) load() (*infer.Predictor, error) {
	if c.Model == "" {
		return infer.LoadLightGBM(bytes.NewReader(models.Default), models.DefaultName)
	}
	f, err := os.Open(c.Model)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return infer.LoadLightGBM(f, c.Model)
}

// featureColumns maps the model's feature names to the input's columns and
// names every one it cannot find.
func featureColumns(features []string, s *row.Schema) ([]row.Column, error) {
	var cols []row.Column
	var missing []string
	for _, f := range features {
		c, ok := row.ColumnByName(f)
		if !ok || !c.Numeric() || !s.Has(c) {
			missing = append(missing, f)
			continue
		}
		cols = append(cols, c)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the model needs input columns the rows do not have: %s (input has: %s)",
			strings.Join(missing, ", "), strings.Join(s.Header(), ","))
	}
	return cols, nil
}

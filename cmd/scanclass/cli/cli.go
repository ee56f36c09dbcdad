// Package cli is scanclass: session rows in, scored rows out.
package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"scanwatch/models"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/infer"
	"scanwatch/pkg/row"
)

const tool = "scanclass"

const description = `Score session rows with a model: append score (probability that the
session is part of a port scan) and prediction (1 when score >= --threshold,
0.8 by default)
and pass every other column through unchanged.

A row whose initiator sent TCP payload (src_bytes > 0) is never predicted a
scan, whatever its score: none of nmap's TCP scan techniques sends any (its
probes, and the ACK and RST that end a connect scan's handshake, carry no
data), so such a session is a client's, or a server's seen from the middle
of the stream. --payload-scans lets the score decide those too.

Input is CSV or NDJSON (detected), as written by pcapsess; output has the
input's format unless --format says otherwise. Without --model the embedded
default model is used. Models are LightGBM text models (v3 or v4): those
modelpick --export writes, or any binary model LightGBM itself saved, as long
as the input has every feature column the model names.

Examples:
  sudo pcapsess -i lo | scanclass | scanalert
  scanclass --model models/model.txt < sessions.csv > scored.csv`

type cmd struct {
	Model        string  `short:"m" help:"LightGBM text model file (default: the embedded model)." placeholder:"FILE"`
	Threshold    float64 `short:"t" help:"Score at or above which a row is predicted a scan (0.8 for the default model, chosen on its leave-one-source-out scores: models/README.md)." default:"0.8"`
	PayloadScans bool    `name:"payload-scans" help:"Let the score decide rows whose initiator sent payload too (by default they are never scans)."`

	payloadGuard bool   // rows with src_bytes > 0 are never scans
	InputFormat  string `help:"Input format: auto, csv or ndjson." default:"auto" enum:"auto,csv,ndjson"`
	Format       string `help:"Output format: same (as the input), csv or ndjson." default:"same" enum:"same,csv,ndjson"`
	cliutil.VersionFlag
}

// Run is scanclass's main.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cmd
	var opts []kong.Option
	if slices.Contains(args, "--version") { // loading the model costs a few ms: only when asked
		opts = append(opts, kong.Vars{"version": cliutil.VersionText(tool) + "\ndefault model: " + defaultModelText()})
	}
	if _, code, done := cliutil.Parse(tool, description, &c, args, stdout, stderr, opts...); done {
		return code
	}
	return cliutil.Report(tool, stderr, c.run(ctx, stdin, stdout, stderr))
}

func (c *cmd) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	if !(c.Threshold >= 0 && c.Threshold <= 1) {
		return cliutil.Usagef("--threshold must be between 0 and 1, got %v", c.Threshold)
	}
	model, text, err := c.load()
	if err != nil {
		return err
	}
	// Which model scored the rows is the first question about a score:
	// said once, on stderr, before any row.
	fmt.Fprintf(stderr, "%s: model: %s\n", tool, text)
	ctx, cancel := cliutil.SignalContext(ctx)
	defer cancel()
	// A signal ends the input: rows already read are scored and written.
	in := &row.FlushBeforeRead{R: cliutil.Input(ctx, stdin)}
	// Only the model's features are parsed (and checked); every other
	// column is copied through as the input had it.
	parse := []row.Column{row.Score, row.Prediction, row.SrcBytes}
	for _, f := range model.Features() {
		if c, ok := row.ColumnByName(f); ok {
			parse = append(parse, c.Stored()...)
		}
	}
	r, err := row.NewReaderWith(in, "stdin", c.InputFormat, row.ReaderOptions{Parse: parse})
	if errors.Is(err, cliutil.ErrInterrupted) {
		return nil // a signal before the header: nothing to score
	}
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
	// Two stages on two cores: a BatchReader parses, this goroutine scores
	// and writes. When the parser is about to wait for input, it hands over
	// what it has, so live rows are never held back.
	br := row.NewBatchReader(ctx, r, row.BatchOptions{Size: batchRows, Live: in})
	// Rows without src_bytes (the harvester's) keep the score's verdict.
	c.payloadGuard = !c.PayloadScans && r.Schema().Has(row.SrcBytes)
	err = c.scoreAndWrite(ctx, model, cols, br, w)
	br.Close()
	// Rows before a bad line are written: flush them before the error.
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

const batchRows = 1024

// scoreAndWrite scores each batch's rows through the model's memo and
// writes them, flushing after a live batch.
func (c *cmd) scoreAndWrite(ctx context.Context, model *infer.Predictor, cols []row.Column, br *row.BatchReader, w row.Writer) error {
	nf := len(cols)
	x := make([]float64, batchRows*nf)
	scores := make([]float64, batchRows)
	memo := model.NewMemo()
	for b := br.Next(); b != nil; b = br.Next() {
		n := len(b.Rows)
		for i := range b.Rows {
			xi := x[i*nf : (i+1)*nf]
			for j, col := range cols {
				xi[j], _ = b.Rows[i].Number(col)
			}
		}
		if n > 0 {
			if err := memo.ProbBatch(x[:n*nf], scores[:n]); err != nil {
				return err
			}
		}
		for i := range b.Rows {
			rec := &b.Rows[i]
			rec.Prediction = 0
			if scores[i] >= c.Threshold && !(c.payloadGuard && rec.SentPayload()) {
				rec.Prediction = 1
			}
			// Six decimals keep rows short; the prediction uses the exact score.
			rec.Score = math.Round(scores[i]*1e6) / 1e6
			if err := w.Write(rec); err != nil {
				return err
			}
		}
		if b.Live {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if b.Err != nil {
			if b.Err == io.EOF || ctx.Err() != nil {
				return nil // the end, or stdin closed by a signal
			}
			return b.Err
		}
		br.Release(b)
	}
	return nil
}

// load loads --model, or the embedded default, and describes it: its
// name, the first 12 hex digits of its SHA-256 (the same model file has
// the same hash wherever it is), trees and features.
func (c *cmd) load() (*infer.Predictor, string, error) {
	data, name := models.Default, "embedded default (models/model.txt)"
	if c.Model != "" {
		var err error
		if data, err = os.ReadFile(c.Model); err != nil {
			return nil, "", err
		}
		name = c.Model
	}
	p, err := infer.LoadLightGBM(bytes.NewReader(data), loadName(c.Model))
	if err != nil {
		return nil, "", err
	}
	return p, describeModel(name, data, p), nil
}

func loadName(path string) string {
	if path == "" {
		return models.DefaultName
	}
	return path
}

func describeModel(name string, data []byte, p *infer.Predictor) string {
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%s, sha256 %x, %d trees over %d features", name, sum[:6], p.NTrees(), len(p.Features()))
}

// defaultModelText describes the embedded model for --version.
func defaultModelText() string {
	p, err := infer.LoadLightGBM(bytes.NewReader(models.Default), models.DefaultName)
	if err != nil {
		return "embedded default (models/model.txt): " + err.Error()
	}
	return describeModel("embedded default (models/model.txt)", models.Default, p)
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

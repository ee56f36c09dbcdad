package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"scanwatch/models"
	"scanwatch/pkg/clitest"
	"scanwatch/pkg/corpus"
	"scanwatch/pkg/infer"
	"scanwatch/pkg/row"
	"scanwatch/pkg/session"
)

// The cases are data: ../testdata/cases.json, goldens in ../testdata/golden;
// paths in them are relative to cmd/scanclass. Regenerate the goldens with:
// go test ./cmd/scanclass/cli -run TestCLI -update
func TestCLI(t *testing.T) {
	clitest.Run(t, "..", Run)
}

// TestScoresAreTheModelsOwn re-scores scanclass's output with the model
// directly: score and prediction columns must be the model's, every other
// column passed through untouched.
func TestScoresAreTheModelsOwn(t *testing.T) {
	in, _ := os.ReadFile("../testdata/nmap.csv")
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"-m", "../testdata/harvester-gbdt50.txt"}, bytes.NewReader(in), &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	f, _ := os.Open("../testdata/harvester-gbdt50.txt")
	defer f.Close()
	p, err := infer.LoadLightGBM(f, "model")
	if err != nil {
		t.Fatal(err)
	}
	scored := out.String()
	r, err := row.NewReader(strings.NewReader(scored), "out", "auto")
	if err != nil {
		t.Fatal(err)
	}
	inLines := strings.Split(strings.TrimSpace(string(in)), "\n")
	outLines := strings.Split(strings.TrimSpace(scored), "\n")
	if len(inLines) != len(outLines) {
		t.Fatalf("%d lines in, %d out", len(inLines), len(outLines))
	}
	for i := 1; ; i++ {
		var x row.Row
		if err := r.Read(&x); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(outLines[i], inLines[i]+",") {
			t.Fatalf("line %d not passed through:\n%s\n%s", i, inLines[i], outLines[i])
		}
		want := p.Prob([]float64{x.Duration, float64(x.SYN), float64(x.ACK), float64(x.FIN), float64(x.RST), float64(x.URG), float64(x.PSH)})
		if d := x.Score - want; d > 5e-7 || d < -5e-7 {
			t.Errorf("line %d: score %v, model says %v", i, x.Score, want)
		}
		if (want >= 0.8 && !x.SentPayload()) != (x.Prediction == 1) {
			t.Errorf("line %d: prediction %d for score %v", i, x.Prediction, want)
		}
	}
}

// trickle hands out at most n bytes per Read, as a pipe from a live
// pcapsess does: scanclass then ships partial batches whenever the parser
// is about to wait for input.
type trickle struct {
	r io.Reader
	n int
}

func (t trickle) Read(p []byte) (int, error) { return t.r.Read(p[:min(len(p), t.n)]) }

// TestManyRowsInDribs: 30,000 rows (the committed captures' sessions,
// several MB) arriving a few hundred bytes at a time, scored by the
// embedded model through the memo: every line passed through in order with
// the model's own score, across thousands of partial batches.
func TestManyRowsInDribs(t *testing.T) {
	path := "committed captures"
	in := corpusRows(t, 30000)
	var out, errb bytes.Buffer
	if code := Run(context.Background(), nil, trickle{bytes.NewReader(in), 777}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	p, err := infer.LoadLightGBM(bytes.NewReader(models.Default), models.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	rin, err := row.NewReader(bytes.NewReader(in), path, "csv")
	if err != nil {
		t.Fatal(err)
	}
	rout, err := row.NewReader(bytes.NewReader(out.Bytes()), "out", "csv")
	if err != nil {
		t.Fatal(err)
	}
	inLines := strings.Split(strings.TrimSpace(string(in)), "\n")
	outLines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(inLines) != len(outLines) || len(inLines) < 30000 {
		t.Fatalf("%d lines in, %d out", len(inLines), len(outLines))
	}
	x := make([]float64, len(p.Features()))
	for i := 1; i < len(inLines); i++ {
		var a, b row.Row
		if err := rin.Read(&a); err != nil {
			t.Fatal(err)
		}
		if err := rout.Read(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(outLines[i], inLines[i]+",") {
			t.Fatalf("line %d not passed through:\n%s\n%s", i+1, inLines[i], outLines[i])
		}
		for j, name := range p.Features() {
			c, _ := row.ColumnByName(name)
			x[j], _ = a.Number(c)
		}
		if want := p.Prob(x); b.Score-want > 5e-7 || want-b.Score > 5e-7 || (want >= 0.8 && !a.SentPayload()) != (b.Prediction == 1) {
			t.Fatalf("line %d: score %v prediction %d, the model says %v", i+1, b.Score, b.Prediction, want)
		}
	}
}

// corpusRows writes up to n session rows of the repository's labelled
// captures (datasets/) as CSV.
func corpusRows(t *testing.T, n int) []byte {
	t.Helper()
	caps, err := corpus.Load("../../../datasets")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := row.NewWriter(&buf, "csv", row.SessionSchema(true), row.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errEnough := errors.New("enough rows")
	for i := range caps {
		err := corpus.Rows(context.Background(), &caps[i], session.Config{}, func(r *row.Row, _ int) error {
			if n == 0 {
				return errEnough
			}
			n--
			return w.Write(r)
		})
		if errors.Is(err, errEnough) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

package models

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"scanwatch/pkg/corpus"
	"scanwatch/pkg/infer"
	"scanwatch/pkg/row"
	"scanwatch/pkg/session"
)

func load(t *testing.T) *infer.Predictor {
	t.Helper()
	p, err := infer.LoadLightGBM(bytes.NewReader(Default), DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The default model reads exactly the portable features (row.Portable), and
// models/README.md names every one of them.
func TestEmbeddedModelHasThePortableFeatures(t *testing.T) {
	p := load(t)
	var want []string
	for _, c := range row.Portable() {
		want = append(want, c.Name())
	}
	if !slices.Equal(p.Features(), want) {
		t.Errorf("embedded model features %v\nrow.Portable() is %v", p.Features(), want)
	}
	// GBDT(210) folds its single-leaf rounds into the first tree
	// (pkg/learn/trees), so the file holds fewer trees than rounds.
	if n := p.NTrees(); n < 10 || n > 210 {
		t.Errorf("embedded model has %d trees; models/README.md says GBDT(210)", n)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		if !bytes.Contains(readme, []byte(f)) {
			t.Errorf("models/README.md does not mention feature %s", f)
		}
	}
}

// sessions scores every session of every committed capture with the
// embedded model (as scanclass does, through the memo) and hands each to f.
func sessions(t *testing.T, f func(c *corpus.Capture, r *row.Row, pred int8)) (hits, n int64) {
	t.Helper()
	p := load(t)
	caps, err := corpus.Load("../datasets")
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) < 100 {
		t.Fatalf("only %d labelled captures under datasets/", len(caps))
	}
	var cols []row.Column
	for _, name := range p.Features() {
		c, _ := row.ColumnByName(name)
		cols = append(cols, c)
	}
	memo := p.NewMemo()
	x := make([]float64, len(cols))
	prob := make([]float64, 1)
	for i := range caps {
		c := &caps[i]
		err := corpus.Rows(context.Background(), c, session.Config{}, func(r *row.Row, _ int) error {
			for j, col := range cols {
				x[j], _ = r.Number(col)
			}
			if err := memo.ProbBatch(x, prob); err != nil {
				return err
			}
			if want := p.Prob(x); want != prob[0] {
				t.Fatalf("%s: memo %v, leaves %v", c.Name, prob[0], want)
			}
			var pred int8
			if prob[0] >= 0.5 && !r.SentPayload() { // as scanclass predicts
				pred = 1
			}
			f(c, r, pred)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	h, m := memo.Stats()
	return h, h + m
}

// The figures at the level of sessions, on every committed capture:
// other people's ordinary traffic has at most 0.5 % of its sessions called
// scans, and the scans of every technique are caught. (Alerts are `just
// eval`'s: CI runs it against datasets/eval.json.) The memo answers rows
// bit for bit as leaves does, and answers most of them from a cell seen
// before, on which scanclass's speed rests.
func TestEmbeddedModelOnTheCorpus(t *testing.T) {
	var normal, called int
	per := map[string][2]int{}
	hits, n := sessions(t, func(c *corpus.Capture, r *row.Row, pred int8) {
		if r.Label == 0 {
			if strings.HasPrefix(c.Source, "public/") && c.Class == "normal" {
				normal++
				called += int(pred)
			}
			return
		}
		_, i := c.Label(r)
		k := strings.Join(c.Scanners[i].Techniques, "+")
		p := per[k]
		p[0]++
		p[1] += int(pred)
		per[k] = p
	})
	t.Logf("public ordinary captures: %d of %d sessions called scans", called, normal)
	if float64(called) > 0.005*float64(normal) {
		t.Errorf("public ordinary captures: %d of %d sessions called scans, want at most 0.5%%", called, normal)
	}
	for k, p := range per {
		recall := float64(p[1]) / float64(p[0])
		t.Logf("%s: %d of %d scan sessions called scans (%.4f)", k, p[1], p[0], recall)
		if recall < 0.95 {
			t.Errorf("%s: scan sessions recall %.4f, want ≥ 0.95", k, recall)
		}
	}
	t.Logf("memo: %d of %d rows answered from a cell seen before", hits, n)
	if float64(hits) < 0.9*float64(n) {
		t.Errorf("memo answered %d of %d rows, want ≥ 90%%", hits, n)
	}
}

package models

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"scanwatch/pkg/infer"
	"scanwatch/pkg/learn/eval"
	"scanwatch/pkg/row"
)

// shippedFeatures is what models/README.md says the default model reads.
var shippedFeatures = []string{
	"duration", "SYN", "ACK", "FIN", "RST", "URG", "PSH", "packets", "src_packets", "dst_packets",
	"src_bytes", "dst_bytes", "init_window", "init_options_len", "init_mss", "init_ttl", "init_df",
	"fanout", "fanout_failed",
}

func load(t *testing.T) *infer.Predictor {
	t.Helper()
	p, err := infer.LoadLightGBM(bytes.NewReader(Default), DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEmbeddedModelHasTheREADMEsFeatures(t *testing.T) {
	p := load(t)
	if !slices.Equal(p.Features(), shippedFeatures) {
		t.Errorf("embedded model features %v\nmodels/README.md says %v", p.Features(), shippedFeatures)
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
	for _, f := range shippedFeatures {
		if !bytes.Contains(readme, []byte(f)) {
			t.Errorf("models/README.md does not mention feature %s", f)
		}
	}
}

// readFeatures reads a labelled file's rows as the model's feature
// vectors, back to back, and their labels.
func readFeatures(t *testing.T, p *infer.Predictor, path string) (x []float64, labels []int8) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := row.NewReader(f, path, "csv")
	if err != nil {
		t.Fatal(err)
	}
	var cols []row.Column
	for _, name := range p.Features() {
		c, ok := row.ColumnByName(name)
		if !ok || !rd.Schema().Has(c) {
			t.Fatalf("%s has no column %s", path, name)
		}
		cols = append(cols, c)
	}
	var r row.Row
	for {
		err := rd.Read(&r)
		if err == io.EOF {
			return x, labels
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cols {
			v, _ := r.Number(c)
			x = append(x, v)
		}
		labels = append(labels, int8(r.Label))
	}
}

// score runs the embedded model over a labelled file and returns the
// confusion counts, and per class-file line the prediction.
func score(t *testing.T, p *infer.Predictor, path string) (eval.Confusion, []int8) {
	t.Helper()
	x, labels := readFeatures(t, p, path)
	nf := len(p.Features())
	var conf eval.Confusion
	var preds []int8
	for i, label := range labels {
		pred := eval.Predict(p.Prob(x[i*nf : (i+1)*nf]))
		conf.Add(label, pred)
		preds = append(preds, pred)
	}
	return conf, preds
}

// The floors are the cross-network requirement: the default model
// may lose less than 2 points of accuracy from its own-network
// cross-validation (0.9999, models/README.md) to the other network, so
// accuracy on datasets/netns must stay ≥ 0.9799. Recall on scans and
// specificity on normal sessions get the same margin. Measured when the
// model was made: accuracy 0.9998, recall 1.0000, specificity 0.9996
// (models/README.md).
const (
	ownNetworkCV = 0.9999
	margin       = 0.02
)

func TestEmbeddedModelOnTheOtherNetwork(t *testing.T) {
	p := load(t)
	conf, _ := score(t, p, filepath.Join("..", "datasets", "netns", "merged.csv"))
	spec := float64(conf.TN) / float64(conf.TN+conf.FP)
	t.Logf("datasets/netns/merged.csv: %d rows, accuracy %.4f, MCC %.4f, recall %.4f, specificity %.4f (TP %d TN %d FN %d FP %d)",
		conf.N(), conf.Accuracy(), conf.MCC(), conf.Recall(), spec, conf.TP, conf.TN, conf.FN, conf.FP)
	floor := ownNetworkCV - margin
	if conf.N() < 5000 {
		t.Fatalf("only %d rows in datasets/netns/merged.csv", conf.N())
	}
	if conf.Accuracy() < floor || conf.Recall() < floor || spec < floor {
		t.Errorf("on the other network accuracy %.4f, recall %.4f, specificity %.4f: want each ≥ %.4f (own-network CV %.4f − %.0f points)",
			conf.Accuracy(), conf.Recall(), spec, floor, ownNetworkCV, margin*100)
	}
}

// Every technique is caught on the other network, not just on average:
// datasets/netns/bad.csv holds one capture per technique, at the line
// ranges its manifest names.
func TestEmbeddedModelPerTechniqueOnTheOtherNetwork(t *testing.T) {
	p := load(t)
	dir := filepath.Join("..", "datasets", "netns")
	js, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Bad []struct {
			Kind  string `json:"technique_or_kind"`
			First int    `json:"first_line"`
			Last  int    `json:"last_line"`
		} `json:"bad"`
	}
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	_, preds := score(t, p, filepath.Join(dir, "bad.csv"))
	if len(m.Bad) != 5 {
		t.Fatalf("manifest lists %d techniques, want 5", len(m.Bad))
	}
	for _, part := range m.Bad {
		if part.First < 2 || part.Last-1 > len(preds) || part.Last < part.First {
			t.Fatalf("%s: lines %d-%d outside bad.csv's %d rows", part.Kind, part.First, part.Last, len(preds))
		}
		caught := 0
		for _, pr := range preds[part.First-2 : part.Last-1] {
			caught += int(pr)
		}
		n := part.Last - part.First + 1
		recall := float64(caught) / float64(n)
		t.Logf("%s: %d/%d caught (%.4f)", part.Kind, caught, n, recall)
		if recall < ownNetworkCV-margin {
			t.Errorf("%s: recall %.4f on the other network, want ≥ %.4f", part.Kind, recall, ownNetworkCV-margin)
		}
	}
}

// Slow scans (--scan-delay 1s) and a 10/s client on the other network:
// measured 0.9975 (one slow connect-scan row missed of 200 scans, no normal
// row flagged). The floor is the same 2-point margin below that.
func TestEmbeddedModelOnSlowScansOnTheOtherNetwork(t *testing.T) {
	p := load(t)
	conf, _ := score(t, p, filepath.Join("..", "datasets", "netns", "delayed", "merged.csv"))
	t.Logf("datasets/netns/delayed/merged.csv: %d rows, accuracy %.4f, recall %.4f (TP %d TN %d FN %d FP %d)",
		conf.N(), conf.Accuracy(), conf.Recall(), conf.TP, conf.TN, conf.FN, conf.FP)
	if floor := 0.9975 - margin; conf.Accuracy() < floor {
		t.Errorf("slow scans on the other network: accuracy %.4f, want ≥ %.4f", conf.Accuracy(), floor)
	}
}

// scanclass scores through infer.Memo, which answers rows from the cells
// of split thresholds it has seen: on every row of every committed data
// set it gives leaves' own score for the shipped model, bit for bit, and
// most rows are answered from a cell seen before.
func TestEmbeddedModelMemoIsExact(t *testing.T) {
	p := load(t)
	for _, path := range []string{
		filepath.Join("..", "datasets", "train", "merged.csv"),
		filepath.Join("..", "datasets", "delayed", "merged.csv"),
		filepath.Join("..", "datasets", "netns", "merged.csv"),
		filepath.Join("..", "datasets", "netns", "delayed", "merged.csv"),
	} {
		x, _ := readFeatures(t, p, path)
		nf := len(p.Features())
		n := len(x) / nf
		want, got := make([]float64, n), make([]float64, n)
		if err := p.ProbBatch(x, want); err != nil {
			t.Fatal(err)
		}
		m := p.NewMemo()
		// In scanclass's batches of 1024 rows.
		for i := 0; i < n; i += 1024 {
			j := min(i+1024, n)
			if err := m.ProbBatch(x[i*nf:j*nf], got[i:j]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s row %d: memo %v, leaves %v", path, i+1, got[i], want[i])
			}
		}
		hits, misses := m.Stats()
		t.Logf("%s: %d rows, %d scored through leaves (one per distinct cell), %.1f%% answered from the memo",
			path, n, misses, 100*float64(hits)/float64(n))
		if hits+misses != int64(n) {
			t.Errorf("%s: %d hits + %d misses for %d rows", path, hits, misses, n)
		}
		// Measured 94.5–99.3%: scanclass's speed rests on it.
		if float64(hits) < 0.9*float64(n) {
			t.Errorf("%s: only %d of %d rows answered from the memo, want ≥ 90%%", path, hits, n)
		}
	}
}

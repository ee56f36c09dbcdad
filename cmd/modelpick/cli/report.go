package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"scanwatch/pkg/learn/eval"
)

var header = []string{"model", "accuracy", "MCC", "precision", "recall", "F1", "ROC-AUC", "train", "predict/row", "TP", "TN", "FN", "FP"}

// cells formats one summary as table cells; withStd adds "± std".
func cells(s eval.Summary, withStd bool) []string {
	f := func(st eval.Stat, format func(float64) string) string {
		if !withStd {
			return format(st.Mean)
		}
		return format(st.Mean) + " ± " + format(st.Std)
	}
	metric := func(v float64) string {
		if math.IsNaN(v) {
			return "n/a" // ROC-AUC of a hold-out file with one class
		}
		return fmt.Sprintf("%.4f", v)
	}
	count := func(v float64) string {
		if withStd {
			return fmt.Sprintf("%.1f", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	return []string{s.Name,
		f(s.Accuracy, metric), f(s.MCC, metric), f(s.Precision, metric), f(s.Recall, metric),
		f(s.F1, metric), auc(s.AUC, withStd),
		f(s.TrainSeconds, seconds), f(s.PredictSecondsPerRow, seconds),
		f(s.TP, count), f(s.TN, count), f(s.FN, count), f(s.FP, count)}
}

// auc prints a NaN area (a single-class test set) once, not as "n/a ± n/a".
func auc(st eval.Stat, withStd bool) string {
	if math.IsNaN(st.Mean) {
		return "n/a"
	}
	if !withStd {
		return fmt.Sprintf("%.4f", st.Mean)
	}
	return fmt.Sprintf("%.4f ± %.4f", st.Mean, st.Std)
}

// seconds formats a duration in seconds with three significant digits.
func seconds(s float64) string {
	if math.IsNaN(s) {
		return "NaN"
	}
	d := time.Duration(s * 1e9)
	switch {
	case d == 0:
		return "0s"
	case d < time.Microsecond:
		return fmt.Sprintf("%.0fns", s*1e9)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", s*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", s*1e3)
	}
	return fmt.Sprintf("%.3gs", s)
}

func writeTable(w io.Writer, rows []eval.Summary, withStd bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, s := range rows {
		fmt.Fprintln(tw, strings.Join(cells(s, withStd), "\t"))
	}
	tw.Flush()
}

// verdict is one of the harvester's three conclusions.
type verdict struct {
	By    string  `json:"by"`
	Model string  `json:"model"`
	Value float64 `json:"value"`
	Std   float64 `json:"std"`
}

// verdicts picks the best by accuracy, by MCC (higher is better) and by
// prediction time (lower is better); the first listed wins a tie.
func verdicts(rows []eval.Summary) []verdict {
	if len(rows) == 0 {
		return nil
	}
	pick := func(by string, stat func(eval.Summary) eval.Stat, lower bool) verdict {
		best := rows[0]
		for _, s := range rows[1:] {
			if v, b := stat(s).Mean, stat(best).Mean; (lower && v < b) || (!lower && v > b) {
				best = s
			}
		}
		return verdict{By: by, Model: best.Name, Value: stat(best).Mean, Std: stat(best).Std}
	}
	return []verdict{
		pick("accuracy", func(s eval.Summary) eval.Stat { return s.Accuracy }, false),
		pick("MCC", func(s eval.Summary) eval.Stat { return s.MCC }, false),
		pick("prediction time", func(s eval.Summary) eval.Stat { return s.PredictSecondsPerRow }, true),
	}
}

func (v verdict) String() string {
	if v.By == "prediction time" {
		return fmt.Sprintf("%s (%s ± %s per row)", v.Model, seconds(v.Value), seconds(v.Std))
	}
	return fmt.Sprintf("%s (%.4f ± %.4f)", v.Model, v.Value, v.Std)
}

// writeVerdicts prints the three verdicts, and under the best by accuracy
// exportNote's word on exporting it.
func writeVerdicts(w io.Writer, rows []eval.Summary, all []eval.Candidate, wouldExport, why string) {
	fmt.Fprintln(w)
	for _, v := range verdicts(rows) {
		fmt.Fprintf(w, "Best by %-16s %s\n", v.By+":", v)
		if v.By == "accuracy" {
			if note := exportNote(v.Model, rows, all, wouldExport, why); note != "" {
				fmt.Fprintf(w, "    %s\n", note)
			}
		}
	}
}

// exportNote says, when --export would not write best (the best by
// accuracy), whether best can be exported at all and which model --export
// writes (wouldExport, chosen for why); "" when it writes best.
func exportNote(best string, rows []eval.Summary, all []eval.Candidate, wouldExport, why string) string {
	if best == wouldExport {
		return ""
	}
	acc := ""
	for _, s := range rows {
		if s.Name == wouldExport {
			acc = fmt.Sprintf(" (%.4f)", s.Accuracy.Mean)
		}
	}
	if c, err := findCandidate(all, best); err == nil && !exportable(c) {
		return fmt.Sprintf("%s cannot be exported (only GBDT, RandomForest and DecisionTree write LightGBM text); --export writes %s%s, %s", best, wouldExport, acc, why)
	}
	return fmt.Sprintf("--export writes %s%s, %s; --model %s exports this one", wouldExport, acc, why, best)
}

// jsonReport is report.json.
type jsonReport struct {
	Input    string         `json:"input"`
	Rows     int            `json:"rows"`
	Scan     int            `json:"scan"`
	Normal   int            `json:"normal"`
	Features []string       `json:"features"`
	Folds    int            `json:"folds"`
	Seed     int64          `json:"seed"`
	CV       []eval.Summary `json:"cross_validation"`
	Verdicts []verdict      `json:"verdicts"`
	Holdout  *jsonHoldout   `json:"holdout,omitempty"`
	Export   *jsonExport    `json:"export,omitempty"`
}

type jsonHoldout struct {
	File    string         `json:"file"`
	Rows    int            `json:"rows"`
	Results []eval.Summary `json:"results"`
}

type jsonExport struct {
	Model string `json:"model"`
	File  string `json:"file"`
}

func writeReport(dir string, o *outcome) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cv := summaries(o.CV)
	rep := jsonReport{Input: o.Input, Rows: o.Rows, Scan: o.Scan, Normal: o.Normal, Features: o.Features,
		Folds: o.Folds, Seed: o.Seed, CV: cv, Verdicts: verdicts(cv)}
	if o.Holdout != nil {
		rep.Holdout = &jsonHoldout{File: o.HoldName, Rows: o.HoldRows, Results: summaries(o.Holdout)}
	}
	if o.Exported != "" {
		rep.Export = &jsonExport{Model: o.Exported, File: o.ExportTo}
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# modelpick report\n\nInput `%s`: %d rows (%d scan, %d normal). Features: `%s`.\n\n",
		o.Input, o.Rows, o.Scan, o.Normal, strings.Join(o.Features, " "))
	fmt.Fprintf(&md, "## %d-fold stratified cross-validation (seed %d), mean ± std over folds\n\n", o.Folds, o.Seed)
	markdownTable(&md, cv, true)
	md.WriteString("\n")
	for _, v := range rep.Verdicts {
		fmt.Fprintf(&md, "- Best by %s: **%s**\n", v.By, v)
		if v.By == "accuracy" {
			if note := exportNote(v.Model, cv, candidates(o.Seed), o.WouldExport, o.WouldExportWhy); note != "" {
				fmt.Fprintf(&md, "  (%s)\n", note)
			}
		}
	}
	if rep.Holdout != nil {
		fmt.Fprintf(&md, "\n## Hold-out: trained on all rows, scored on `%s` (%d rows)\n\n", o.HoldName, o.HoldRows)
		markdownTable(&md, rep.Holdout.Results, false)
	}
	if rep.Export != nil {
		fmt.Fprintf(&md, "\nExported **%s**, trained on all %d rows, to `%s`.\n", o.Exported, o.Rows, o.ExportTo)
	}
	pictures, err := o.pictures(cv)
	if err != nil {
		return err
	}
	md.WriteString(reportPictures(o, pictures))
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	// PNG for the markdown (GitHub and most viewers show it inline), SVG
	// to zoom into.
	for _, pic := range pictures {
		for _, ext := range []string{".png", ".svg"} {
			if err := pic.plot.Save(pic.w, pic.h, filepath.Join(dir, pic.name+ext)); err != nil {
				return err
			}
		}
	}
	return nil
}

// picture is one of the report's figures.
type picture struct {
	name, alt string
	plot      *plot.Plot
	w, h      vg.Length
}

// pictures makes the report's figures: ROC (log false-positive rate and
// the top-left corner), precision-recall, calibration, the featured
// model's confusion matrix and feature importance, and speed.
func (o *outcome) pictures(cv []eval.Summary) ([]picture, error) {
	rocLog, rocZoom := rocPlots(o.CV, cv)
	pics := []picture{
		{"roc", "ROC curves, false-positive rate on a log axis", rocLog, 7 * vg.Inch, 5 * vg.Inch},
		{"roc-zoom", "ROC curves, top-left corner", rocZoom, 7 * vg.Inch, 5 * vg.Inch},
		{"pr", "precision-recall curves", prPlot(o.CV), 7 * vg.Inch, 5 * vg.Inch},
		{"calibration", "calibration (reliability) curves", calibrationPlot(o.CV), 7 * vg.Inch, 5 * vg.Inch},
	}
	if r := o.featuredResult(); r != nil {
		cp, err := confusionPlot(r.Name, eval.NewConfusion(r.Y, predictions(r.Prob)))
		if err != nil {
			return nil, err
		}
		pics = append(pics, picture{"confusion", r.Name + " confusion matrix", cp, 5.5 * vg.Inch, 5 * vg.Inch})
	}
	if share, ok := o.Importance[o.Featured]; ok {
		ip, err := importancePlot(o.Featured, o.Features, share)
		if err != nil {
			return nil, err
		}
		pics = append(pics, picture{"importance", o.Featured + " feature importance", ip, 7 * vg.Inch, vg.Length(1.5+0.3*float64(len(o.Features))) * vg.Inch})
	}
	sp, err := speedPlot(cv)
	if err != nil {
		return nil, err
	}
	pics = append(pics, picture{"speed", "prediction time per row and accuracy", sp, 7 * vg.Inch, vg.Length(1.5+0.45*float64(len(cv))) * vg.Inch})
	return pics, nil
}

// featuredResult is the cross-validation result of the featured model.
func (o *outcome) featuredResult() *eval.Result {
	for _, r := range o.CV {
		if r.Name == o.Featured {
			return r
		}
	}
	return nil
}

func predictions(prob []float64) []int8 {
	out := make([]int8, len(prob))
	for i, p := range prob {
		out[i] = eval.Predict(p)
	}
	return out
}

// reportPictures is report.md's part on the figures: what each shows and
// how to read it, and the gain importance of every tree model evaluated.
func reportPictures(o *outcome, pics []picture) string {
	var md strings.Builder
	has := func(name string) bool {
		return slices.ContainsFunc(pics, func(p picture) bool { return p.name == name })
	}
	md.WriteString("\n## Figures\n\n")
	md.WriteString("Curves are over the pooled out-of-fold probabilities; legends give the table's ROC-AUC " +
		"(mean over folds) and each curve's average precision.\n\n")
	md.WriteString("**ROC.** Near-perfect models all hug the top-left corner of a linear ROC plot; with the " +
		"false-positive rate on a log axis they separate where a detector lives, at false-alarm rates of " +
		"1e-3 and below. The second plot zooms into the corner (FPR ≤ 5 %, TPR ≥ 90 %).\n\n")
	md.WriteString("![ROC curves, false-positive rate on a log axis](roc.png)\n\n![ROC curves, top-left corner](roc-zoom.png)\n\n")
	md.WriteString("**Precision-recall.** Normal sessions far outnumber probes on a real network, so precision " +
		"(how many alerts are real) matters more than the ROC shows.\n\n![precision-recall curves](pr.png)\n\n")
	md.WriteString("**Calibration.** Each point is a bin of sessions by predicted probability: how many of them " +
		"were scans. scanclass cuts at 0.5 and scanalert averages the score, so a calibrated model's points lie " +
		"on the diagonal.\n\n![calibration curves](calibration.png)\n\n")
	if has("confusion") {
		fmt.Fprintf(&md, "**Confusion matrix** of %s (%s), out of fold at threshold 0.5: the kinds of mistakes, "+
			"with each cell's share of its true class.\n\n![confusion matrix](confusion.png)\n\n", o.Featured, o.FeaturedWhy)
	}
	if len(o.Importance) > 0 {
		md.WriteString("**Feature importance** (gain): each feature's share of a tree model's total split gain, " +
			"the model trained on all rows. When several models reach the same accuracy, this says which " +
			"evidence each rests on, and whether that evidence will hold on another network.\n\n")
		if has("importance") {
			md.WriteString("![feature importance](importance.png)\n\n")
		}
		var names []string
		for _, r := range o.CV {
			if _, ok := o.Importance[r.Name]; ok {
				names = append(names, r.Name)
			}
		}
		md.WriteString("| feature | " + strings.Join(names, " | ") + " |\n|---|")
		for range names {
			md.WriteString("---|")
		}
		md.WriteString("\n")
		for f, feature := range o.Features {
			md.WriteString("| " + feature)
			for _, n := range names {
				fmt.Fprintf(&md, " | %.1f%%", 100*o.Importance[n][f])
			}
			md.WriteString(" |\n")
		}
		md.WriteString("\n")
	}
	md.WriteString("**Speed.** Prediction time per row against accuracy, the harvester's trade-off.\n\n" +
		"![prediction time per row and accuracy](speed.png)\n")
	return md.String()
}

func markdownTable(md *strings.Builder, rows []eval.Summary, withStd bool) {
	md.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		md.WriteString("---|")
	}
	md.WriteString("\n")
	for _, s := range rows {
		md.WriteString("| " + strings.Join(cells(s, withStd), " | ") + " |\n")
	}
}

package cli

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
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

func writeVerdicts(w io.Writer, rows []eval.Summary) {
	fmt.Fprintln(w)
	for _, v := range verdicts(rows) {
		fmt.Fprintf(w, "Best by %-16s %s\n", v.By+":", v)
	}
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
	}
	if rep.Holdout != nil {
		fmt.Fprintf(&md, "\n## Hold-out: trained on all rows, scored on `%s` (%d rows)\n\n", o.HoldName, o.HoldRows)
		markdownTable(&md, rep.Holdout.Results, false)
	}
	if rep.Export != nil {
		fmt.Fprintf(&md, "\nExported **%s**, trained on all %d rows, to `%s`.\n", o.Exported, o.Rows, o.ExportTo)
	}
	md.WriteString("\n![ROC curves](roc.svg)\n\n![accuracy vs prediction time](speed.svg)\n")
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	sp, err := speedPlot(cv)
	if err != nil {
		return err
	}
	// SVG for the markdown, PNG for viewers that do not render SVG.
	for _, ext := range []string{".svg", ".png"} {
		if err := rocPlot(o.CV).Save(6*vg.Inch, 5*vg.Inch, filepath.Join(dir, "roc"+ext)); err != nil {
			return err
		}
		if err := sp.Save(7*vg.Inch, 5*vg.Inch, filepath.Join(dir, "speed"+ext)); err != nil {
			return err
		}
	}
	return nil
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

// rocPlot draws each candidate's ROC curve over its pooled out-of-fold
// probabilities.
func rocPlot(rs []*eval.Result) *plot.Plot {
	p := plot.New()
	p.Title.Text = "ROC, out-of-fold probabilities"
	p.X.Label.Text = "false-positive rate"
	p.Y.Label.Text = "true-positive rate"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Legend.Top = false
	p.Legend.Left = false
	for i, r := range rs {
		fpr, tpr := eval.ROC(r.Y, r.Prob)
		pts := make(plotter.XYs, len(fpr))
		for j := range fpr {
			pts[j].X, pts[j].Y = fpr[j], tpr[j]
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			continue
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s AUC %.4f", r.Name, eval.AUC(r.Y, r.Prob)), l)
	}
	return p
}

// speedPlot places each candidate on its own line at its prediction time
// per row (log scale), labelled with its accuracy: the harvester's trade-off in
// one picture, readable even when the accuracies are all alike.
func speedPlot(rows []eval.Summary) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "prediction time per row (labels: cross-validated accuracy)"
	p.X.Label.Text = "seconds per row (log scale)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	pts := make(plotter.XYs, 0, len(rows))
	var labels, names []string
	for i, s := range rows {
		x := s.PredictSecondsPerRow.Mean
		if !(x > 0) {
			x = 1e-9 // below the clock's resolution: pin it to 1ns for the log scale
		}
		// Candidates top to bottom in table order.
		pts = append(pts, plotter.XY{X: x, Y: float64(len(rows) - 1 - i)})
		labels = append(labels, fmt.Sprintf("  %.4f", s.Accuracy.Mean))
		names = append(names, rows[len(rows)-1-i].Name)
	}
	if len(pts) == 0 {
		return p, nil
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	sc.Color = color.RGBA{R: 200, A: 255}
	p.Add(sc)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return nil, err
	}
	p.Add(lb)
	p.NominalY(names...)
	p.X.Max *= 4 // room for the labels
	p.Add(plotter.NewGrid())
	return p, nil
}

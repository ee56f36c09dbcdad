package cli

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"scanwatch/pkg/learn/eval"
)

// palette gives every candidate a colour of its own (matplotlib's tab10,
// made to be told apart, also by most colour-blind readers): the line-up
// has nine, and plotutil's seven repeated two.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

// lineStyle is candidate i's line: its colour, and every other candidate
// dashed, so that curves lying on each other (boosted trees of several
// sizes often agree) still show both.
func lineStyle(i int) draw.LineStyle {
	ls := draw.LineStyle{Color: palette[i%len(palette)], Width: vg.Points(1.5)}
	if i%2 == 1 {
		ls.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return ls
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, i int, xs, ys []float64, label string) {
	pts := make(plotter.XYs, len(xs))
	for j := range xs {
		pts[j].X, pts[j].Y = xs[j], ys[j]
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return // no points: nothing to draw
	}
	l.LineStyle = lineStyle(i)
	p.Add(l)
	p.Legend.Add(label, l)
}

// rocPlots draws each candidate's ROC curve over its pooled out-of-fold
// probabilities twice: with the false-positive rate on a log axis, which
// separates models that all look perfect on a linear one (what matters to
// a detector is the left end: a false alarm rate of 1e-3 against 1e-2),
// and zoomed into the top-left corner. The legend's AUC is the table's:
// the mean over folds.
func rocPlots(rs []*eval.Result, sums []eval.Summary) (logFPR, zoom *plot.Plot) {
	logFPR = newPlot("ROC (out-of-fold), false-positive rate on a log axis", "false-positive rate (log axis; 0 drawn at the left edge)", "true-positive rate")
	zoom = newPlot("ROC (out-of-fold), top-left corner", "false-positive rate", "true-positive rate")
	// FPR 0 is drawn at half the smallest step any curve takes (one false
	// positive among its negatives): left of every real point.
	floor := 1.0
	curves := make([][2][]float64, len(rs))
	for i, r := range rs {
		fpr, tpr := eval.ROC(r.Y, r.Prob)
		curves[i] = [2][]float64{fpr, tpr}
		for _, x := range fpr {
			if x > 0 {
				floor = min(floor, x/2)
			}
		}
	}
	for i, r := range rs {
		fpr, tpr := curves[i][0], curves[i][1]
		label := fmt.Sprintf("%s AUC %s", r.Name, auc(sums[i].AUC, false))
		logX := make([]float64, len(fpr))
		for j, x := range fpr {
			logX[j] = max(x, floor)
		}
		addLine(logFPR, i, logX, tpr, label)
		addLine(zoom, i, fpr, tpr, label)
	}
	logFPR.X.Scale = plot.LogScale{}
	decades := decadeTicks{format: func(v float64) string { return fmt.Sprintf("%g", v) }}
	logFPR.X.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		return append(decades.Ticks(lo, hi), plot.Tick{Value: floor, Label: "0"})
	})
	logFPR.X.Min, logFPR.X.Max, logFPR.Y.Min, logFPR.Y.Max = floor, 1, 0, 1
	logFPR.Legend.Top, logFPR.Legend.Left = false, false
	zoom.X.Min, zoom.X.Max, zoom.Y.Min, zoom.Y.Max = 0, 0.05, 0.9, 1
	zoom.Legend.Top, zoom.Legend.Left = false, false
	return logFPR, zoom
}

// prPlot draws each candidate's precision–recall curve (pooled out of fold)
// with its average precision: on a detector's skewed traffic, where
// normal sessions outnumber probes, precision is what false alarms cost.
func prPlot(rs []*eval.Result) *plot.Plot {
	p := newPlot("precision-recall (out-of-fold)", "recall", "precision")
	for i, r := range rs {
		rec, prec := eval.PR(r.Y, r.Prob)
		addLine(p, i, rec, prec, fmt.Sprintf("%s AP %.4f", r.Name, eval.AveragePrecision(r.Y, r.Prob)))
	}
	p.X.Min, p.X.Max = 0, 1
	p.Y.Max = 1
	p.Legend.Top, p.Legend.Left = false, true
	return p
}

// calibrationPlot is the reliability diagram: in ten bins of predicted
// probability, the fraction of sessions that were scans. scanclass
// thresholds the score at 0.5 and scanalert averages it, so a score should
// mean what it says.
func calibrationPlot(rs []*eval.Result) *plot.Plot {
	p := newPlot("calibration (out-of-fold, 10 bins)", "mean predicted probability of a scan", "fraction that were scans")
	diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	diag.LineStyle = draw.LineStyle{Color: color.Gray{Y: 0x99}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	p.Add(diag)
	p.Legend.Add("perfectly calibrated", diag)
	for i, r := range rs {
		var xs, ys []float64
		for _, b := range eval.Calibration(r.Y, r.Prob, 10) {
			xs, ys = append(xs, b.MeanProb), append(ys, b.Positive)
		}
		addLine(p, i, xs, ys, r.Name)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Legend.Top, p.Legend.Left = false, false // the corner below the diagonal stays empty
	return p
}

// confusionPlot draws one model's pooled out-of-fold confusion matrix at
// scanclass's threshold 0.5, each cell with its count and its share of
// the true class.
func confusionPlot(name string, c eval.Confusion) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = name + ": confusion matrix (out-of-fold, threshold 0.5)"
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = "predicted"
	p.Y.Label.Text = "true"
	type cell struct {
		x, y  float64
		n     int
		of    int
		right bool
	}
	cells := []cell{
		{0, 1, c.TN, c.TN + c.FP, true}, {1, 1, c.FP, c.TN + c.FP, false},
		{0, 0, c.FN, c.TP + c.FN, false}, {1, 0, c.TP, c.TP + c.FN, true},
	}
	var pts plotter.XYs
	var labels []string
	for _, k := range cells {
		share := 0.0
		if k.of > 0 {
			share = float64(k.n) / float64(k.of)
		}
		// Right answers in blue, mistakes in red, darker with their share.
		shade := uint8(255 - 180*share)
		fill := color.RGBA{R: shade, G: shade, B: 255, A: 255}
		if !k.right {
			fill = color.RGBA{R: 255, G: shade, B: shade, A: 255}
		}
		sq, err := plotter.NewPolygon(plotter.XYs{{X: k.x - 0.5, Y: k.y - 0.5}, {X: k.x + 0.5, Y: k.y - 0.5}, {X: k.x + 0.5, Y: k.y + 0.5}, {X: k.x - 0.5, Y: k.y + 0.5}})
		if err != nil {
			return nil, err
		}
		sq.Color = fill
		sq.LineStyle.Color = color.White
		p.Add(sq)
		pts = append(pts, plotter.XY{X: k.x, Y: k.y})
		labels = append(labels, fmt.Sprintf("%d\n(%.1f%%)", k.n, 100*share))
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = vg.Points(16)
		lb.TextStyle[i].XAlign, lb.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
	}
	p.Add(lb)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -0.5, 1.5, -0.5, 1.5
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "normal"}, {Value: 1, Label: "scan"}})
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "scan"}, {Value: 1, Label: "normal"}})
	return p, nil
}

// importancePlot draws one tree model's gain importance, features sorted
// by it, largest on top.
func importancePlot(name string, features []string, share []float64) (*plot.Plot, error) {
	p := newPlot(name+": feature importance (share of split gain)", "share of the model's total split gain", "")
	order := make([]int, len(features))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(share[a], share[b]) }) // smallest first: drawn at the bottom
	vals := make(plotter.Values, len(order))
	names := make([]string, len(order))
	var pts plotter.XYs
	var labels []string
	for k, i := range order {
		vals[k], names[k] = share[i], features[i]
		pts = append(pts, plotter.XY{X: share[i], Y: float64(k)})
		labels = append(labels, fmt.Sprintf(" %.1f%%", 100*share[i]))
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(12))
	if err != nil {
		return nil, err
	}
	bars.Horizontal = true
	bars.Color = palette[0]
	bars.LineStyle.Width = 0
	p.Add(bars)
	if err := addLabels(p, pts, labels); err != nil {
		return nil, err
	}
	p.NominalY(names...)
	p.X.Min = 0
	p.X.Max = max(p.X.Max, 0.01) * 1.2 // room for the labels
	return p, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// speedPlot places each candidate on its own line at its prediction time
// per row (log scale), labelled with its accuracy: the harvester's
// trade-off in one picture, readable even when the accuracies are all
// alike. Ticks are durations at each decade ("100ns", "1µs"), not floats
// like 9.999999999999999e-06.
func speedPlot(rows []eval.Summary) (*plot.Plot, error) {
	p := newPlot("prediction time per row; label: cross-validated accuracy", "time per row (log scale)", "")
	pts := make(plotter.XYs, 0, len(rows))
	var labels, names []string
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range rows {
		x := s.PredictSecondsPerRow.Mean
		if !(x > 0) {
			x = 1e-9 // below the clock's resolution: pin it to 1ns for the log scale
		}
		lo, hi = min(lo, x), max(hi, x)
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
	sc.Color = palette[3]
	sc.GlyphStyle.Radius = vg.Points(3.5)
	p.Add(sc)
	if err := addLabels(p, pts, labels); err != nil {
		return nil, err
	}
	p.NominalY(names...)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = decadeTicks{format: seconds}
	// Whole decades around the points, and one more on the right for the
	// labels, so that no label or tick is cut at the edge.
	p.X.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.X.Max = math.Pow(10, math.Ceil(math.Log10(hi))+1)
	p.Y.Min, p.Y.Max = -0.6, float64(len(rows))-0.4
	return p, nil
}

// decadeTicks labels each power of ten in range (computed as 10^k, so
// exactly, with format) and leaves minor ticks at 2..9 unlabelled.
type decadeTicks struct{ format func(float64) string }

func (d decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		if base >= lo*(1-1e-9) && base <= hi*(1+1e-9) {
			out = append(out, plot.Tick{Value: base, Label: d.format(base)})
		}
		for m := 2.0; m < 10; m++ {
			if v := m * base; v > lo && v < hi {
				out = append(out, plot.Tick{Value: v})
			}
		}
	}
	return out
}

// addLabels writes labels to the right of points, centred on them.
func addLabels(p *plot.Plot, pts plotter.XYs, labels []string) error {
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].YAlign = draw.YCenter
	}
	p.Add(lb)
	return nil
}

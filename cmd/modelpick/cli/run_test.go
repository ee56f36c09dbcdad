package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"scanwatch/pkg/infer"
	"scanwatch/pkg/merge"
	"scanwatch/pkg/row"
)

// Real rows: 247 of the harvester's train set (every 100th of bad.csv and of
// good.csv) and 6 of those for a hold-out file.
const (
	smallCSV = "../testdata/small.csv"
	tinyCSV  = "../testdata/tiny.csv"
)

func runModelpick(t testing.TB, args ...string) (stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	if code := Run(context.Background(), args, strings.NewReader(""), &o, &e); code != 0 {
		t.Fatalf("modelpick %s: exit %d\n%s%s", strings.Join(args, " "), code, o.String(), e.String())
	}
	return o.String(), e.String()
}

func readReport(t *testing.T, dir string) jsonReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return r
}

// checkExport loads the exported file with leaves (through trees'
// Predictor) and compares it, row by row, with a fresh model of the same
// candidate trained here on the same rows: the file must be that model.
func checkExport(t *testing.T, input, features, modelFile, modelName string) {
	t.Helper()
	f, err := os.Open(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := infer.LoadLightGBM(f, modelFile)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := loadFile(input, nil, features, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Features(), d.Features) {
		t.Fatalf("model features %v, want %v", p.Features(), d.Features)
	}
	cand, err := findCandidate(candidates(1), modelName)
	if err != nil {
		t.Fatal(err)
	}
	m := cand.New()
	if err := m.Fit(d); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < d.N(); i++ {
		if a, b := p.Prob(d.Row(i)), m.Prob(d.Row(i)); math.Abs(a-b) > 1e-12 {
			t.Fatalf("row %d: leaves %v, trainer %v", i+1, a, b)
		}
	}
}

func TestSmallSubsetAllCandidates(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "models", "model.txt")
	stdout, stderr := runModelpick(t, smallCSV, "--folds", "3", "--seed", "7",
		"--report", filepath.Join(dir, "report"), "--export", model, "--holdout", tinyCSV)
	// stderr is not a terminal here: no progress bar, just the two notes.
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "modelpick: wrote "+model) || !strings.HasPrefix(lines[1], "modelpick: wrote report.md") {
		t.Errorf("stderr:\n%s", stderr)
	}
	all := candidates(7)
	for _, c := range all {
		if !strings.Contains(stdout, "\n"+c.Name+" ") {
			t.Errorf("no table row for %s", c.Name)
		}
	}
	for _, v := range []string{"Best by accuracy:", "Best by MCC:", "Best by prediction time:", "Hold-out: trained on all 247 rows"} {
		if !strings.Contains(stdout, v) {
			t.Errorf("stdout lacks %q:\n%s", v, stdout)
		}
	}
	rep := readReport(t, filepath.Join(dir, "report"))
	if rep.Rows != 247 || rep.Scan != 126 || rep.Normal != 121 || rep.Folds != 3 || len(rep.CV) != len(all) {
		t.Fatalf("report header %+v", rep)
	}
	for _, s := range rep.CV {
		total := s.TP.Mean + s.TN.Mean + s.FN.Mean + s.FP.Mean
		if math.Abs(total*3-247) > 1e-9 {
			t.Errorf("%s: confusion counts sum to %v per fold, want 247/3", s.Name, total)
		}
		if s.Accuracy.Mean < 0.5 || s.Accuracy.Mean > 1 || s.Folds != 3 {
			t.Errorf("%s: accuracy %v over %d folds", s.Name, s.Accuracy.Mean, s.Folds)
		}
	}
	if rep.Holdout == nil || rep.Holdout.Rows != 6 || len(rep.Holdout.Results) != len(all) {
		t.Fatalf("hold-out %+v", rep.Holdout)
	}
	if rep.Export == nil || !strings.HasPrefix(rep.Export.Model, "GBDT(") {
		t.Fatalf("export %+v", rep.Export)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pic := range []string{"roc", "roc-zoom", "pr", "calibration", "confusion", "importance", "speed"} {
		if !strings.Contains(string(md), "]("+pic+".png)") {
			t.Errorf("report.md does not show %s.png", pic)
		}
	}
	if !strings.Contains(string(md), "| feature | GBDT(") {
		t.Errorf("report.md has no feature importance table")
	}
	for _, f := range []string{"report.md", "roc.svg", "roc.png", "roc-zoom.png", "pr.png", "calibration.png", "confusion.png", "importance.png", "speed.svg", "speed.png"} {
		if st, err := os.Stat(filepath.Join(dir, "report", f)); err != nil || st.Size() < 100 {
			t.Errorf("%s: %v", f, err)
		}
	}

	if !strings.Contains(string(md), "| "+rep.CV[0].Name+" | ") {
		t.Errorf("report.md has no row for %s", rep.CV[0].Name)
	}
	checkExport(t, smallCSV, "seed", model, rep.Export.Model)
}

func TestExportChosenModel(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"RandomForest(100)", "DecisionTree"} {
		model := filepath.Join(dir, normName(name)+".txt")
		runModelpick(t, smallCSV, "--folds", "2", "--candidates", "LogReg(L2)", "--model", name, "--export", model)
		checkExport(t, smallCSV, "seed", model, name)
	}
}

// The same input and seed give the same table, timings aside.
func TestDeterministicMetrics(t *testing.T) {
	dir := t.TempDir()
	args := []string{smallCSV, "--folds", "4", "--candidates", "GBDT(50),kNN(5),RandomForest(100)"}
	runModelpick(t, append(args, "--report", dir+"/a")...)
	runModelpick(t, append(args, "--report", dir+"/b")...)
	a, b := readReport(t, dir+"/a"), readReport(t, dir+"/b")
	for i := range a.CV {
		x, y := a.CV[i], b.CV[i]
		if x.Accuracy != y.Accuracy || x.MCC != y.MCC || x.AUC != y.AUC || x.TP != y.TP || x.FP != y.FP {
			t.Errorf("%s differs between runs: %+v vs %+v", x.Name, x.Accuracy, y.Accuracy)
		}
	}
}

// NDJSON input (here: the same rows converted by csvmerge's engine) gives
// the same cross-validated metrics as CSV.
func TestNDJSONInputSameAsCSV(t *testing.T) {
	dir := t.TempDir()
	in, _ := merge.FileInputs([]string{smallCSV}, nil)
	f, err := os.Create(dir + "/small.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := merge.Merge(context.Background(), in, f, merge.Options{Format: "ndjson"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := []string{"--folds", "3", "--candidates", "DecisionTree,LogReg(L2)"}
	runModelpick(t, append([]string{smallCSV, "--report", dir + "/csv"}, args...)...)
	runModelpick(t, append([]string{dir + "/small.ndjson", "--report", dir + "/ndjson"}, args...)...)
	a, b := readReport(t, dir+"/csv"), readReport(t, dir+"/ndjson")
	for i := range a.CV {
		if a.CV[i].Accuracy != b.CV[i].Accuracy || a.CV[i].AUC != b.CV[i].AUC {
			t.Errorf("%s: CSV %+v, NDJSON %+v", a.CV[i].Name, a.CV[i].Accuracy, b.CV[i].Accuracy)
		}
	}
}

// pcapsess rows carry every evidence column: --features extended trains on
// all twenty-seven, and the exported model records them by name.
func TestExtendedFeaturesOnPcapsessRows(t *testing.T) {
	dir := t.TempDir()
	in, _ := merge.FileInputs([]string{"../testdata/lo-nmap.csv", "../testdata/lo-curl.csv"}, nil)
	f, err := os.Create(dir + "/lo.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := merge.Merge(context.Background(), in, f, merge.Options{Require: merge.HarvesterRequire(), Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	runModelpick(t, dir+"/lo.csv", "--features", "extended", "--folds", "3", "--candidates", "GBDT(50),kNN(5)",
		"--report", dir, "--export", dir+"/model.txt")
	rep := readReport(t, dir)
	if len(rep.Features) != 27 || rep.Rows != 218 || rep.Scan != 208 {
		t.Fatalf("features %v, rows %d, scan %d", rep.Features, rep.Rows, rep.Scan)
	}
	for _, s := range rep.CV {
		if s.Accuracy.Mean < 0.9 {
			t.Errorf("%s: accuracy %.4f on nmap vs curl", s.Name, s.Accuracy.Mean)
		}
	}
	text, _ := os.ReadFile(dir + "/model.txt")
	if !strings.Contains(string(text), "\nfeature_names="+strings.Join(rep.Features, " ")+"\n") {
		t.Error("the model file does not record the twenty-seven feature names")
	}
	checkExport(t, dir+"/lo.csv", "extended", dir+"/model.txt", "GBDT(50)")
}

func TestExtendedFeatures(t *testing.T) {
	cols, err := resolveFeatures("extended", "x.csv", row.SessionSchema(true))
	if err != nil {
		t.Fatal(err)
	}
	want := "duration SYN ACK FIN RST URG PSH packets src_packets dst_packets src_bytes dst_bytes init_window init_options_len init_mss init_ttl init_df init_flags answer handshake ctx_pairs ctx_failed ctx_ports ctx_hosts ctx_sport ctx_ttls ctx_burst"
	if got := strings.Join(names(cols), " "); got != want {
		t.Errorf("extended = %s", got)
	}
	// On the harvester's columns, extended is just the seven.
	cols, err = resolveFeatures("extended", "x.csv", row.NewSchema(append(row.Harvester(), row.Label), nil))
	if err != nil || len(cols) != 7 {
		t.Errorf("extended on the harvester's columns: %v %v", names(cols), err)
	}
	cols, err = resolveFeatures(" packets, SYN ", "x.csv", row.SessionSchema(true))
	if err != nil || strings.Join(names(cols), " ") != "packets SYN" {
		t.Errorf("list: %v %v", names(cols), err)
	}
}

// A hold-out capture of scans only (pcapsess rows of a loopback nmap run)
// has no ROC curve: its AUC prints as n/a and is null in the JSON, and the
// model trained on the harvester's rows still catches most of the scans.
func TestHoldoutOneClass(t *testing.T) {
	dir := t.TempDir()
	stdout, _ := runModelpick(t, smallCSV, "--folds", "3", "--candidates", "DecisionTree",
		"--holdout", "../testdata/lo-nmap.csv", "--report", dir)
	hold := stdout[strings.Index(stdout, "Hold-out"):]
	if !strings.Contains(hold, " n/a ") {
		t.Errorf("hold-out table:\n%s", hold)
	}
	b, _ := os.ReadFile(dir + "/report.json")
	if !strings.Contains(string(b), `"roc_auc": {
          "mean": null`) {
		t.Error("report.json does not hold a null AUC for the one-class hold-out")
	}
	rep := readReport(t, dir)
	r := rep.Holdout.Results[0]
	if r.TN.Mean != 0 || r.FP.Mean != 0 || r.TP.Mean+r.FN.Mean != 208 || r.Recall.Mean < 0.9 {
		t.Errorf("hold-out on 208 scans: %+v", r)
	}
}

// When the best by accuracy cannot be exported, the verdict says so and
// names the model --export writes.
func TestBestByAccuracyNotExportable(t *testing.T) {
	stdout, _ := runModelpick(t, smallCSV, "--folds", "3", "--candidates", "kNN(5),GBDT(50)")
	if !strings.Contains(stdout, "Best by accuracy:        kNN(5)") ||
		!strings.Contains(stdout, "\n    kNN(5) cannot be exported (only GBDT, RandomForest and DecisionTree write LightGBM text); --export writes GBDT(50) (") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

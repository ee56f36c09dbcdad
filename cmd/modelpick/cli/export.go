package cli

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"scanwatch/pkg/infer"
	"scanwatch/pkg/learn"
	"scanwatch/pkg/learn/eval"
)

// defaultExport is the GBDT with the best cross-validated accuracy among
// those evaluated (the first on a tie), or GBDT(210), the harvester's choice,
// when no GBDT was evaluated.
func defaultExport(all []eval.Candidate, cv []*eval.Result) eval.Candidate {
	best, bestAcc := "", -1.0
	for _, r := range cv {
		if !strings.HasPrefix(r.Name, "GBDT") {
			continue
		}
		if acc := r.Summarize().Accuracy.Mean; acc > bestAcc {
			best, bestAcc = r.Name, acc
		}
	}
	if best == "" {
		best = "GBDT(210)"
	}
	c, _ := findCandidate(all, best)
	return c
}

// export trains c on all of d, writes it to path as LightGBM text, and
// checks that leaves, reading the file back, gives the trainer's own
// probability on every row: the file is what scanclass will run.
func export(c eval.Candidate, d *learn.Dataset, path string, out *outcome) error {
	m, ok := c.New().(learn.Exporter)
	if !ok {
		return fmt.Errorf("model %s cannot be exported: only tree models write LightGBM text", c.Name)
	}
	if err := m.Fit(d); err != nil {
		return fmt.Errorf("%s: fit: %w", c.Name, err)
	}
	var buf bytes.Buffer
	if err := m.WriteLightGBM(&buf); err != nil {
		return fmt.Errorf("%s: export: %w", c.Name, err)
	}
	p, err := infer.LoadLightGBM(bytes.NewReader(buf.Bytes()), path)
	if err != nil {
		return fmt.Errorf("%s: the exported model does not load: %w", c.Name, err)
	}
	if got := strings.Join(p.Features(), " "); got != strings.Join(d.Features, " ") {
		return fmt.Errorf("%s: the exported model records features %q, want %q", c.Name, got, strings.Join(d.Features, " "))
	}
	worst := 0.0
	for i := 0; i < d.N(); i++ {
		diff := math.Abs(p.Prob(d.Row(i)) - m.Prob(d.Row(i)))
		if !(diff <= 1e-9) {
			return fmt.Errorf("%s: leaves scores row %d of the exported model %v, the trainer %v", c.Name, i+1, p.Prob(d.Row(i)), m.Prob(d.Row(i)))
		}
		worst = max(worst, diff)
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return err
	}
	out.Exported, out.ExportTo, out.ExportMax = c.Name, path, worst
	return nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so that a reader never sees half a model.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

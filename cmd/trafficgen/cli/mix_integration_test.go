package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scanwatch/pkg/trafficgen"
)

// TestMixFollowsPlan runs `trafficgen mix` (connect scans only, so no root
// is needed) and checks that the ground-truth log has one record per step
// with the kind, technique and ports that `mix --plan` printed for the same
// seed, with ordered RFC 3339 times and the nmap command of every scan.
func TestMixFollowsPlan(t *testing.T) {
	needTools(t, "nmap")
	closed := closedPort(t)
	common := []string{"mix", "--steps", "25", "--p", "0.3", "--seed", "11", "--technique", "sT",
		"--scan-ports", "1-200", "--scan-min", "5", "--scan-max", "10", "--ports", itoa(closed),
		"--source", "127.0.80.1", "--scan-source", "127.0.80.2", "--rate", "0", "--timing", "4", "--duration", "2m"}
	var planOut, stderr bytes.Buffer
	if code := Run(context.Background(), append(common, "--plan"), nil, &planOut, &stderr); code != 0 {
		t.Fatalf("mix --plan: exit %d: %s", code, stderr.String())
	}
	truthPath := filepath.Join(t.TempDir(), "truth.ndjson")
	stderr.Reset()
	var stdout bytes.Buffer
	if code := Run(context.Background(), append(common, "--truth", truthPath), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("mix: exit %d: %s", code, stderr.String())
	}
	plan := decodeTruth(t, planOut.Bytes())
	b, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	truth := decodeTruth(t, b)
	if len(plan) != 25 || len(truth) != 25 {
		t.Fatalf("%d planned and %d logged steps, want 25 each", len(plan), len(truth))
	}
	scans := 0
	for i := range truth {
		p, g := plan[i], truth[i]
		if p.Step != g.Step || p.Kind != g.Kind || p.Technique != g.Technique || p.Ports != g.Ports || p.Action != g.Action {
			t.Errorf("step %d: planned %+v, logged %+v", i, p, g)
		}
		start, err1 := time.Parse(time.RFC3339Nano, g.Start)
		end, err2 := time.Parse(time.RFC3339Nano, g.End)
		if err1 != nil || err2 != nil || end.Before(start) {
			t.Errorf("step %d: times %q..%q", i, g.Start, g.End)
		}
		if g.Kind == trafficgen.KindScan {
			scans++
			if g.Source != "127.0.80.2" || !strings.Contains(g.Command, "-sT -Pn -n -p "+g.Ports) || g.Error != "" {
				t.Errorf("scan step %d: %+v", i, g)
			}
		} else if g.Source != "127.0.80.1" {
			t.Errorf("normal step %d from %q", i, g.Source)
		}
	}
	if scans == 0 {
		t.Error("the plan for seed 11 has no scan; pick another seed")
	}
}

func decodeTruth(t *testing.T, b []byte) []trafficgen.TruthRecord {
	t.Helper()
	var out []trafficgen.TruthRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var r trafficgen.TruthRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

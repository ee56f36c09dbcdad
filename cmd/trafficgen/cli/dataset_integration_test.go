package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scanwatch/pkg/row"
	"scanwatch/pkg/trafficgen"
)

// buildPcapsess builds the repository's pcapsess for the test.
func buildPcapsess(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pcapsess")
	out, err := exec.Command("go", "build", "-o", bin, "scanwatch/cmd/pcapsess").CombinedOutput()
	if err != nil {
		t.Fatalf("go build pcapsess: %v\n%s", err, out)
	}
	return bin
}

func readRows(t *testing.T, path string) []row.Row {
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
	rows, err := row.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestDatasetFlow runs a small `trafficgen dataset` end to end (real nmap,
// real pcapsess on lo, real clients) and checks the per-class row counts, the
// balance of merged.csv, and that each technique's rows carry its flags.
func TestDatasetFlow(t *testing.T) {
	needRootTools(t, "nmap", "go")
	pcapsess := buildPcapsess(t)
	out := t.TempDir()
	const ports = 60 // ports 1-60
	args := []string{"dataset", "--out", out, "--pcapsess", pcapsess, "--ports", "1-60", "--timing", "4",
		"--min-rows", "250", "--max-passes", "2", "--scan-base", "127.0.79.10", "--source", "127.0.79.200",
		"--chunk", "300", "--rate", "0", "--normal-max", "2m"}
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("trafficgen %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	t.Log(lastLine(stderr.String()))
	if strings.Contains(stderr.String(), "dropped") && !strings.Contains(stderr.String(), " 0 dropped") {
		t.Errorf("pcapsess reported kernel drops:\n%s", stderr.String())
	}

	bad := readRows(t, filepath.Join(out, "bad.csv"))
	good := readRows(t, filepath.Join(out, "good.csv"))
	merged := readRows(t, filepath.Join(out, "merged.csv"))
	base := netip.MustParseAddr("127.0.79.10")
	techOf := map[netip.Addr]string{}
	for i, tech := range strings.Split(trafficgen.DefaultTechniques, ",") {
		techOf[trafficgen.ScannerSource(base, 0, i)] = tech
	}
	perTech := map[string]int{}
	covered := map[string]map[uint16]bool{}
	for _, r := range bad {
		if r.Label != 1 {
			t.Fatalf("bad.csv row with label %d: %+v", r.Label, r)
		}
		tech, ok := techOf[r.SrcIP]
		if !ok {
			t.Errorf("bad.csv row from %s, not a scanner source", r.SrcIP)
			continue
		}
		perTech[tech]++
		if covered[tech] == nil {
			covered[tech] = map[uint16]bool{}
		}
		covered[tech][r.DstPort] = true
		if r.DstIP != netip.MustParseAddr("127.0.0.1") || r.DstPort < 1 || r.DstPort > ports {
			t.Errorf("%s row to %s:%d, outside the scan", tech, r.DstIP, r.DstPort)
		}
		if err := flagPattern(tech, r); err != nil {
			t.Errorf("%s row to port %d: %v (SYN %d ACK %d FIN %d RST %d URG %d PSH %d)", tech, r.DstPort, err, r.SYN, r.ACK, r.FIN, r.RST, r.URG, r.PSH)
		}
	}
	// One session per probed port, give or take a retransmission to an open
	// port more than --window after its first probe (a second session).
	for _, tech := range strings.Split(trafficgen.DefaultTechniques, ",") {
		if len(covered[tech]) != ports || perTech[tech] > ports+3 {
			t.Errorf("%s: %d rows covering %d ports, want about one per port (%d)", tech, perTech[tech], len(covered[tech]), ports)
		}
	}
	if len(bad) < 250 {
		t.Errorf("bad.csv has %d rows, want ≥ --min-rows 250", len(bad))
	}
	src := netip.MustParseAddr("127.0.79.200")
	for _, r := range good {
		// A session resuming after --window idle may start with the
		// server's packet, so the client is either endpoint.
		if r.Label != 0 || (r.SrcIP != src && r.DstIP != src) {
			t.Fatalf("good.csv row: label %d, %s -> %s", r.Label, r.SrcIP, r.DstIP)
		}
		if r.URG != 0 {
			t.Errorf("normal row with URG: %+v", r)
		}
	}
	if len(good) < len(bad) {
		t.Errorf("good.csv has %d rows, fewer than bad.csv's %d", len(good), len(bad))
	}
	classes := map[int]int{}
	for _, r := range merged {
		classes[r.Label]++
	}
	if classes[0] != len(bad) || classes[1] != len(bad) || len(classes) != 2 {
		t.Errorf("merged.csv per label %v, want %d each", classes, len(bad))
	}
	var m trafficgen.Manifest
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Bad.Rows != len(bad) || m.Good.Rows != len(good) || m.Bad.PerKind["sX"] != perTech["sX"] {
		t.Errorf("manifest disagrees with the files: bad %d/%d good %d/%d sX %d", m.Bad.Rows, len(bad), m.Good.Rows, len(good), m.Bad.PerKind["sX"])
	}
}

// flagPattern checks a session row's flag counts against the technique
// (counts cover both directions: the probe and the target's reply).
func flagPattern(tech string, r row.Row) error {
	switch tech {
	case "sT", "sS":
		if r.SYN < 1 || r.FIN != 0 || r.URG != 0 || r.PSH != 0 {
			return errors.New("want SYN and no FIN, URG, PSH")
		}
	case "sF":
		if r.SYN != 0 || r.FIN < 1 || r.URG != 0 || r.PSH != 0 {
			return errors.New("want FIN only from the scanner")
		}
	case "sN":
		if r.SYN != 0 || r.FIN != 0 || r.URG != 0 || r.PSH != 0 || r.SrcPackets < 1 {
			return errors.New("want no flags from the scanner")
		}
	case "sX":
		if r.SYN != 0 || r.FIN < 1 || r.URG < 1 || r.PSH < 1 {
			return errors.New("want FIN, PSH and URG")
		}
	default:
		return errors.New("unexpected technique")
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

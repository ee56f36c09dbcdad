package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scanwatch/pkg/capturerun"
	"scanwatch/pkg/row"
	"scanwatch/pkg/trafficgen"
)

// buildTool builds one of the repository's tools for the test.
func buildTool(t *testing.T, tool string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), tool)
	out, err := exec.Command("go", "build", "-o", bin, "scanwatch/cmd/"+tool).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", tool, err, out)
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
	pcapsess := buildTool(t, "pcapsess")
	out := t.TempDir()
	const ports = 60 // ports 1-60
	args := []string{"dataset", "--out", out, "--pcapsess", pcapsess, "--trafficgen", buildTool(t, "trafficgen"), "--ports", "1-60", "--timing", "4",
		"--min-rows", "250", "--scan-base", "127.0.79.10", "--source", "127.0.79.200",
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
	for _, tech := range strings.Split(trafficgen.DefaultTechniques, ",") {
		techOf[base] = tech
		base = base.Next()
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
	var m capturerun.Manifest
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	badPath, goodPath := "bad.csv", "good.csv" // manifests name their own files relative to themselves
	// One capture per technique, in order, each a range of bad.csv's lines.
	if len(m.Captures) != 6 || m.Captures[4].Kind != "sX" || m.Captures[5].Kind != "normal" {
		t.Fatalf("manifest captures: %+v", m.Captures)
	}
	if m.Rows(badPath) != len(bad) || m.Rows(goodPath) != len(good) || m.Captures[4].PerKind["sX"] != perTech["sX"] ||
		m.Captures[4].Last-m.Captures[4].First+1 != perTech["sX"] || m.Captures[4].Last != len(bad)+1 {
		t.Errorf("manifest disagrees with the files: bad %d/%d good %d/%d sX %+v", m.Rows(badPath), len(bad), m.Rows(goodPath), len(good), m.Captures[4])
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

// TestDatasetNetns makes a small data set across a veth pair between two
// network namespaces: two techniques over 30 ports and a few hundred normal
// actions, then checks the files, the manifest's line ranges and that the
// namespaces are gone.
func TestDatasetNetns(t *testing.T) {
	needRootTools(t, "nmap", "go", "ip")
	out := t.TempDir()
	args := []string{"dataset", "--network", "netns", "--netns-id", "201", "--out", out,
		"--pcapsess", buildTool(t, "pcapsess"), "--trafficgen", buildTool(t, "trafficgen"),
		"--technique", "sS,sF", "--ports", "1-30", "--chunk", "100", "--normal-max", "1m"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	if code := Run(ctx, args, nil, io.Discard, &stderr); code != 0 {
		t.Fatalf("trafficgen %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	// pkg/netns names the pair after our pid.
	if list, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(list), fmt.Sprintf("sw%d_201", os.Getpid()%10000)) {
		t.Errorf("namespaces left behind:\n%s", list)
	}
	var m capturerun.Manifest
	js, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Captures) != 3 || m.Captures[0].Kind != "sS" || m.Captures[1].Kind != "sF" || m.Captures[2].Kind != "normal" ||
		!strings.Contains(m.Network, "veth pair") {
		t.Fatalf("manifest: %s %+v", m.Network, m.Captures)
	}
	// Each technique scanned 30 closed ports: one row per port, from its
	// own capture, so the line ranges attribute rows to techniques.
	bad := readRows(t, filepath.Join(out, "bad.csv"))
	for _, p := range m.Captures[:2] {
		if p.Rows != 30 || p.Last-p.First+1 != 30 || p.PerLabel["1"] != 30 {
			t.Errorf("%s: %d rows, lines %d-%d, per label %v; want 30", p.Kind, p.Rows, p.First, p.Last, p.PerLabel)
		}
		for _, r := range bad[p.First-2 : p.Last-1] {
			fin := r.FIN > 0
			if r.Label != 1 || r.DstIP.String() != "198.18.201.2" || (p.Kind == "sF") != fin {
				t.Errorf("%s row: %+v", p.Kind, r)
			}
		}
	}
	good := readRows(t, filepath.Join(out, "good.csv"))
	if len(good) < 60 || m.Captures[2].Rows != len(good) {
		t.Errorf("good.csv has %d rows (manifest %d); want at least as many as bad.csv", len(good), m.Captures[2].Rows)
	}
	answered := 0
	for _, r := range good {
		if r.Label != 0 {
			t.Fatalf("good row with label %d", r.Label)
		}
		if r.DstBytes > 0 {
			answered++ // the server in the target namespace answered
		}
	}
	if answered == 0 {
		t.Error("no normal session got an answer from the served ports")
	}
	merged := readRows(t, filepath.Join(out, "merged.csv"))
	if len(merged) != 120 || m.Merged["0"] != 60 || m.Merged["1"] != 60 {
		t.Errorf("merged.csv: %d rows, %v; want 60 per class", len(merged), m.Merged)
	}
}

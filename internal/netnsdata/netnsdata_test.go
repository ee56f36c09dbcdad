package netnsdata

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scanwatch/pkg/netns"
	"scanwatch/pkg/row"
)

// childEnv makes the test binary act as the tool when the builder runs it
// again inside a namespace (serve, normal, marker).
const childEnv = "NETNSDATA_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestMarkerPort(t *testing.T) {
	target := netip.MustParseAddr("198.18.77.2")
	scanner := netip.MustParseAddr("198.18.77.1")
	cases := []struct {
		r    row.Row
		port uint16
		ok   bool
	}{
		{row.Row{SrcIP: scanner, SrcPort: 40000, DstIP: target, DstPort: startMarkerPort}, startMarkerPort, true},
		// A session whose first captured packet is the target's RST.
		{row.Row{SrcIP: target, SrcPort: endMarkerPort, DstIP: scanner, DstPort: 40000}, endMarkerPort, true},
		{row.Row{SrcIP: scanner, SrcPort: 40000, DstIP: target, DstPort: 22}, 0, false},
		// The marker port on another host is not a marker.
		{row.Row{SrcIP: target, SrcPort: 40000, DstIP: scanner, DstPort: startMarkerPort}, 0, false},
	}
	for i, c := range cases {
		port, ok := markerPort(&c.r, target)
		if port != c.port || ok != c.ok {
			t.Errorf("case %d: markerPort = %d, %v; want %d, %v", i, port, ok, c.port, c.ok)
		}
	}
}

func TestChildrenRefuseOtherTargets(t *testing.T) {
	for _, args := range [][]string{
		{"marker", "--target", "192.0.2.1", "--port", "80"},
		{"normal", "--target", "10.0.0.1", "--serve", "80"},
		{"serve", "--addr", "8.8.8.8", "--ports", "80"},
	} {
		var stderr bytes.Buffer
		code := Run(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "only network-namespace test hosts") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal", args, code, stderr.String())
		}
	}
}

// TestBuildSmall makes a small dataset in a real namespace pair: two
// techniques over 30 ports and a few hundred normal actions, then checks the
// files, the manifest's line ranges and that the namespaces are gone.
func TestBuildSmall(t *testing.T) {
	if why := netns.Available(); why != "" {
		t.Skip(why)
	}
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Skip("needs nmap (apt-get install nmap)")
	}
	if testing.Short() {
		t.Skip("builds tools and runs nmap")
	}
	bin := t.TempDir()
	for _, tool := range []string{"pcapsess", "trafficgen"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, tool), "scanwatch/cmd/"+tool).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", tool, err, out)
		}
	}
	t.Setenv(childEnv, "1")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	code := Run(ctx, []string{"--out", out, "--pcapsess", filepath.Join(bin, "pcapsess"), "--trafficgen", filepath.Join(bin, "trafficgen"),
		"--id", "201", "--techniques", "sS,sF", "--scan-ports", "1-30", "--chunk", "100", "--normal-max", "1m"}, nil, io.Discard, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	// pkg/netns names the pair after our pid (another test run may hold
	// its own pair 201 at the same time).
	if list, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(list), fmt.Sprintf("sw%d_201", os.Getpid()%10000)) {
		t.Errorf("namespaces left behind:\n%s", list)
	}
	var m Manifest
	js, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Bad) != 2 || m.Bad[0].Kind != "sS" || m.Bad[1].Kind != "sF" || len(m.Good) != 1 {
		t.Fatalf("manifest parts: %+v %+v", m.Bad, m.Good)
	}
	// Each technique scanned 30 closed ports: one row per port, from its
	// own capture, so the line ranges attribute rows to techniques.
	bad := readRows(t, filepath.Join(out, "bad.csv"))
	for _, p := range m.Bad {
		if p.Rows != 30 || p.Last-p.First+1 != 30 {
			t.Errorf("%s: %d rows, lines %d-%d; want 30", p.Kind, p.Rows, p.First, p.Last)
		}
		for _, r := range bad[p.First-2 : p.Last-1] {
			fin := r.FIN > 0
			if r.Label != 1 || r.DstIP.String() != "198.18.201.2" || (p.Kind == "sF") != fin {
				t.Errorf("%s row: %+v", p.Kind, r)
			}
		}
	}
	good := readRows(t, filepath.Join(out, "good.csv"))
	if len(good) < 60 || m.Good[0].Rows != len(good) {
		t.Errorf("good.csv has %d rows (manifest %d); want at least as many as bad.csv", len(good), m.Good[0].Rows)
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
	var out []row.Row
	for {
		var r row.Row
		err := rd.Read(&r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

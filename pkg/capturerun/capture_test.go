package capturerun

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scanwatch/pkg/row"
)

func TestIsMarker(t *testing.T) {
	target := netip.MustParseAddr("198.18.77.2")
	source := netip.MustParseAddr("198.18.77.1")
	other := netip.MustParseAddr("198.18.77.3")
	cases := []struct {
		r    row.Row
		port uint16
		ok   bool
	}{
		{row.Row{SrcIP: source, SrcPort: 40000, DstIP: target, DstPort: StartMarkerPort}, StartMarkerPort, true},
		// A session whose first captured packet is the target's RST.
		{row.Row{SrcIP: target, SrcPort: EndMarkerPort, DstIP: source, DstPort: 40000}, EndMarkerPort, true},
		{row.Row{SrcIP: source, SrcPort: 40000, DstIP: target, DstPort: 22}, 0, false},
		// The marker port from another source, or on another host, is traffic.
		{row.Row{SrcIP: other, SrcPort: 40000, DstIP: target, DstPort: StartMarkerPort}, 0, false},
		{row.Row{SrcIP: target, SrcPort: 40000, DstIP: source, DstPort: StartMarkerPort}, 0, false},
	}
	for i, c := range cases {
		port, ok := isMarker(&c.r, target, source)
		if port != c.port || ok != c.ok {
			t.Errorf("case %d: isMarker = %d, %v; want %d, %v", i, port, ok, c.port, c.ok)
		}
	}
}

func TestClassLabelerAttributesOurEndpoint(t *testing.T) {
	scanner := netip.MustParseAddr("127.0.66.10")
	target := netip.MustParseAddr("127.0.0.1")
	label := ClassLabeler(1, map[netip.Addr]string{scanner: "sS"})
	r := row.Row{SrcIP: target, DstIP: scanner} // resumed after idle: the target spoke first
	if kind, src := label(&r); kind != "sS" || src != scanner || r.Label != 1 {
		t.Errorf("got %s %s label %d", kind, src, r.Label)
	}
	r = row.Row{SrcIP: target, DstIP: target}
	if kind, _ := label(&r); kind != "unattributed" {
		t.Errorf("a row of no source of ours: kind %q", kind)
	}
}

// Captures append to one class file, each a range of its lines.
func TestClassFileLineRanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.csv")
	f, err := CreateClassFile(path)
	if err != nil {
		t.Fatal(err)
	}
	schema := row.SessionSchema(true)
	var firsts []int
	for part := range 2 {
		firsts = append(firsts, max(f.lines, 1)+1)
		for i := range 3 {
			r := row.Row{SrcIP: netip.MustParseAddr("127.0.0.2"), DstIP: netip.MustParseAddr("127.0.0.1"), DstPort: uint16(10*part + i), Label: 1}
			if err := f.write(&r, schema); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 7 || firsts[0] != 2 || firsts[1] != 5 || !strings.Contains(lines[4], ",10,") {
		t.Errorf("firsts %v, file:\n%s", firsts, b)
	}
	// A class file no row reached still has its header.
	empty := filepath.Join(t.TempDir(), "good.csv")
	f, _ = CreateClassFile(empty)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(empty); !strings.HasPrefix(string(b), "start_request_time,") {
		t.Errorf("empty class file: %q", b)
	}
}

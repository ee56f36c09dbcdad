package session

import (
	"context"
	"testing"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
)

// TestRealNmapCapture checks, on a capture of real nmap -sT -sS -sF -sN -sX
// runs against 127.0.0.1 ports 1-40,8080 (testdata/pcap/nmap-lo.pcap, made
// with tcpdump on lo), that every technique's probes carry its flag pattern.
func TestRealNmapCapture(t *testing.T) {
	src, err := capture.OpenFile("../../testdata/pcap/nmap-lo.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec, err := NewDecoder(src.Link)
	if err != nil {
		t.Fatal(err)
	}
	patterns := map[string]map[uint16]bool{}
	see := func(k string, port uint16) {
		if patterns[k] == nil {
			patterns[k] = map[uint16]bool{}
		}
		patterns[k][port] = true
	}
	tab := NewTable(Config{}, func(r *row.Row) error {
		if r.DstPort > 40 && r.DstPort != 8080 {
			return nil
		}
		switch {
		case r.FIN > 0 && r.URG > 0 && r.PSH > 0 && r.SYN == 0:
			see("xmas", r.DstPort)
		case r.FIN > 0 && r.SYN == 0 && r.ACK <= r.RST:
			see("fin", r.DstPort)
		case r.SYN == 0 && r.FIN == 0 && r.ACK == r.RST && r.RST <= 1 && r.SrcPackets >= 1:
			see("null", r.DstPort)
		case r.SYN >= 1 && r.InitWindow == 1024 && r.InitOptLen == 4:
			see("raw-syn", r.DstPort) // nmap's own SYN: window 1024, MSS only
		case r.SYN >= 1 && r.InitOptLen == 20:
			see("kernel-syn", r.DstPort) // connect(): the kernel's full option set
		default:
			t.Errorf("unexpected pattern: %+v", r)
		}
		return nil
	})
	if err := tab.Run(context.Background(), src, dec, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"xmas", "fin", "null", "raw-syn", "kernel-syn"} {
		// nmap retries an unanswered probe from another source port, so a
		// port may have two sessions; every probed port must appear.
		if len(patterns[k]) != 41 {
			t.Errorf("%s: %d ports, want 41 (ports 1-40 and 8080)", k, len(patterns[k]))
		}
	}
}

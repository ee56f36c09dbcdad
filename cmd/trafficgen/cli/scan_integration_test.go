package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"scanwatch/pkg/trafficgen"
)

// probeFlags is each technique's probe, and follow gives the other packets
// the scanner may send (connect completes and resets the handshake; syn
// resets an answered SYN). Everything else from the scanner is a failure.
var probeFlags = map[string]struct {
	probe  string
	follow []string
}{
	"sT": {"S", []string{"A", "RA"}},
	"sS": {"S", []string{"R"}},
	"sF": {"F", nil},
	"sN": {"", nil},
	"sX": {"FPU", nil},
	"sA": {"A", nil},
	"sW": {"A", nil},
	"sM": {"FA", nil},
}

// TestScanTechniquesOnLoopback runs `trafficgen scan` for every technique
// from its own spoofed 127.0.77.x source against 127.0.0.1 while tcpdump
// captures, and checks each technique's packets carry its flag pattern, that
// every port was probed, and that the target's replies came back to the
// spoofed source over lo.
func TestScanTechniquesOnLoopback(t *testing.T) {
	needRootTools(t, "nmap", "tcpdump")
	target := netip.MustParseAddr("127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := uint16(ln.Addr().(*net.TCPAddr).Port)
	lo, hi := open-5, open+5
	if open < 10 || open > 65000 {
		t.Skipf("listener port %d too close to an edge", open)
	}
	marker := closedPort(t)
	for i, tech := range trafficgen.Techniques {
		t.Run(tech.Short(), func(t *testing.T) {
			src := netip.AddrFrom4([4]byte{127, 0, 77, byte(10 + i)})
			cap := startCapture(t, "tcp and host "+src.String(), func(p tcpPacket) bool {
				return p.Src.Port() == marker && p.Dst.Addr() == src
			})
			var stdout, stderr bytes.Buffer
			args := []string{"scan", "--technique", tech.Short(), "--ports", fmt.Sprintf("%d-%d", lo, hi),
				"--source", src.String(), "--timing", "4", "--truth", "-"}
			code := Run(context.Background(), args, nil, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("trafficgen %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tech.Flag+" -Pn -n") {
				t.Errorf("nmap command line not on stderr:\n%s", stderr.String())
			}
			if !strings.Contains(stdout.String(), `"technique":"`+tech.Short()+`"`) {
				t.Errorf("no truth record on stdout: %s", stdout.String())
			}
			sendMarker(t, src, target, marker)
			packets := cap.stop(t, 10*time.Second)

			want := probeFlags[tech.Short()]
			probed := map[uint16]bool{}
			replies := 0
			for _, p := range packets {
				if p.Src.Port() == marker || p.Dst.Port() == marker {
					continue
				}
				switch {
				case p.Src.Addr() == src && p.Dst.Addr() == target:
					if p.Flags == want.probe {
						probed[p.Dst.Port()] = true
						if tech.Raw && p.Window != 1024 && tech.Short() != "sW" && tech.Short() != "sA" && tech.Short() != "sM" {
							// nmap's raw probes use window 1024 (a classic fingerprint)
							t.Errorf("raw probe with window %d: %+v", p.Window, p)
						}
						continue
					}
					if !contains(want.follow, p.Flags) {
						t.Errorf("scanner packet with flags %q, want %q or %q: %+v", p.Flags, want.probe, want.follow, p)
					}
				case p.Src.Addr() == target && p.Dst.Addr() == src:
					replies++
				default:
					t.Errorf("packet between unexpected hosts: %+v", p)
				}
			}
			for port := lo; port <= hi; port++ {
				if !probed[port] {
					t.Errorf("port %d never got a %q probe", port, want.probe)
				}
			}
			if replies == 0 {
				t.Errorf("no reply from %s came back to the source %s", target, src)
			}
			t.Logf("%s: %d packets, %d ports probed, %d replies to %s", tech.Flag, len(packets), len(probed), replies, src)
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

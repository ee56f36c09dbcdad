package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// TestLiveBusyScannerNetns: the live pipeline captures inside the target
// namespace of a veth pair; in the scanner namespace one host is a busy
// client (HTTP exchanges, keep-alive HTTP and interactive echo sessions at
// 50 actions/s) and scans the target three times (-sS, -sT, -sX) from the
// same address, while a second host makes refused connections at 4/s. Each
// scan is alerted within 1 s of its first probe, and nothing else is.
func TestLiveBusyScannerNetns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newNetnsRig(t, ctx, 150)
	bins, p, allow, inNS := r.bins, r.p, r.allow, r.in
	target := netip.MustParseAddr(r.target)
	busyAddr := netip.MustParseAddr(p.ScannerV4)
	others, err := p.AddScannerAddrs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	refused := others[0]

	var stderr bytes.Buffer
	pcap := filepath.Join(t.TempDir(), "netns.pcap")
	pl, err := Start(ctx, bins, Options{Namespace: p.Target, Interface: p.TargetIf, Save: pcap, Stderr: &stderr,
		ScanalertArgs: []string{"--episode-quiet", "2s"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = pl.Stop(10 * time.Second)
		}
	}()
	bg := func(args ...string) *Background { return r.client(t, args...) }
	client := bg("normal", "--target", target.String(), "--served", "18080", "--echo", "18090", "--mix", "exchange=4,keepalive=4,echo=1",
		"--ports", "20000-29999", "--rate", "50/s", "--concurrency", "4", "--count", "20000", "--duration", "120s", "--seed", "5")
	defer client.Stop(10 * time.Second)
	refusing := bg("normal", "--target", target.String(), "--source", refused.String(), "--mix", "sweep=9,closed=1",
		"--ports", "20000-29999", "--rate", "4/s", "--concurrency", "1", "--count", "1000", "--duration", "120s", "--seed", "6")
	defer refusing.Stop(10 * time.Second)

	time.Sleep(6 * time.Second) // normal traffic alone first
	scans := []*scanCase{
		{flag: "sS", name: "SYN", options: "-sS", source: busyAddr, ports: "40200-40229"},
		{flag: "sT", name: "connect", options: "-sT", source: busyAddr, ports: "40230-40259"},
		{flag: "sX", name: "XMAS", options: "-sX", source: busyAddr, ports: "40260-40289"},
	}
	for _, s := range scans {
		s.started = time.Now()
		out, err := inNS(p.Scanner, append([]string{bins.Trafficgen, "scan", "--target", target.String(), "--technique", s.flag,
			"--ports", s.ports, "--timing", "4"}, allow...)...).CombinedOutput()
		s.ended = time.Now()
		if err != nil {
			t.Fatalf("trafficgen scan -%s: %v\n%s", s.flag, err, out)
		}
		time.Sleep(4 * time.Second)
	}
	for name, b := range map[string]*Background{"busy client": client, "refused-connection client": refusing} {
		if err := b.Stop(10 * time.Second); err != nil {
			t.Logf("%s: %v", name, err)
		}
		t.Logf("%s: %s", name, lastLine(b.Stderr.String()))
	}
	time.Sleep(time.Second)
	if _, err := pl.Stop(15 * time.Second); err != nil {
		t.Fatalf("live pipeline: %v\n%s", err, stderr.String())
	}
	stopped = true
	t.Logf("live pipeline stderr:\n%s", stderr.String())
	live := pl.Alerts()
	for _, al := range live {
		t.Logf("live: %s", al.Line)
	}
	rows, err := Sessions(ctx, bins, pcap, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	per, flagged := map[netip.Addr]int{}, map[netip.Addr]int{}
	for i := range rows {
		per[rows[i].SrcIP]++
		flagged[rows[i].SrcIP] += rows[i].Prediction
	}
	t.Logf("sessions (called scans): busy host %d (%d), refused-connection client %d (%d)",
		per[busyAddr], flagged[busyAddr], per[refused], flagged[refused])
	if per[busyAddr] < 300 || per[refused] < 24 {
		t.Errorf("traffic too thin: %d busy-host sessions, %d refused-connection sessions", per[busyAddr], per[refused])
	}
	for i, s := range scans {
		t.Run(fmt.Sprintf("busy-%s", s.flag), func(t *testing.T) {
			var until time.Time
			if i+1 < len(scans) {
				until = scans[i+1].started
			}
			checkBusyScan(t, live, rows, s, target, until)
		})
	}
	for _, al := range live {
		if al.Scan.Scanner != busyAddr.String() {
			t.Errorf("alert from %s, not the scanning host: %s", al.Scan.Scanner, al.Line)
		}
	}
}

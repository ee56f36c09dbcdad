package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"scanwatch/pkg/row"
)

// requireLive skips unless the machine can run the live pipeline: root
// (AF_PACKET capture, nmap's raw probes) and nmap.
func requireLive(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("end-to-end live test needs root (live capture on lo, raw nmap probes): run as root, as CI does")
	}
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Skip("end-to-end live test needs nmap: apt-get install nmap (or `just deps`)")
	}
	if testing.Short() {
		t.Skip("end-to-end live test takes ~30 s; skipped with -short")
	}
}

// scanCase is one nmap run of the test.
type scanCase struct {
	ports   string // trafficgen --ports, for the busy client's scans
	flag    string // trafficgen --technique
	name    string // the technique's name in scan.techniques
	options string // scan.nmap_options
	source  netip.Addr
	started time.Time // wall clock just before trafficgen scan ran
	ended   time.Time
}

// TestLiveScans is the end-to-end test: the live pipeline on lo,
// legitimate clients for the whole test, one scan per technique from its own
// address at known times, then the saved capture replayed.
//
// The test's traffic uses its own 127.a.b.0/24 addresses (drawn at random)
// and pcapsess --host keeps only those, so that other tests sharing lo
// cannot add or hide alerts.
func TestLiveScans(t *testing.T) {
	requireLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bins, err := Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}

	a, b := byte(100+rand.IntN(100)), byte(1+rand.IntN(250))
	target := Addr(a, b, 1)
	web := Addr(a, b, 2)     // keep-alive HTTP client, busy
	refused := Addr(a, b, 3) // connection attempts to random closed ports
	slow := Addr(a, b, 4)    // one request a second: a person browsing, not a program
	served := freePort(t, target)
	scans := []*scanCase{
		{flag: "sS", name: "SYN", options: "-sS"},
		{flag: "sT", name: "connect", options: "-sT"},
		{flag: "sF", name: "FIN", options: "-sF"},
		{flag: "sN", name: "NULL", options: "-sN"},
		{flag: "sX", name: "XMAS", options: "-sX"},
	}
	for i, s := range scans {
		s.source = Addr(a, b, byte(11+i))
	}
	// A few dozen ports around nothing in particular, plus the served port:
	// each scan meets closed ports and one open port.
	scanPorts := fmt.Sprintf("%d,40100-40129", served)
	t.Logf("target %s (served port %d), keep-alive client %s, refused-connection client %s, scanners %s-%s",
		target, served, web, refused, scans[0].source, scans[len(scans)-1].source)

	var stderr bytes.Buffer
	pcap := filepath.Join(dir, "live.pcap")
	hosts := []netip.Addr{target}
	// A quiet of 2 s ends the busy client's scan episodes before its next scan.
	p, err := Start(ctx, bins, Options{Hosts: hosts, Save: pcap, Stderr: &stderr, ScanalertArgs: []string{"--episode-quiet", "2s"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	pipelineStopped := false
	defer func() {
		if !pipelineStopped {
			_, _ = p.Stop(10 * time.Second)
		}
	}()

	// Legitimate traffic for the whole test; both are bounded by count and
	// duration and stopped with SIGINT when the scans are done.
	webClient, err := StartBackground(bins.Trafficgen, "normal", "--target", target.String(), "--source", web.String(),
		"--serve", fmt.Sprint(served), "--ports", fmt.Sprint(served),
		"--rate", "40/s", "--concurrency", "4", "--count", "6000", "--duration", "150s", "--seed", "7")
	if err != nil {
		t.Fatal(err)
	}
	defer webClient.Stop(10 * time.Second)
	// Time for the server to listen before the refused client (whose ports are
	// elsewhere) starts; the web client's first actions may be refused anyway.
	time.Sleep(300 * time.Millisecond)
	refusedClient, err := StartBackground(bins.Trafficgen, "normal", "--target", target.String(), "--source", refused.String(),
		"--ports", "20000-29999", "--rate", "4/s", "--concurrency", "1", "--count", "600", "--duration", "150s", "--seed", "8")
	if err != nil {
		t.Fatal(err)
	}
	defer refusedClient.Stop(10 * time.Second)
	// Sparse traffic: each session stands alone in pcapsess's fanout window,
	// yet 5 of them fall in scanalert's 5 s window.
	slowClient, err := StartBackground(bins.Trafficgen, "normal", "--target", target.String(), "--source", slow.String(),
		"--serve", "0", "--ports", "20000-29999", "--rate", "1/s", "--concurrency", "1", "--count", "150", "--duration", "150s", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	defer slowClient.Stop(10 * time.Second)

	// Normal traffic only, long enough for scanalert's 5 s window to fill.
	const gap = 3 * time.Second
	time.Sleep(6 * time.Second)
	normalOnlyUntil := time.Now()
	for _, s := range scans {
		s.started = time.Now()
		out, err := exec.CommandContext(ctx, bins.Trafficgen, "scan", "--target", target.String(), "--source", s.source.String(),
			"--technique", s.flag, "--ports", scanPorts, "--timing", "4").CombinedOutput()
		s.ended = time.Now()
		if err != nil {
			t.Fatalf("trafficgen scan -%s: %v\n%s", s.flag, err, out)
		}
		time.Sleep(gap)
	}

	// Then the keep-alive client's address scans too, on ports its own
	// traffic never uses: a scanner that is also a busy client. Each scan
	// takes other ports: a service the host contacted in the last 5 s is not
	// a first contact again (pkg/session/context.go).
	busy := []*scanCase{
		{flag: "sS", name: "SYN", options: "-sS", source: web, ports: "40200-40229"},
		{flag: "sT", name: "connect", options: "-sT", source: web, ports: "40230-40259"},
		{flag: "sX", name: "XMAS", options: "-sX", source: web, ports: "40260-40289"},
	}
	for _, s := range busy {
		s.started = time.Now()
		out, err := exec.CommandContext(ctx, bins.Trafficgen, "scan", "--target", target.String(), "--source", s.source.String(),
			"--technique", s.flag, "--ports", s.ports, "--timing", "4").CombinedOutput()
		s.ended = time.Now()
		if err != nil {
			t.Fatalf("trafficgen scan -%s: %v\n%s", s.flag, err, out)
		}
		time.Sleep(gap + time.Second)
	}

	if err := webClient.Stop(10 * time.Second); err != nil {
		t.Logf("keep-alive client: %v", err)
	}
	if err := refusedClient.Stop(10 * time.Second); err != nil {
		t.Logf("refused-connection client: %v", err)
	}
	if err := slowClient.Stop(10 * time.Second); err != nil {
		t.Logf("slow client: %v", err)
	}
	t.Logf("keep-alive client: %s", lastLine(webClient.Stderr.String()))
	t.Logf("slow client: %s", lastLine(slowClient.Stderr.String()))
	t.Logf("refused-connection client: %s", lastLine(refusedClient.Stderr.String()))
	time.Sleep(time.Second) // the last sessions go idle and leave pcapsess
	code, err := p.Stop(15 * time.Second)
	pipelineStopped = true
	if err != nil {
		t.Fatalf("live pipeline: %v\n%s", err, stderr.String())
	}
	t.Logf("live pipeline stderr:\n%s", stderr.String())
	live := p.Alerts()
	for _, al := range live {
		t.Logf("live: %s", al.Line)
	}
	if code != 3 {
		t.Errorf("scanalert exit status %d, want 3 (alerts raised)", code)
	}

	// Ground truth from the capture itself: when each address sent its first
	// packet, and proof that the legitimate clients were busy.
	rows, err := Sessions(ctx, bins, pcap, hosts, true)
	if err != nil {
		t.Fatal(err)
	}
	bySource, flagged := map[netip.Addr]int{}, map[netip.Addr]int{}
	for i := range rows {
		bySource[rows[i].SrcIP]++
		flagged[rows[i].SrcIP] += rows[i].Prediction
	}
	// What the model made of each client, for the report when a false alert fails the test.
	t.Logf("sessions the model calls scans: keep-alive client %d/%d, refused-connection client %d/%d, slow client %d/%d",
		flagged[web], bySource[web], flagged[refused], bySource[refused], flagged[slow], bySource[slow])
	t.Logf("sessions in the capture: keep-alive client %d, refused-connection client %d, slow client %d, scanners %d %d %d %d %d",
		bySource[web], bySource[refused], bySource[slow], bySource[scans[0].source], bySource[scans[1].source],
		bySource[scans[2].source], bySource[scans[3].source], bySource[scans[4].source])
	if bySource[web] < 100 || bySource[refused] < 24 || bySource[slow] < 10 {
		t.Errorf("legitimate traffic too thin to test false alerts: %d keep-alive client sessions (want ≥ 100), %d refused-connection sessions (want ≥ 24), %d slow client sessions (want ≥ 10)",
			bySource[web], bySource[refused], bySource[slow])
	}
	first := FirstPacket(rows, 0)

	for _, s := range scans {
		t.Run("-"+s.flag, func(t *testing.T) {
			var starts, ends []Alert
			for _, al := range live {
				if al.Scan.Scanner != s.source.String() {
					continue
				}
				switch al.Scan.State {
				case "start":
					starts = append(starts, al)
				case "end":
					ends = append(ends, al)
				}
			}
			if len(starts) != 1 {
				t.Fatalf("scan -%s from %s: %d start records, want 1", s.flag, s.source, len(starts))
			}
			st := starts[0]
			if st.SrcIP != s.source.String() || !slices.Equal(st.Scan.Targets, []string{target.String()}) || st.DestIP != target.String() {
				t.Errorf("start record names scanner %s (src_ip %s) → targets %v (dest_ip %s), want %s → %s",
					st.Scan.Scanner, st.SrcIP, st.Scan.Targets, st.DestIP, s.source, target)
			}
			if st.Scan.NmapOptions != s.options || len(st.Scan.Techniques) != 1 || st.Scan.Techniques[s.name] == 0 {
				t.Errorf("start record says techniques %v (%s), want only %s (%s)", st.Scan.Techniques, st.Scan.NmapOptions, s.name, s.options)
			}
			if want := "nmap " + s.name + " scan from " + s.source.String(); !strings.Contains(st.Alert.Signature, want) {
				t.Errorf("signature %q does not say %q", st.Alert.Signature, want)
			}
			// Known times: the alert is about the scan run just then.
			if st.Scan.First.Before(s.started) || st.Scan.First.After(s.ended) {
				t.Errorf("first anomalous packet at %s, outside the scan's run %s - %s",
					st.Scan.First.Format(time.StampMicro), s.started.Format(time.StampMicro), s.ended.Format(time.StampMicro))
			}
			if len(ends) != 1 {
				t.Errorf("%d end records, want 1", len(ends))
			} else if ends[0].Scan.NmapOptions != s.options {
				t.Errorf("end record says techniques %v (%s), want %s", ends[0].Scan.Techniques, ends[0].Scan.NmapOptions, s.options)
			}
			probe, ok := first[s.source]
			if !ok {
				t.Fatalf("no session from %s in the capture", s.source)
			}
			fp := time.Unix(0, probe)
			t.Logf("-%s from %s: first probe %s → start record on scanalert's stdout %s: latency %.0f ms (packet time: first probe → alert timestamp %.3f ms); episode: %d anomalies, ports %s",
				s.flag, s.source, fp.Format(time.StampMicro), st.Received.Format(time.StampMicro),
				float64(st.Received.Sub(fp))/1e6, float64(st.Timestamp.Sub(fp))/1e6, lastAnomalies(ends), lastPorts(ends))
		})
	}

	for i, s := range busy {
		t.Run("busy-"+s.flag, func(t *testing.T) {
			var until time.Time
			if i+1 < len(busy) {
				until = busy[i+1].started
			}
			checkBusyScan(t, live, rows, s, target, until)
		})
	}

	// No alert from anything but the scanners: the legitimate clients are
	// named so that a failure says which kind of traffic the model took for a scan.
	scanners := map[string]bool{}
	for _, s := range scans {
		scanners[s.source.String()] = true
	}
	for _, al := range live {
		switch {
		case scanners[al.Scan.Scanner]:
		case al.Scan.Scanner == web.String() && !al.Timestamp.Before(busy[0].started):
			// the busy client's own scans, checked above
		case al.Scan.Scanner == web.String():
			t.Errorf("no alert from the keep-alive HTTP client: got %s", al.Line)
		case al.Scan.Scanner == refused.String():
			t.Errorf("no alert from the refused-connection client: got %s", al.Line)
		case al.Scan.Scanner == slow.String():
			t.Errorf("no alert from the slow client (1 request/s): got %s", al.Line)
		default:
			t.Errorf("no alert from any other address: got %s", al.Line)
		}
		if al.Scan.State == "start" && al.Timestamp.Before(normalOnlyUntil) {
			t.Errorf("no alert while only normal traffic flows: got %s", al.Line)
		}
	}

	// The saved capture replayed must give the same records, byte for byte.
	replay, err := Replay(ctx, bins, pcap, hosts, "--episode-quiet", "2s")
	if err != nil {
		t.Fatal(err)
	}
	var liveOut bytes.Buffer
	for _, al := range live {
		liveOut.WriteString(al.Line + "\n")
	}
	if !bytes.Equal(startLines(liveOut.Bytes()), startLines(replay)) {
		t.Errorf("replay of the capture gave other start records:\nlive:\n%s\nreplay:\n%s", startLines(liveOut.Bytes()), startLines(replay))
	} else if !bytes.Equal(liveOut.Bytes(), replay) {
		t.Errorf("replay gave the same start records but other update/end records:\nlive:\n%s\nreplay:\n%s", liveOut.Bytes(), replay)
	} else {
		t.Logf("replay of %s gave the same %d records", pcap, len(live))
	}
}

// freePort returns a TCP port nothing listens on at addr right now.
func freePort(t *testing.T, addr netip.Addr) int {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startLines(eve []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(eve, []byte("\n")) {
		if bytes.Contains(l, []byte(`"state":"start"`)) {
			out = append(out, l...)
		}
	}
	return out
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func lastAnomalies(ends []Alert) int {
	if len(ends) == 0 {
		return 0
	}
	return ends[len(ends)-1].Scan.Anomalies
}

func lastPorts(ends []Alert) string {
	if len(ends) == 0 {
		return "?"
	}
	return ends[len(ends)-1].Scan.Ports
}

// checkBusyScan checks the alert for a scan run from an address that was a
// busy client at the same time: one start record for the address after its
// first probe and before the next scan (until, zero = none), none before the
// scan started, the technique named, and the start record read within 1 s
// (wall clock) of the first probe.
func checkBusyScan(t *testing.T, live []Alert, rows []row.Row, s *scanCase, target netip.Addr, until time.Time) {
	t.Helper()
	var lo, hi uint16
	if _, err := fmt.Sscanf(s.ports, "%d-%d", &lo, &hi); err != nil {
		t.Fatalf("ports %q: %v", s.ports, err)
	}
	var probe int64
	for i := range rows {
		r := &rows[i]
		st := time.Unix(0, r.StartRequest)
		if r.SrcIP == s.source && r.DstPort >= lo && r.DstPort <= hi && !st.Before(s.started.Add(-time.Second)) &&
			(probe == 0 || r.StartRequest < probe) {
			probe = r.StartRequest
		}
	}
	if probe == 0 {
		t.Fatalf("no probe of -%s from %s in the capture", s.flag, s.source)
	}
	fp := time.Unix(0, probe)
	var starts []Alert
	for _, al := range live {
		if al.Scan.Scanner != s.source.String() || al.Scan.State != "start" {
			continue
		}
		if al.Timestamp.Before(fp) && !al.Timestamp.Before(s.started.Add(-3*time.Second)) {
			t.Errorf("alert for %s before its -%s scan's first probe (%s): %s", s.source, s.flag, fp.Format(time.StampMicro), al.Line)
		}
		if !al.Timestamp.Before(fp) && (until.IsZero() || al.Timestamp.Before(until)) {
			starts = append(starts, al)
		}
	}
	if len(starts) != 1 {
		t.Fatalf("busy client %s scanning -%s: %d start records, want 1", s.source, s.flag, len(starts))
	}
	st := starts[0]
	if !strings.Contains(st.Alert.Signature, "nmap "+s.name+" scan from "+s.source.String()) || st.DestIP != target.String() {
		t.Errorf("start record %q → %s, want an nmap %s scan from %s → %s", st.Alert.Signature, st.DestIP, s.name, s.source, target)
	}
	lat := st.Received.Sub(fp)
	t.Logf("busy client %s: -%s first probe %s → start record read %s: %.0f ms (packet time %.1f ms); window %d/%d services",
		s.source, s.flag, fp.Format(time.StampMicro), st.Received.Format(time.StampMicro), float64(lat)/1e6,
		float64(st.Timestamp.Sub(fp))/1e6, st.Scan.WindowAnomalousServices, st.Scan.WindowServices)
	if lat > time.Second {
		t.Errorf("alert %.0f ms after the first probe, want within 1 s", float64(lat)/1e6)
	}
}

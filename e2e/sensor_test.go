package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"scanwatch/pkg/netns"
)

// TestSensorWorkersNetns is the many-core sensor on a real link: pcapsess
// -i with 2 workers (an AF_PACKET fanout group) captures inside the target
// namespace of a veth pair while a busy client, a refused-connection
// client and nmap scans from two sources run in the scanner namespace.
//
//   - The rows the 2 workers wrote live are, byte for byte, the rows one
//     worker makes of the saved packets (-w, replayed with -r), and those
//     2 and 3 workers make of them: the per-initiator context (ctx_*),
//     whose sessions the workers split, is the single table's.
//   - scanclass | scanalert over the live rows raise the same alerts as
//     over the one-worker replay.
//   - /metrics, scraped during the run and once the traffic is over,
//     agrees with the summary pcapsess writes on stderr at exit.
func TestSensorWorkersNetns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newNetnsRig(t, ctx, 100)
	bins, p, target, allow, inNS := r.bins, r.p, r.target, r.allow, r.in
	sources, err := p.AddScannerAddrs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	saved := filepath.Join(dir, "live.pcap")
	liveRows := filepath.Join(dir, "live.csv")
	rowsFile, err := os.Create(liveRows)
	if err != nil {
		t.Fatal(err)
	}
	defer rowsFile.Close()
	port := 19100 + rand.IntN(800)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", port)
	// ip netns exec execs: the process is pcapsess itself.
	capture := inNS(p.Target, bins.Pcapsess, "-i", p.TargetIf, "--workers", "2", "-w", saved, "--metrics", metricsAddr)
	var capErr bytes.Buffer
	capture.Stdout, capture.Stderr = rowsFile, &capErr
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			capture.Process.Kill()
			capture.Wait()
		}
	}()
	if err := waitDropped(ctx, capture.Process.Pid, 10*time.Second); err != nil {
		t.Fatalf("%v: %s", err, capErr.String())
	}

	bg := func(args ...string) *Background { return r.client(t, args...) }
	busy := bg("normal", "--target", target, "--source", sources[0].String(), "--served", "18080", "--echo", "18090",
		"--mix", "exchange=4,keepalive=4,echo=1,sweep=1", "--ports", "20000-20999", "--rate", "60/s", "--concurrency", "4",
		"--count", "600", "--duration", "20s", "--seed", "11")
	defer busy.Stop(10 * time.Second)
	refusing := bg("normal", "--target", target, "--source", sources[1].String(), "--mix", "sweep=9,closed=1",
		"--ports", "21000-29999", "--rate", "8/s", "--concurrency", "1", "--count", "100", "--duration", "20s", "--seed", "12")
	defer refusing.Stop(10 * time.Second)
	time.Sleep(2 * time.Second)
	for _, s := range []struct{ tech, src, ports string }{
		{"sS", sources[0].String(), "40000-40199"},
		{"sT", sources[1].String(), "40200-40299"},
		{"sF", p.ScannerV4, "40300-40399"},
	} {
		out, err := inNS(p.Scanner, append([]string{bins.Trafficgen, "scan", "--target", target, "--technique", s.tech,
			"--source", s.src, "--ports", s.ports, "--timing", "4"}, allow...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("trafficgen scan -%s: %v\n%s", s.tech, err, out)
		}
		during, err := scrape(p.Target, metricsAddr)
		if err != nil {
			t.Fatalf("scrape during the run: %v", err)
		}
		if during.sum("scanwatch_pcapsess_packets_total") == 0 || len(during.samples("scanwatch_pcapsess_packets_total")) != 2 {
			t.Errorf("scrape during the run: packets %v", during.samples("scanwatch_pcapsess_packets_total"))
		}
		time.Sleep(time.Second)
	}
	for _, b := range []*Background{busy, refusing} {
		if err := b.Wait(); err != nil {
			t.Logf("client: %v: %s", err, lastLine(b.Stderr.String()))
		}
	}
	time.Sleep(time.Second) // the last sessions go idle and leave
	last, err := scrape(p.Target, metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	capture.Process.Signal(syscall.SIGINT)
	if err := capture.Wait(); err != nil {
		t.Fatalf("pcapsess: %v\n%s", err, capErr.String())
	}
	stopped = true
	t.Logf("pcapsess stderr:\n%s", capErr.String())
	checkSummary(t, last, capErr.String())

	// Rows: live with 2 workers = replay with 1, 2 and 3.
	live, err := os.ReadFile(liveRows)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(live, []byte("\n")); n < 500 {
		t.Errorf("only %d live rows: traffic too thin", n)
	}
	for _, workers := range []string{"1", "2", "3"} {
		replay, err := exec.CommandContext(ctx, bins.Pcapsess, "-r", saved, "--workers", workers, "-q").Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(replay, live) {
			t.Errorf("replay with %s worker(s) differs from the live rows of 2 workers: %s", workers, lineDiff(live, replay))
		}
	}
	// Alerts: the same from the live rows as from the replay's.
	liveAlerts := alertsOf(t, ctx, bins, live)
	replayRows, err := exec.CommandContext(ctx, bins.Pcapsess, "-r", saved, "-q").Output()
	if err != nil {
		t.Fatal(err)
	}
	if replayAlerts := alertsOf(t, ctx, bins, replayRows); replayAlerts != liveAlerts {
		t.Errorf("alerts differ:\nlive rows:\n%s\nreplay rows:\n%s", liveAlerts, replayAlerts)
	}
	t.Logf("%d alert records from the live rows", strings.Count(liveAlerts, "\n"))
	// Each scan is alerted, from the live rows of 2 workers.
	for _, src := range []string{sources[0].String(), sources[1].String(), p.ScannerV4} {
		if !strings.Contains(liveAlerts, `"src_ip":"`+src+`"`) {
			t.Errorf("no alert names the scanner %s:\n%s", src, liveAlerts)
		}
	}
}

// alertsOf runs rows through scanclass | scanalert --format eve with the
// embedded model: equal rows must give equal alerts.
func alertsOf(t *testing.T, ctx context.Context, bins Bins, rows []byte) string {
	t.Helper()
	cls := exec.CommandContext(ctx, bins.Scanclass)
	cls.Stdin = bytes.NewReader(rows)
	var clsErr bytes.Buffer
	cls.Stderr = &clsErr
	scored, err := cls.Output()
	if err != nil {
		t.Fatalf("scanclass: %v: %s", err, clsErr.String())
	}
	det := exec.CommandContext(ctx, bins.Scanalert, "--format", "eve", "--no-summary")
	det.Stdin = bytes.NewReader(scored)
	out, err := det.Output()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 3) {
		t.Fatalf("scanalert: %v", err)
	}
	return string(out)
}

func lineDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("%d lines against %d; line %d:\n live   %s\n replay %s", len(al), len(bl), i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines against %d", len(al), len(bl))
}

// exposition is a parsed /metrics: sample name with labels → value.
type exposition map[string]float64

func (e exposition) samples(name string) []string {
	var out []string
	for k := range e {
		if k == name || strings.HasPrefix(k, name+"{") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (e exposition) sum(name string) float64 {
	var s float64
	for _, k := range e.samples(name) {
		s += e[k]
	}
	return s
}

// scrape GETs /metrics from addr inside namespace ns.
func scrape(ns, addr string) (exposition, error) {
	var conn net.Conn
	err := netns.Do(ns, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	e := exposition{}
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %v", l, err)
		}
		e[l[:i]] = v
	}
	return e, nil
}

var workerLine = regexp.MustCompile(`pcapsess: worker (\d+): (\d+) packets \(IPv4 (\d+), IPv6 (\d+)\), (\d+) TCP, (\d+) sessions written.*; kernel: (\d+) received, (\d+) dropped`)

// checkSummary holds the last scrape (taken once the traffic was over)
// against the per-worker lines of the summary at exit: the same packets,
// TCP packets and kernel figures, and every session open at the scrape
// written by the exit.
func checkSummary(t *testing.T, last exposition, stderr string) {
	t.Helper()
	lines := workerLine.FindAllStringSubmatch(stderr, -1)
	if len(lines) != 2 {
		t.Fatalf("want a summary line for each of 2 workers:\n%s", stderr)
	}
	for _, m := range lines {
		w := m[1]
		got := func(name string, labels ...string) float64 {
			k := name + `{worker="` + w + `"`
			for i := 0; i+1 < len(labels); i += 2 {
				k += `,` + labels[i] + `="` + labels[i+1] + `"`
			}
			return last[k+"}"]
		}
		num := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
		for _, c := range []struct {
			name   string
			scrape float64
			exit   float64
		}{
			{"packets", got("scanwatch_pcapsess_packets_total"), num(2)},
			{"IPv4", got("scanwatch_pcapsess_link_packets_total", "link", "Ethernet", "ip_version", "4"), num(3)},
			{"IPv6", got("scanwatch_pcapsess_link_packets_total", "link", "Ethernet", "ip_version", "6"), num(4)},
			{"TCP", got("scanwatch_pcapsess_tcp_packets_total"), num(5)},
			{"kernel received", got("scanwatch_pcapsess_kernel_packets_total"), num(7)},
			{"kernel dropped", got("scanwatch_pcapsess_kernel_drops_total"), num(8)},
			{"sessions written and open", got("scanwatch_pcapsess_sessions_written_total") + got("scanwatch_pcapsess_sessions_open"), num(6)},
		} {
			// Nothing but stray neighbour discovery may cross the link
			// between the last scrape and the exit.
			if c.exit < c.scrape || c.exit > c.scrape+3 {
				t.Errorf("worker %s: %s %v at the last scrape, %v in the summary at exit", w, c.name, c.scrape, c.exit)
			}
		}
		if num(2) < 100 {
			t.Errorf("worker %s read only %s packets: the flows were not spread", w, m[2])
		}
	}
}

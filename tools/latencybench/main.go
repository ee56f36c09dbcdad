// Command latencybench measures how long the live pipeline takes from a
// scan's first probe to its alert: it runs `pcapsess -i lo | scanclass |
// scanalert` while `trafficgen mix` sends normal traffic and nmap scans,
// matches every scan of trafficgen's ground-truth log to the start record
// it raised, and prints p50/p95 of first probe (packet time, from the saved
// capture) → start record readable on scanalert's stdout (wall clock).
//
// With -bus the alert goes through NATS JetStream: the sensor is `pcapsess
// -i lo | scanclass | scanbus publish`, a 3-node cluster runs on 127.0.0.1
// ports, and the alert is read from a central `scanalert --subscribe`.
//
// Root and nmap are needed (`just bench-latency` builds the tools first).
// Traffic goes to loopback only: the mix's own 127.a.b.0/24 addresses,
// which pcapsess --host keeps apart from anything else on lo.
//
// All scans of a mix come from one --scan-source, and scanalert raises one
// alert per scanner per episode: a scan is its own episode only when the
// one before it has been quiet for --quiet. So the mix is paced (one step
// every 2 s by default) and scanalert runs with --quiet 1s; a scan that
// still fell into the previous one's episode is reported as merged and left
// out of the percentiles.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"scanwatch/e2e"
	"scanwatch/pkg/bus/natsbus/natstest"
	"scanwatch/pkg/trafficgen"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding pcapsess, scanclass, scanalert and trafficgen")
	steps := flag.Int("steps", 60, "trafficgen mix --steps")
	p := flag.Float64("p", 0.45, "trafficgen mix --p (probability that a step is a scan)")
	rate := flag.String("rate", "30/m", "trafficgen mix --rate (steps per second or minute)")
	seed := flag.Uint64("seed", 1, "trafficgen mix --seed")
	quiet := flag.Duration("quiet", time.Second, "scanalert --quiet: packet time that ends a scan episode")
	netB := flag.Int("net", 201, "use addresses 127.NET.0.x (target .1, normal clients .2, scanner .3)")
	keep := flag.String("keep", "", "keep the capture, truth log and alerts in this directory")
	viaBus := flag.Bool("bus", false, "through NATS JetStream: sensor → 3-node cluster on loopback → central scanalert --subscribe")
	flag.Parse()
	if err := run(*bin, *steps, *p, *rate, *seed, *quiet, byte(*netB), *keep, *viaBus); err != nil {
		fmt.Fprintln(os.Stderr, "latencybench:", err)
		os.Exit(1)
	}
}

func run(bin string, steps int, p float64, rate string, seed uint64, quiet time.Duration, netB byte, keep string, viaBus bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (live capture on lo, raw nmap probes)")
	}
	dir := keep
	if dir == "" {
		d, err := os.MkdirTemp("", "latencybench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bins := e2e.BinsIn(bin)
	target, source, scanner := e2e.Addr(netB, 0, 1), e2e.Addr(netB, 0, 2), e2e.Addr(netB, 0, 3)
	served, err := freePort(target)
	if err != nil {
		return err
	}
	ctx := context.Background()
	pcap, truthFile := filepath.Join(dir, "live.pcap"), filepath.Join(dir, "truth.ndjson")
	hosts := []netip.Addr{target}
	opt := e2e.Options{Hosts: hosts, Save: pcap, Stderr: os.Stderr,
		ScanalertArgs: []string{"--quiet", quiet.String(), "--log", filepath.Join(dir, "alerts.json")}}
	var central *e2e.Pipeline
	if viaBus {
		cluster, err := natstest.BuildAndStart(ctx, dir, 3)
		if err != nil {
			return err
		}
		defer cluster.Close()
		opt.Publish = &e2e.Publish{URL: cluster.URL(), Sensor: "lo"}
		if central, err = e2e.StartCentral(bins, cluster.URL(), os.Stderr, "--episode-quiet", quiet.String(), "--consumer", "latency",
			"--log", filepath.Join(dir, "alerts.json")); err != nil {
			return err
		}
		defer central.Stop(10 * time.Second)
	}
	pl, err := e2e.Start(ctx, bins, opt)
	if err != nil {
		return err
	}
	alerter := pl
	if central != nil {
		alerter = central
	}
	fmt.Fprintf(os.Stderr, "latencybench: trafficgen mix --steps %d --p %g --rate %s against %s (scanner %s); files in %s\n",
		steps, p, rate, target, scanner, dir)
	mix, err := e2e.StartBackground(bins.Trafficgen, "mix", "--target", target.String(), "--source", source.String(),
		"--scan-source", scanner.String(), "--serve", fmt.Sprint(served), "--steps", fmt.Sprint(steps),
		"--p", fmt.Sprint(p), "--rate", rate, "--seed", fmt.Sprint(seed), "--duration", "20m", "--truth", truthFile)
	if err != nil {
		_, _ = pl.Stop(10 * time.Second)
		return err
	}
	mixErr := mix.Wait()
	time.Sleep(1500 * time.Millisecond) // the last sessions go idle and leave pcapsess
	if _, err := pl.Stop(15 * time.Second); err != nil {
		return err
	}
	if central != nil {
		time.Sleep(time.Second) // the last rows through the broker
		if _, err := central.Stop(15 * time.Second); err != nil {
			return err
		}
	}
	if mixErr != nil {
		return fmt.Errorf("trafficgen mix: %v\n%s", mixErr, mix.Stderr.String())
	}

	truth, err := readTruth(truthFile)
	if err != nil {
		return err
	}
	rows, err := e2e.Sessions(ctx, bins, pcap, hosts, true)
	if err != nil {
		return err
	}
	var probes []int64 // the scanner's sessions' first packets, sorted
	var normal, normalFlagged int
	for i := range rows {
		switch rows[i].SrcIP {
		case scanner:
			probes = append(probes, rows[i].StartRequest)
		case source:
			normal++
			normalFlagged += rows[i].Prediction
		}
	}
	slices.Sort(probes)
	var starts []e2e.Alert
	for _, a := range alerter.Alerts() {
		if a.Scan.State == "start" && a.Scan.Scanner == scanner.String() {
			starts = append(starts, a)
		}
	}

	var wall, packet []float64
	var merged, missed int
	lastAnomaly := time.Time{} // of the scanner's episodes, from the records seen so far
	fmt.Printf("| step | technique | ports | first probe | alert on stdout | latency ms | packet-time ms |\n|---|---|---|---|---|---|---|\n")
	for _, tr := range truth {
		if tr.Kind != trafficgen.KindScan || tr.Error != "" {
			continue
		}
		from, _ := time.Parse(time.RFC3339Nano, tr.Start)
		to, _ := time.Parse(time.RFC3339Nano, tr.End)
		i, _ := slices.BinarySearch(probes, from.UnixNano())
		if i == len(probes) || probes[i] > to.UnixNano() {
			fmt.Printf("| %d | %s | %s | no packet captured | | | |\n", tr.Step, tr.Technique, tr.Ports)
			missed++
			continue
		}
		first := time.Unix(0, probes[i])
		var hit *e2e.Alert
		for j := range starts {
			if f := starts[j].Scan.First.Time; !f.Before(from) && !f.After(to) {
				hit = &starts[j]
				break
			}
		}
		switch {
		case hit != nil:
			l := hit.Received.Sub(first)
			wall = append(wall, float64(l)/1e6)
			packet = append(packet, float64(hit.Timestamp.Sub(first))/1e6)
			fmt.Printf("| %d | -%s | %s | %s | %s | %.0f | %.3f |\n", tr.Step, tr.Technique, tr.Ports,
				first.UTC().Format("15:04:05.000000"), hit.Received.UTC().Format("15:04:05.000000"), float64(l)/1e6, packet[len(packet)-1])
		case !lastAnomaly.IsZero() && first.Sub(lastAnomaly) < quiet:
			fmt.Printf("| %d | -%s | %s | %s | merged into the previous episode | | |\n", tr.Step, tr.Technique, tr.Ports, first.UTC().Format("15:04:05.000000"))
			merged++
		default:
			fmt.Printf("| %d | -%s | %s | %s | no alert | | |\n", tr.Step, tr.Technique, tr.Ports, first.UTC().Format("15:04:05.000000"))
			missed++
		}
		// The scan's last probe bounds when its episode can end.
		if j, _ := slices.BinarySearch(probes, to.UnixNano()+1); j > 0 {
			lastAnomaly = time.Unix(0, probes[j-1])
		}
	}
	if len(wall) == 0 {
		return fmt.Errorf("no scan was alerted (%d merged, %d missed)", merged, missed)
	}
	fmt.Printf("\n%d scans alerted as their own episode (%d merged into the one before, %d missed)\n", len(wall), merged, missed)
	goal, via := 1000, ""
	if viaBus {
		goal, via = 1500, " through NATS JetStream"
	}
	fmt.Printf("first probe → alert on scanalert's stdout%s: p50 %.0f ms, p95 %.0f ms, max %.0f ms (target p95 ≤ %d ms)\n",
		via, quantile(wall, 0.5), quantile(wall, 0.95), slices.Max(wall), goal)
	fmt.Printf("normal client %s: the model called %d of its %d sessions scans\n", source, normalFlagged, normal)
	fmt.Printf("of which packet time (first probe → alert timestamp): p50 %.3f ms, p95 %.3f ms\n", quantile(packet, 0.5), quantile(packet, 0.95))
	return nil
}

// quantile is the nearest-rank quantile.
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(q*float64(len(s))))-1)]
}

func readTruth(name string) ([]trafficgen.TruthRecord, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []trafficgen.TruthRecord
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var r trafficgen.TruthRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

func freePort(addr netip.Addr) (int, error) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

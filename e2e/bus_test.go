package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"scanwatch/pkg/alert"
	"scanwatch/pkg/bus"
	"scanwatch/pkg/bus/natsbus"
	"scanwatch/pkg/bus/natsbus/natstest"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/netns"
)

// TestBusThreeSensors is issue 12's integration test: a real 3-node
// JetStream cluster on loopback ports; three sites (network namespaces),
// each watched by a live sensor `pcapsess -i | scanclass | scanbus
// publish`; real clients in every site; one scanner sweeping two hosts
// behind each sensor, two ports each (4 services per sensor, under the
// rule's 5 everywhere); and a scan split over 8 addresses of one /24,
// three ports each, spread over the sites (real nmap -S from addresses
// the hub namespace holds). A central `scanalert --subscribe --subnets`
// alerts on both, naming the sensors and the sources, and on nothing else.
//
// Faults during the run: one NATS node is killed (SIGKILL) before the
// scans and started again after them; the central scanalert is killed
// (SIGKILL) between the two scans and started again. Every row the sensors
// published reaches the central rule (counted end to end), and the records
// of the disturbed run, and those on the alerts subject, are exactly those
// of an undisturbed central instance over the same log.
func TestBusThreeSensors(t *testing.T) {
	requireLive(t)
	if why := netns.Available(); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bins, err := Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := natstest.BuildAndStart(ctx, dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	url := cluster.URL()

	star, err := netns.NewStar(ctx, rand.IntN(netns.MaxStarID+1), 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer star.Close()
	scanner, err := star.AddSources(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	split, err := star.AddSources(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	splitNet := netip.PrefixFrom(split[0], 24).Masked()
	names := []string{"edge-a", "edge-b", "edge-c"}
	allow := func(site netns.Site) []string {
		return []string{"--allow-target", site.Addr.String(), "--allow-target", site.Hosts[0].String()}
	}

	// Servers in every site, on its link end and its further host.
	for _, site := range star.Sites {
		srv := netns.Command(ctx, site.NS, bins.Trafficgen, append([]string{"serve", "--target", site.Addr.String(),
			"--also", site.Hosts[0].String(), "--ports", "18080"}, allow(site)...)...)
		in, err := srv.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { in.Close(); srv.Wait() }()
	}

	// The sensors.
	var sensorErr [3]bytes.Buffer
	var sensors []*Pipeline
	for k, site := range star.Sites {
		p, err := Start(ctx, bins, Options{Namespace: site.NS, Interface: site.SiteIf, Stderr: &sensorErr[k],
			Publish: &Publish{URL: url, Sensor: names[k]}})
		if err != nil {
			t.Fatalf("sensor %s: %v\n%s", names[k], err, sensorErr[k].String())
		}
		defer p.Stop(15 * time.Second)
		sensors = append(sensors, p)
	}
	var centralErr bytes.Buffer
	central := func(consumer string, w *bytes.Buffer) *Pipeline {
		p, err := StartCentral(bins, url, cliutil.LockedWriter(w), "--subnets", "--sensor", "central", "--consumer", consumer,
			"--episode-quiet", "2s", "--lateness", "1s")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := central("central", &centralErr)
	defer first.Stop(10 * time.Second)

	// Real clients in every site: HTTP exchanges and keep-alive HTTP from
	// the hub's end of each link, for the whole run.
	var clients []*Background
	for k, site := range star.Sites {
		c, err := StartBackground("ip", append([]string{"netns", "exec", star.Hub, bins.Trafficgen, "normal",
			"--target", site.Addr.String(), "--also", site.Hosts[0].String(), "--source", site.HubAddr.String(),
			"--served", "18080", "--ports", "18080", "--mix", "exchange=1,keepalive=1", "--rate", "15/s", "--concurrency", "2",
			"--count", "3000", "--duration", "120s", "--seed", strconv.Itoa(20 + k)}, allow(site)...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop(10 * time.Second)
		clients = append(clients, c)
	}
	scan := func(site netns.Site, src netip.Addr, ports string) error {
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", star.Hub, bins.Trafficgen, "scan",
			"--target", site.Addr.String(), "--source", src.String(), "--interface", site.HubIf, "--technique", "sS",
			"--ports", ports, "--timing", "4"}, allow(site)...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("scan of %s from %s: %v\n%s", site.Addr, src, err, out)
		}
		return nil
	}
	parallel := func(n int, f func(i int) error) {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	time.Sleep(5 * time.Second) // normal traffic alone first
	if err := cluster.Kill(1); err != nil {
		t.Fatal(err)
	}
	t.Log("NATS node n2 killed")
	time.Sleep(time.Second)
	// One scanner, two hosts behind each sensor, two ports each.
	parallel(3, func(k int) error {
		site := star.Sites[k]
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", star.Hub, bins.Trafficgen, "scan",
			"--target", site.Addr.String(), "--also", site.Hosts[0].String(), "--source", scanner[0].String(), "--interface", site.HubIf,
			"--technique", "sS", "--ports", "40100-40101", "--timing", "4"}, allow(site)...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("sweep of site %d: %v\n%s", k, err, out)
		}
		return nil
	})
	t.Logf("scanner %s swept two hosts behind each sensor", scanner[0])
	time.Sleep(2 * time.Second)
	first.Kill()
	t.Log("central scanalert killed")
	time.Sleep(2 * time.Second)
	second := central("central", &centralErr)
	defer second.Stop(10 * time.Second)
	// Eight sources of one /24, three ports each, over the three sites.
	parallel(8, func(i int) error {
		return scan(star.Sites[i%3], split[i], fmt.Sprintf("%d-%d", 41000+3*i, 41002+3*i))
	})
	t.Logf("split scan from %s-%s done", split[0], split[7])
	time.Sleep(2 * time.Second)
	if err := cluster.Restart(1); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitNode(ctx, 1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Log("NATS node n2 back")
	time.Sleep(6 * time.Second) // the scans' episodes end (quiet 2 s) while heartbeats move time on
	for k, c := range clients {
		if err := c.Stop(10 * time.Second); err != nil {
			t.Logf("client %d: %v", k, err)
		}
		t.Logf("client of %s: %s", names[k], lastLine(c.Stderr.String()))
	}
	time.Sleep(time.Second)

	// Stop the sensors: each publishes what it holds, and says so.
	published := map[string]int{}
	countsRE := regexp.MustCompile(`scanbus: sensor (\S+): (\d+) rows read, (\d+) published, (\d+) dropped \(queue full\), (\d+) failed`)
	for k, p := range sensors {
		if _, err := p.Stop(60 * time.Second); err != nil {
			t.Fatalf("sensor %s: %v\n%s", names[k], err, sensorErr[k].String())
		}
		m := countsRE.FindStringSubmatch(sensorErr[k].String())
		if m == nil {
			t.Fatalf("sensor %s said no counts:\n%s", names[k], sensorErr[k].String())
		}
		read, pub, dropped, failed := atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(m[5])
		t.Logf("sensor %s: %d rows read, %d published, %d dropped, %d failed", m[1], read, pub, dropped, failed)
		if pub != read || dropped != 0 || failed != 0 || read < 100 {
			t.Errorf("sensor %s lost rows or saw too few: %s", names[k], m[0])
		}
		published[names[k]] = pub
	}

	conn, err := natsbus.Dial(url, natsbus.Options{Name: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	catchUp := func(consumer string, stderr *bytes.Buffer) {
		if _, err := conn.WaitSettled(ctx, natsbus.RowsStream, []string{consumer}, time.Second, 90*time.Second); err != nil {
			t.Fatalf("%v; its stderr:\n%s", err, stderr.String())
		}
	}
	catchUp("central", &centralErr)
	if _, err := second.Stop(15 * time.Second); err != nil {
		t.Fatalf("central: %v\n%s", err, centralErr.String())
	}
	t.Logf("central stderr (both runs):\n%s", centralErr.String())

	// The log holds every published row.
	msgs, err := conn.Messages(ctx, natsbus.RowsStream, bus.RowsPrefix+">")
	if err != nil {
		t.Fatal(err)
	}
	inLog := map[string]int{}
	perSensorRows := map[string][]byte{}
	for _, m := range msgs {
		if bus.IsClock(m.Subject) {
			continue
		}
		name := strings.Split(strings.TrimPrefix(m.Subject, bus.RowsPrefix), ".")[0]
		inLog[name] += bytes.Count(m.Data, []byte{'\n'})
		perSensorRows[name] = append(perSensorRows[name], m.Data...)
	}
	for _, name := range names {
		if inLog[name] != published[name] {
			t.Errorf("sensor %s published %d rows, the log holds %d", name, published[name], inLog[name])
		}
	}
	// ... and the restarted central handed every one to its rule, or
	// holds it for the next run (the last second before the watermark).
	checkCentralCounts(t, centralErr.String(), published)

	// The undisturbed run: a new consumer over the same log.
	var undisturbedErr bytes.Buffer
	undisturbed := central("undisturbed", &undisturbedErr)
	defer undisturbed.Stop(10 * time.Second)
	catchUp("undisturbed", &undisturbedErr)
	if _, err := undisturbed.Stop(15 * time.Second); err != nil {
		t.Fatalf("undisturbed central: %v\n%s", err, undisturbedErr.String())
	}
	t.Logf("undisturbed central stderr:\n%s", undisturbedErr.String())
	checkCentralCounts(t, undisturbedErr.String(), published)

	disturbed := distinctLines(append(first.Alerts(), second.Alerts()...))
	want := distinctLines(undisturbed.Alerts())
	if !slices.Equal(disturbed, want) {
		t.Errorf("the disturbed run's records differ from the undisturbed run's:\ndisturbed:\n%s\nundisturbed:\n%s",
			strings.Join(disturbed, "\n"), strings.Join(want, "\n"))
	}
	onBus, err := conn.Messages(ctx, natsbus.AlertsStream, bus.AlertSubject("central"))
	if err != nil {
		t.Fatal(err)
	}
	var busLines []string
	for _, m := range onBus {
		busLines = append(busLines, strings.TrimSuffix(string(m.Data), "\n"))
	}
	slices.Sort(busLines)
	if !slices.Equal(busLines, want) {
		t.Errorf("the alerts subject holds %d records, want the undisturbed run's %d:\n%s", len(busLines), len(want), strings.Join(busLines, "\n"))
	}
	t.Logf("records: first run %d, second run %d, distinct %d, on the bus %d, undisturbed %d",
		len(first.Alerts()), len(second.Alerts()), len(disturbed), len(busLines), len(want))

	// What was alerted: the sweep, naming the three sensors, and the split
	// scan, naming its subnet, its eight sources and the sensors; nothing
	// else (the clients never).
	var sweep, spread []alert.Record
	for _, l := range want {
		var r alert.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Scan.Scanner == scanner[0].String() && r.Scan.Aggregate == "":
			sweep = append(sweep, r)
		case r.Scan.Scanner == splitNet.String() && r.Scan.Aggregate == "subnet":
			spread = append(spread, r)
		default:
			t.Errorf("record for something else than the two scans: %s", l)
		}
	}
	if len(sweep) == 0 || len(spread) == 0 {
		t.Fatalf("sweep alerted %d records, split scan %d", len(sweep), len(spread))
	}
	last := sweep[len(sweep)-1]
	if !sameSet(last.Scan.Sensors, names) || last.Scan.TargetCount != 6 || last.Scan.Techniques["SYN"] == 0 {
		t.Errorf("sweep record: sensors %v, %d targets %v, techniques %v", last.Scan.Sensors, last.Scan.TargetCount, last.Scan.Targets, last.Scan.Techniques)
	}
	lastSpread := spread[len(spread)-1]
	var sources []string
	for _, a := range split {
		sources = append(sources, a.String())
	}
	if !sameSet(lastSpread.Scan.Sources, sources) || lastSpread.Scan.SourceCount != 8 || !sameSet(lastSpread.Scan.Sensors, names) {
		t.Errorf("split-scan record: sources %v (%d), sensors %v", lastSpread.Scan.Sources, lastSpread.Scan.SourceCount, lastSpread.Scan.Sensors)
	}
	t.Logf("sweep: %s %s ports %s sensors %v", last.Scan.State, last.Alert.Signature, last.Scan.Ports, last.Scan.Sensors)
	t.Logf("split scan: %s %s ports %s sources %v sensors %v", lastSpread.Scan.State, lastSpread.Alert.Signature, lastSpread.Scan.Ports,
		lastSpread.Scan.Sources, lastSpread.Scan.Sensors)

	// Each sensor alone, with the per-address rule, sees neither scan.
	for _, name := range names {
		cmd := exec.CommandContext(ctx, bins.Scanalert, "--format", "eve", "--no-summary")
		cmd.Stdin = bytes.NewReader(perSensorRows[name])
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 3) {
			t.Fatalf("scanalert over %s's rows: %v", name, err)
		}
		if len(out) > 0 {
			t.Errorf("sensor %s alone alerted:\n%s", name, out)
		}
	}
}

// checkCentralCounts reads a central instance's summary: per sensor, the
// rows handed to its rule, plus the rows it holds, are what the sensors
// published.
func checkCentralCounts(t *testing.T, summary string, published map[string]int) {
	t.Helper()
	held := regexp.MustCompile(`(\d+) rows late, (\d+) held for the next run`).FindAllStringSubmatch(summary, -1)
	perSensor := regexp.MustCompile(`sensor (\S+): (\d+) rows here; it read (\d+), published (\d+)`).FindAllStringSubmatch(summary, -1)
	if len(held) == 0 || len(perSensor) < len(published) {
		t.Fatalf("no counts in the central's summary:\n%s", summary)
	}
	last := map[string]int{}
	for _, m := range perSensor[len(perSensor)-len(published):] {
		last[m[1]] = atoi(m[2])
		if atoi(m[4]) != published[m[1]] {
			t.Errorf("sensor %s's last heartbeat says %s published, its summary %d", m[1], m[4], published[m[1]])
		}
	}
	handed, want := atoi(held[len(held)-1][2]), 0
	for name, n := range published {
		handed += last[name]
		want += n
	}
	if handed != want {
		t.Errorf("rows through the central rule (and held) %d, published %d", handed, want)
	}
}

func distinctLines(as []Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Line)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

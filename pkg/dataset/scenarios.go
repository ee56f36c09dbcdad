package dataset

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"scanwatch/pkg/capturerun"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/trafficgen"
	"scanwatch/pkg/truth"
)

// Ports the scenarios keep apart, so that a row's label follows from its
// initiator and destination port alone (package truth): scans probe low
// ports, clients talk to the served ports and meet refusals in ClosedPorts.
var (
	HTTPPorts   = []uint16{18080, 18081, 18082}
	EchoPort    = uint16(18090)
	ClosedPorts = trafficgen.PortSet{{Lo: 20000, Hi: 29999}}
)

// Actor is one source of traffic in a scenario: an nmap scan when Technique
// is set, otherwise a trafficgen normal client.
type Actor struct {
	Source netip.Addr    // zero: the launcher's scanner-side address
	Start  time.Duration // after the capture starts
	Target netip.Addr    // zero: the launcher's target
	Also   []netip.Addr  // scans: more hosts to sweep in the same run

	Technique  string // nmap technique, "sS", ...
	Ports      string // scanned ports; clients: the range of their refused attempts (default ClosedPorts)
	Timing     int
	ScanDelay  time.Duration
	MaxRetries int

	Mix         string // trafficgen normal --mix
	Rate        float64
	Concurrency int
	Duration    time.Duration
	Timeout     time.Duration // per client action (default trafficgen's)
	Seed        uint64
}

// Scenario is one capture: its actors run at once.
type Scenario struct {
	Name   string
	Actors []Actor
}

// Scenarios configures a data set of scenarios on one network: each is
// captured (rows into OUT/rows.csv, packets into OUT/NAME.pcap.gz) and
// labelled by its scans' ground truth.
type Scenarios struct {
	Out        string
	Pcapsess   string
	Trafficgen string
	Window     time.Duration
	List       []Scenario
	// Serve are more hosts beside the target whose servers run for the
	// whole data set (Recipe.Hosts).
	Serve []netip.Addr
	// Only, when set, captures just the scenarios it names and keeps the
	// other captures of an existing OUT/manifest.json (their rows are not
	// remade: they are in the pcaps).
	Only []string
	Log  io.Writer
}

// techniqueNames maps trafficgen's techniques to package alert's names,
// the ground truth's vocabulary.
var techniqueNames = map[string]string{
	"sT": "connect", "sS": "SYN", "sF": "FIN", "sN": "NULL", "sX": "XMAS", "sA": "ACK/Window", "sW": "ACK/Window", "sM": "Maimon",
}

// Build captures every scenario on l and writes OUT/manifest.json.
func (o Scenarios) Build(ctx context.Context, l capturerun.Launcher) (m *capturerun.Manifest, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	log := cliutil.LockedWriter(o.Log)
	m = capturerun.NewManifest(l.Network())
	list, rowsName := o.List, "rows.csv"
	if len(o.Only) > 0 {
		list = slices.DeleteFunc(slices.Clone(o.List), func(sc Scenario) bool { return !slices.Contains(o.Only, sc.Name) })
		if len(list) != len(o.Only) {
			return nil, fmt.Errorf("scenarios %v: the recipe has %d of them", o.Only, len(list))
		}
		rowsName = "rows-" + strings.Join(o.Only, "+") + ".csv"
		if old, err := capturerun.ReadManifest(filepath.Join(o.Out, "manifest.json")); err == nil {
			for _, p := range old.Captures {
				if !slices.Contains(o.Only, p.Kind) {
					m.Captures = append(m.Captures, p)
				}
			}
			m.Commands, m.Link = old.Commands, old.Link
		}
	}
	defer func() {
		if werr := m.Write(filepath.Join(o.Out, "manifest.json")); werr != nil && err == nil {
			err = werr
		}
	}()
	target := l.Target()
	srvArgs := append([]string{"serve", "--target", target.String(), "--ports", portList(HTTPPorts),
		"--echo", strconv.Itoa(int(EchoPort))}, allowTarget(target)...)
	for _, h := range o.Serve {
		srvArgs = append(append(srvArgs, "--also", h.String()), allowTarget(h)...)
	}
	_, stop, err := startServer(l.Command(ctx, capturerun.Target, o.Trafficgen, srvArgs...), log)
	if err != nil {
		return m, err
	}
	defer stop()
	m.Commands = append(m.Commands, l.Describe(capturerun.Target, "trafficgen", srvArgs...))
	rows, err := capturerun.CreateClassFile(filepath.Join(o.Out, rowsName))
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for _, sc := range list {
		part, err := o.capture(ctx, l, sc, rows, log)
		if part != nil {
			m.Captures = append(m.Captures, *part)
		}
		if err != nil {
			return m, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
	}
	return m, rows.Close()
}

func (o Scenarios) capture(ctx context.Context, l capturerun.Launcher, sc Scenario, rows *capturerun.ClassFile, log io.Writer) (*capturerun.Part, error) {
	target := l.Target()
	var scanners []truth.Scanner
	hosts := map[netip.Addr]bool{}
	type run struct {
		start time.Duration
		args  []string
	}
	var runs []run
	for i, a := range sc.Actors {
		src := a.Source
		if !src.IsValid() {
			src = l.MarkerSource()
		}
		hosts[src] = true
		to := a.Target
		if !to.IsValid() {
			to = target
		}
		var args []string
		if a.Technique != "" {
			name, ok := techniqueNames[a.Technique]
			if !ok {
				return nil, fmt.Errorf("unknown technique %q", a.Technique)
			}
			targets := to.String()
			if len(a.Also) > 0 {
				targets += fmt.Sprintf(" and %d more hosts", len(a.Also))
			}
			scanners = append(scanners, truth.Scanner{Address: src.String(), Ports: a.Ports, Techniques: []string{name},
				Tool: "nmap -" + a.Technique, Targets: targets, AlsoClient: o.sharesSource(sc, i, src, l)})
			args = []string{"scan", "--target", to.String(), "--technique", a.Technique, "--ports", a.Ports,
				"--timing", strconv.Itoa(a.Timing), "--max-retries", strconv.Itoa(a.MaxRetries), "--host-timeout", "10m"}
			if a.ScanDelay > 0 {
				args = append(args, "--scan-delay", a.ScanDelay.String())
			}
			for _, h := range a.Also {
				args = append(args, "--also", h.String())
				args = append(args, allowTarget(h)...)
			}
		} else {
			ports := a.Ports
			if ports == "" {
				ports = ClosedPorts.String()
			}
			args = []string{"normal", "--target", to.String(), "--ports", ports, "--served", portList(HTTPPorts),
				"--echo", strconv.Itoa(int(EchoPort)), "--mix", a.Mix, "--rate", fmt.Sprint(a.Rate),
				"--concurrency", strconv.Itoa(max(a.Concurrency, 1)), "--count", "1000000", "--duration", a.Duration.String(),
				"--seed", strconv.FormatUint(a.Seed, 10)}
			if a.Timeout > 0 {
				args = append(args, "--timeout", a.Timeout.String())
			}
			for _, h := range a.Also {
				args = append(append(args, "--also", h.String()), allowTarget(h)...)
			}
		}
		if a.Source.IsValid() {
			args = append(args, "--source", a.Source.String())
		}
		runs = append(runs, run{a.Start, append(args, allowTarget(to)...)})
	}
	var hostList []netip.Addr
	for h := range hosts {
		hostList = append(hostList, h)
	}
	pcap := filepath.Join(o.Out, sc.Name+".pcap")
	part, err := capturerun.Capture(ctx, l, capturerun.Options{
		Pcapsess: o.Pcapsess, Window: o.Window, Hosts: hostList, Pcap: pcap, Kind: sc.Name, Scanners: scanners, Log: log,
	}, rows, func(ctx context.Context, r *capturerun.Run) ([]string, error) {
		var lines []string
		errs := make([]error, len(runs))
		var wg sync.WaitGroup
		for i, rn := range runs {
			lines = append(lines, fmt.Sprintf("at +%s: %s", rn.start, l.Describe(capturerun.Scanner, "trafficgen", rn.args...)))
			cmd := l.Command(ctx, capturerun.Scanner, o.Trafficgen, rn.args...)
			cmd.Stderr = log
			wg.Go(func() { errs[i] = startAfter(ctx, rn.start, cmd) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return lines, fmt.Errorf("%s: %w", lines[i], err)
			}
		}
		return lines, nil
	})
	if part != nil {
		if part.Pcap, err = gzipFile(pcap, err); err == nil {
			part.Pcap = filepath.Base(part.Pcap)
		}
	}
	return part, err
}

// sharesSource reports whether a client of scenario sc uses the same source
// as actor i.
func (o Scenarios) sharesSource(sc Scenario, i int, src netip.Addr, l capturerun.Launcher) bool {
	for j, a := range sc.Actors {
		s := a.Source
		if !s.IsValid() {
			s = l.MarkerSource()
		}
		if j != i && a.Technique == "" && s == src {
			return true
		}
	}
	return false
}

// startAfter runs cmd once d has passed.
func startAfter(ctx context.Context, d time.Duration, cmd *exec.Cmd) error {
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return ctx.Err()
	}
	return cmd.Run()
}

// gzipFile replaces path by path.gz (unless failed is set, when it leaves
// the capture as it is) and returns the new name.
func gzipFile(path string, failed error) (string, error) {
	if failed != nil {
		return path, failed
	}
	in, err := os.Open(path)
	if err != nil {
		return path, err
	}
	defer in.Close()
	out, err := os.Create(path + ".gz")
	if err != nil {
		return path, err
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return path, err
	}
	return path + ".gz", os.Remove(path)
}

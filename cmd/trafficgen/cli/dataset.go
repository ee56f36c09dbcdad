package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"scanwatch/pkg/capturerun"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/dataset"
	"scanwatch/pkg/netns"
	"scanwatch/pkg/trafficgen"
)

// DatasetCmd is `trafficgen dataset`: the harvester's dataset_and_train.py
// without the training, on loopback or across network namespaces.
type DatasetCmd struct {
	Recipe      string        `default:"classes" enum:"classes,mixed" help:"classes: the seed's kind of set, every technique (bad.csv) and normal clients (good.csv) in captures of their own; mixed: scenarios with scans alone, scans from busy clients, crowds and ordinary clients, each saved as a pcap and labelled by its ground truth (rows.csv)."`
	PerTech     int           `name:"per-technique" default:"600" help:"With --recipe mixed: ports each scan covers."`
	Scenario    []string      `help:"With --recipe mixed: capture only this scenario (repeatable), keeping the other captures of OUT/manifest.json."`
	Network     string        `default:"lo" enum:"lo,netns,delay" help:"Where to capture: lo (loopback, sources told apart by address), netns (two network namespaces joined by a veth pair, made and removed here) or delay (the same, joined by the TAP delay line: a real round trip of --rtt)."`
	RTT         time.Duration `name:"rtt" default:"20ms" help:"With --network delay: the round-trip time the line adds (half each way)."`
	Jitter      time.Duration `default:"0s" help:"With --network delay: each frame's one-way delay varies by up to this much (order kept)."`
	NetnsID     int           `name:"netns-id" default:"77" help:"With --network netns: namespace pair number N, addresses 198.18.N.1 (scanner) and 198.18.N.2 (target)."`
	Out         string        `default:"datasets/train" help:"Directory for bad.csv (label 1), good.csv (label 0), merged.csv (balanced) and manifest.json."`
	Pcapsess    string        `default:"pcapsess" help:"pcapsess binary (just build puts one in bin/)."`
	Trafficgen  string        `help:"trafficgen binary that makes the traffic (default: this one)."`
	Window      time.Duration `default:"500ms" help:"pcapsess --window."`
	Target      string        `default:"127.0.0.1" help:"With --network lo: the loopback address to scan and to serve normal traffic on."`
	Technique   string        `default:"sT,sS,sF,sN,sX" help:"Scan techniques (see scan --help), one capture each unless --parallel."`
	Ports       string        `default:"0-2500" help:"Ports every scan covers (the seed: 0-2500)."`
	Timing      int           `default:"3" help:"nmap -T0..5."`
	ScanDelay   time.Duration `name:"scan-delay" help:"nmap --scan-delay (the seed's delayed set: 1s)."`
	MaxRetries  int           `name:"max-retries" default:"1" help:"nmap --max-retries."`
	MinRows     int           `name:"min-rows" default:"0" help:"Fail if the scans gave fewer rows than this."`
	Parallel    bool          `help:"Run every technique at once in one capture (--network lo: each from its own source)."`
	ScanBase    string        `name:"scan-base" default:"127.0.66.10" help:"With --network lo: technique i scans from this address + i, so rows map to techniques."`
	Source      string        `default:"127.0.67.1" help:"With --network lo: source address of the normal clients."`
	NormalPorts string        `name:"normal-ports" default:"1-12000" help:"Sweep range of normal traffic (the seed's noiser: 1-12000)."`
	Serve       string        `default:"0,0,0" help:"Ports of trafficgen's HTTP server on the target (0 = a free port)."`
	Rate        string        `default:"400/s" help:"Normal actions per second."`
	Concurrency int           `default:"4" help:"Parallel normal clients."`
	Chunk       int           `default:"2000" help:"Normal actions between row counts."`
	NormalMax   time.Duration `name:"normal-max" default:"10m" help:"Give up if normal traffic has not matched the scan rows by then."`
	Seed        uint64        `default:"1" help:"Seed of the normal action stream and of the balancing."`
	Nmap        string        `default:"nmap" help:"nmap binary."`
}

func (c *DatasetCmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	f, err := parseTrafficFlags(c.Technique, c.Ports, "--ports", c.NormalPorts, "--normal-ports", c.Serve, c.Rate)
	if err != nil {
		return err
	}
	techs, ports, nports, serve, rate := f.techs, f.scanPorts, f.normalPorts, f.serve, f.rate
	if len(serve) == 0 {
		return cliutil.Usagef("--serve %q: want one or more ports", c.Serve)
	}
	if c.Timing < 0 || c.Timing > 5 || len(techs) > 10 || c.Chunk < 1 || c.Concurrency < 1 || c.NormalMax <= 0 || c.NetnsID < 0 || c.NetnsID > 255 {
		return cliutil.Usagef("--timing within 0..5, at most 10 techniques, --chunk, --concurrency and --normal-max > 0, --netns-id within 0..255")
	}
	o := dataset.Classes{
		Out: c.Out, Window: c.Window, Techniques: techs, ScanPorts: ports, Timing: c.Timing, ScanDelay: c.ScanDelay,
		MaxRetries: c.MaxRetries, Parallel: c.Parallel, MinRows: c.MinRows,
		NormalPorts: nports, Serve: serve, Rate: rate, Concurrency: c.Concurrency, Chunk: c.Chunk,
		NormalMax: c.NormalMax, Seed: c.Seed, Log: stderr,
	}
	var l capturerun.Launcher
	switch c.Network {
	case "lo":
		target, err := trafficgen.Guard{}.Check(ctx, c.Target)
		if err != nil {
			return err
		}
		if !target.IsLoopback() || !target.Is4() {
			return cliutil.Usagef("--target %s: want an IPv4 loopback address", target)
		}
		base, err := trafficgen.ParseSource(c.ScanBase, target)
		if err != nil || !base.Is4() || int(base.As4()[3])+len(techs) > 250 {
			return cliutil.Usagef("--scan-base %q: want an IPv4 loopback address with room for %d sources", c.ScanBase, len(techs))
		}
		for range techs {
			o.ScanSources = append(o.ScanSources, base)
			base = base.Next()
		}
		if o.NormalSource, err = trafficgen.ParseSource(c.Source, target); err != nil || !o.NormalSource.IsValid() {
			return cliutil.Usagef("--source %q: want a loopback address", c.Source)
		}
		l = capturerun.NewLoopback(target)
	case "netns", "delay":
		if why := netns.Available(); why != "" {
			return fmt.Errorf("--network %s: %s", c.Network, why)
		}
		if c.RTT < 0 || c.Jitter < 0 || c.RTT > 10*time.Second {
			return cliutil.Usagef("--rtt within 0..10s and --jitter ≥ 0")
		}
		if c.Parallel {
			return cliutil.Usagef("--parallel needs a source per technique: use --network lo")
		}
	}
	if o.Pcapsess, err = binary(c.Pcapsess, "pcapsess"); err != nil {
		return err
	}
	if o.Trafficgen, err = binary(c.Trafficgen, "trafficgen"); err != nil {
		return err
	}
	if _, err := trafficgen.Preflight(c.Nmap, techs); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	if c.Out, err = filepath.Abs(c.Out); err != nil {
		return err
	}
	o.Out = c.Out
	var p *netns.Pair
	// linkStats records in m what the delay line did, if there is one.
	linkStats := func(m *capturerun.Manifest) {
		if p == nil {
			return
		}
		if st, ok := p.DelayStats(); ok {
			if m.Link != "" && len(c.Scenario) > 0 {
				m.Link += fmt.Sprintf("; then for %s: %s", strings.Join(c.Scenario, ", "), st)
			} else {
				m.Link = st.String()
			}
		}
	}
	if c.Network != "lo" {
		link := "veth pair, MTU 1500"
		if c.Network == "netns" {
			p, err = netns.New(ctx, c.NetnsID)
		} else {
			d := netns.Delay{OneWay: c.RTT / 2, Jitter: c.Jitter, Seed: c.Seed}
			p, err = netns.NewDelayed(ctx, c.NetnsID, d)
			link = fmt.Sprintf("TAP delay line, RTT %s (one way %s ± %s), MTU 1500", c.RTT, d.OneWay, d.Jitter)
		}
		if err != nil {
			return err
		}
		defer func() {
			if st, ok := p.DelayStats(); ok {
				fmt.Fprintf(stderr, "%s: dataset: delay line: %s\n", tool, st)
			}
			if err := p.Close(); err != nil {
				fmt.Fprintf(stderr, "%s: dataset: removing namespaces: %v\n", tool, err)
			}
		}()
		l = capturerun.Namespace{Pair: p, Link: link}
	}
	if c.Recipe == "mixed" {
		if c.PerTech < 2 || c.PerTech > 10000 {
			return cliutil.Usagef("--per-technique must be within 2..10000")
		}
		recipe, err := dataset.Mixed(ctx, l, c.PerTech, c.Timing)
		if err != nil {
			return err
		}
		sc := dataset.Scenarios{Out: c.Out, Pcapsess: o.Pcapsess, Trafficgen: o.Trafficgen, Window: c.Window,
			List: recipe.Scenarios, Serve: recipe.Hosts, Only: c.Scenario, Log: stderr}
		m, err := sc.Build(ctx, l)
		if m != nil {
			linkStats(m)
			m.Commands = append([]string{"trafficgen " + strings.Join(os.Args[1:], " ")}, m.Commands...)
			if werr := m.Write(filepath.Join(c.Out, "manifest.json")); werr != nil && err == nil {
				err = werr
			}
			rows := filepath.Join(c.Out, "rows.csv")
			if len(c.Scenario) > 0 {
				rows = filepath.Join(c.Out, "rows-"+strings.Join(c.Scenario, "+")+".csv")
			}
			fmt.Fprintf(stderr, "%s: dataset: %d scenarios, rows.csv %d rows %s\n", tool, len(m.Captures), m.Rows(rows), counts(m, rows))
		}
		return err
	}
	m, err := o.Build(ctx, l)
	if m != nil {
		linkStats(m)
		m.Commands = append([]string{"trafficgen " + strings.Join(os.Args[1:], " ")}, m.Commands...)
		if werr := m.Write(filepath.Join(c.Out, "manifest.json")); werr != nil && err == nil {
			err = werr
		}
		fmt.Fprintf(stderr, "%s: dataset: bad.csv %d rows %s; good.csv %d rows; merged.csv %v\n", tool,
			m.Rows(filepath.Join(c.Out, "bad.csv")), counts(m, filepath.Join(c.Out, "bad.csv")), m.Rows(filepath.Join(c.Out, "good.csv")), m.Merged)
	}
	return err
}

// binary finds a tool: name on PATH or as a path; "" is this executable.
func binary(name, what string) (string, error) {
	if name == "" {
		return os.Executable()
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (%s): build it with `just build` and pass --%s bin/%s", what, name, what, what)
	}
	return filepath.Abs(p)
}

// counts lists rows per kind over the captures of file.
func counts(m *capturerun.Manifest, file string) string {
	per := map[string]int{}
	for _, p := range m.Captures {
		if p.File == file {
			for k, v := range p.PerKind {
				per[k] += v
			}
		}
	}
	var keys []string
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, per[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

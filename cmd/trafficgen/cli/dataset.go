package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/trafficgen"
)

// DatasetCmd is `trafficgen dataset`: the harvester's dataset_and_train.py
// without the training.
type DatasetCmd struct {
	Out         string        `default:"datasets/train" help:"Directory for bad.csv (label 1), good.csv (label 0), merged.csv (balanced) and manifest.json."`
	Pcapsess    string        `default:"pcapsess" help:"pcapsess binary (just build puts one in bin/)."`
	Iface       string        `name:"iface" default:"lo" help:"Capture interface."`
	Window      time.Duration `default:"500ms" help:"pcapsess --window."`
	Target      string        `default:"127.0.0.1" help:"Loopback address to scan and to serve normal traffic on."`
	Technique   string        `default:"sT,sS,sF,sN,sX" help:"Scan techniques (see scan --help)."`
	Ports       string        `default:"0-2500" help:"Ports every scan covers (the seed: 0-2500)."`
	Timing      int           `default:"3" help:"nmap -T0..5."`
	ScanDelay   time.Duration `name:"scan-delay" help:"nmap --scan-delay (the seed's delayed set: 1s)."`
	MaxRetries  int           `name:"max-retries" default:"1" help:"nmap --max-retries."`
	MinRows     int           `name:"min-rows" default:"12000" help:"Scan again (new sources) until the scans gave at least this many rows."`
	MaxPasses   int           `name:"max-passes" default:"3" help:"Most scan passes."`
	Parallel    bool          `help:"Run a pass's techniques at the same time (each from its own source)."`
	ScanBase    string        `name:"scan-base" default:"127.0.66.10" help:"First scanner source; technique i of pass p scans from base+10p+i, so rows map to techniques."`
	Source      string        `default:"127.0.67.1" help:"Source address of the normal clients."`
	NormalPorts string        `name:"normal-ports" default:"1-12000" help:"Sweep range of normal traffic (the seed's noiser: 1-12000)."`
	Serve       string        `default:"0,0,0" help:"Ports of trafficgen's own HTTP servers (0 = a free port)."`
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
	if c.Timing < 0 || c.Timing > 5 || c.MaxPasses < 1 || c.MaxPasses > 20 || len(techs) > 10 || c.Chunk < 1 || c.Concurrency < 1 || c.NormalMax <= 0 {
		return cliutil.Usagef("--timing within 0..5, --max-passes within 1..20, at most 10 techniques, --chunk, --concurrency and --normal-max > 0")
	}
	target, err := trafficgen.Guard{}.Check(ctx, c.Target)
	if err != nil {
		return err
	}
	base, err := trafficgen.ParseSource(c.ScanBase, target)
	if err != nil || !base.Is4() {
		return cliutil.Usagef("--scan-base %q: want an IPv4 loopback address", c.ScanBase)
	}
	if int(base.As4()[3])+10*(c.MaxPasses-1)+len(techs) > 250 {
		return cliutil.Usagef("--scan-base %s: the last octet leaves no room for %d passes", base, c.MaxPasses)
	}
	src, err := trafficgen.ParseSource(c.Source, target)
	if err != nil || !src.IsValid() {
		return cliutil.Usagef("--source %q: want a loopback address", c.Source)
	}
	pcapsess, err := exec.LookPath(c.Pcapsess)
	if err != nil {
		return fmt.Errorf("pcapsess not found (%s): build it with `just build` and pass --pcapsess bin/pcapsess", c.Pcapsess)
	}
	nmap, err := trafficgen.Preflight(c.Nmap, techs)
	if err != nil {
		return err
	}
	m, err := trafficgen.RunDataset(ctx, trafficgen.DatasetOptions{
		Out: c.Out, Pcapsess: pcapsess, Iface: c.Iface, Window: c.Window, Target: target,
		Techniques: techs, ScanPorts: ports, Timing: c.Timing, ScanDelay: c.ScanDelay, MaxRetries: c.MaxRetries,
		MinRows: c.MinRows, MaxPasses: c.MaxPasses, Parallel: c.Parallel, ScanBase: base,
		NormalSource: src, NormalPorts: nports, Serve: serve, NormalRate: rate, NormalConcurrency: c.Concurrency,
		NormalChunk: c.Chunk, NormalMax: c.NormalMax, Seed: c.Seed, Nmap: nmap, Log: stderr,
	})
	if m != nil {
		if werr := writeManifest(filepath.Join(c.Out, "manifest.json"), m); werr != nil && err == nil {
			err = werr
		}
		fmt.Fprintf(stderr, "%s: dataset: bad.csv %d rows %s; good.csv %d rows %s; merged.csv %d rows %v\n",
			tool, m.Bad.Rows, counts(m.Bad.PerKind), m.Good.Rows, counts(m.Good.PerKind), m.MergedTotal, m.Merged)
	}
	return err
}

func writeManifest(path string, m *trafficgen.Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func counts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := "("
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, m[k])
	}
	return s + ")"
}

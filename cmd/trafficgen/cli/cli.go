// Package cli is trafficgen's command line.
package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/trafficgen"
)

const tool = "trafficgen"

const description = `Make labelled traffic on loopback: legitimate clients (normal), real nmap
scans (scan), the seed's injector (mix: normal traffic with an occasional scan
and a ground-truth log), and the training datasets (dataset).

` + trafficgen.GuardHelp + `

Label hygiene: give the scanner and the clients their own 127.0.0.x address
(--source, --scan-source) and capture only that address (pcapsess --host).`

// Target holds the flags every traffic command shares.
type Target struct {
	Target      string   `default:"127.0.0.1" help:"Address (or /etc/hosts name) to send traffic to; loopback only unless --allow-target names it."`
	AllowTarget []string `name:"allow-target" placeholder:"ADDR" help:"Allow exactly this network-namespace test host (198.18.0.0/15, fd00::/8, on a local veth subnet). Repeatable."`
}

func (t Target) resolve(ctx context.Context) (netip.Addr, error) {
	allow, err := trafficgen.ParseAllow(t.AllowTarget)
	if err != nil {
		return netip.Addr{}, cliutil.Usage(err)
	}
	a, err := trafficgen.Guard{Allow: allow}.Check(ctx, t.Target)
	if err != nil {
		return netip.Addr{}, err
	}
	return a, nil
}

// resolveWithSource resolves the target and the --source address the
// clients bind to (see trafficgen.ParseSource).
func (t Target) resolveWithSource(ctx context.Context, source string) (target, src netip.Addr, err error) {
	if target, err = t.resolve(ctx); err != nil {
		return target, src, err
	}
	if src, err = trafficgen.ParseSource(source, target); err != nil {
		return target, src, cliutil.Usagef("--source: %v", err)
	}
	return target, src, nil
}

type cliArgs struct {
	cliutil.VersionFlag
	Normal  NormalCmd  `cmd:"" help:"Legitimate traffic: HTTP sweeps over a port range, keep-alive HTTP and short TCP exchanges with --serve ports, closed-port attempts."`
	Scan    ScanCmd    `cmd:"" help:"Run real nmap scans (one run per technique) against the target."`
	Mix     MixCmd     `cmd:"" help:"Normal traffic with an nmap scan of a few dozen ports at probability --p per step; writes a ground-truth NDJSON log."`
	Serve   ServeCmd   `cmd:"" help:"Serve trafficgen's HTTP pages on target ports until stdin closes or a signal (the open side of normal traffic in another namespace)."`
	Dataset DatasetCmd `cmd:"" help:"Capture scans (label 1) and normal traffic (label 0) with pcapsess and write bad.csv, good.csv, merged.csv."`
}

// Run is trafficgen's main.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cliArgs
	return cliutil.Run(ctx, tool, description, &c, args, stdout, stderr, func(ctx context.Context, command string) error {
		switch command {
		case "normal":
			return c.Normal.run(ctx, stdout, stderr)
		case "scan":
			return c.Scan.run(ctx, stdout, stderr)
		case "mix":
			return c.Mix.run(ctx, stdout, stderr)
		case "serve":
			return c.Serve.run(ctx, stdin, stdout, stderr)
		case "dataset":
			return c.Dataset.run(ctx, stdout, stderr)
		}
		return cliutil.Usagef("unknown command %q", command)
	})
}

// Help gives every traffic command the reason for the target guard.
func (NormalCmd) Help() string { return trafficgen.GuardHelp }

// Help explains the target guard and root.
func (ScanCmd) Help() string {
	return trafficgen.GuardHelp + "\n\nAll techniques but connect (sT) send raw packets: run as root."
}

// Help explains the target guard.
func (MixCmd) Help() string { return trafficgen.GuardHelp }

// Help says what the dataset flow needs.
func (DatasetCmd) Help() string {
	return `Needs root (raw scans, live capture, namespaces), nmap and a built pcapsess.
Every capture (package capturerun) starts pcapsess -i IFACE on the target side
as a child, waits for a marker row proving it captures, makes the traffic with
this tool's own scan, normal and serve commands, then waits for a final marker
row and stops pcapsess with SIGINT. On lo each kind of traffic has its own
source address and the capture keeps only those (--host); in namespaces the
veth carries nothing else. Targets are loopback or the namespace pair only.`
}

// trafficFlags are the flags dataset and mix share, parsed: the scan
// techniques, the scanned and the normal port ranges (whose flag names
// differ between the two), --serve and --rate.
type trafficFlags struct {
	techs                  []trafficgen.Technique
	scanPorts, normalPorts trafficgen.PortSet
	serve                  []uint16
	rate                   float64
}

func parseTrafficFlags(technique, scanPorts, scanFlag, normalPorts, normalFlag, serve, rate string) (f trafficFlags, err error) {
	if f.techs, err = trafficgen.ParseTechniques(technique); err != nil {
		return f, cliutil.Usagef("--technique: %v", err)
	}
	if f.scanPorts, err = trafficgen.ParsePorts(scanPorts); err != nil {
		return f, cliutil.Usagef("%s: %v", scanFlag, err)
	}
	if f.normalPorts, err = trafficgen.ParsePorts(normalPorts); err != nil {
		return f, cliutil.Usagef("%s: %v", normalFlag, err)
	}
	if f.serve, err = parseServe(serve); err != nil {
		return f, cliutil.Usage(err)
	}
	if f.rate, err = parseRate(rate); err != nil {
		return f, cliutil.Usagef("--rate: %v", err)
	}
	return f, nil
}

// parseRate reads "200/s", "30/m", "5/h" or a bare number (per second).
func parseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, unit, hasUnit := strings.Cut(s, "/")
	per := time.Second
	if hasUnit {
		switch unit {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("rate %q: unit must be /s, /m or /h", s)
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("rate %q: want a non-negative number like 200/s (0 = unlimited)", s)
	}
	return n / per.Seconds(), nil
}

func parseServe(s string) ([]uint16, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	set, err := trafficgen.ParsePorts(s)
	if err != nil {
		return nil, fmt.Errorf("--serve: %w", err)
	}
	if set.Len() > 64 {
		return nil, fmt.Errorf("--serve: %d ports; at most 64 servers", set.Len())
	}
	var ports []uint16
	for i := range set.Len() {
		ports = append(ports, set.At(i))
	}
	return ports, nil
}

// NormalCmd is `trafficgen normal`.
type NormalCmd struct {
	Target
	Ports       string        `default:"1-12000" help:"Port range of the HTTP sweep (the seed's noiser: 1-12000, most closed)."`
	Serve       string        `placeholder:"PORTS" help:"Start trafficgen's own HTTP server on these target ports (e.g. 18080,18081; 0 = a free port) for keep-alive HTTP and short TCP exchanges."`
	Served      string        `placeholder:"PORTS" help:"Ports a trafficgen server already serves on the target (trafficgen serve, e.g. in another namespace); instead of --serve."`
	Also        []string      `placeholder:"ADDR" help:"Another host serving as the target does (trafficgen serve --also): with --mix, each action goes to one of the target and these (repeatable; each must pass the target guard)."`
	Mix         string        `placeholder:"WEIGHTS" help:"Weights of the actions, e.g. keepalive=3,exchange=1 (actions: sweep, keepalive, exchange, closed, echo); default the seed's: sweep=55,keepalive=25,exchange=12,closed=8."`
	Echo        uint16        `placeholder:"PORT" help:"Port of a trafficgen echo server on the target (trafficgen serve --echo), for the echo action."`
	Source      string        `placeholder:"ADDR" help:"Bind client sockets to this local address (e.g. 127.0.0.2) so a capture can be restricted to it."`
	Rate        string        `default:"200/s" help:"Actions per second (N/s, N/m, N/h; 0 = unlimited)."`
	Count       int           `default:"2000" help:"Stop after this many actions."`
	Duration    time.Duration `default:"60s" help:"Stop after this long."`
	Concurrency int           `default:"4" help:"Parallel clients."`
	Timeout     time.Duration `default:"2s" help:"Per-action timeout."`
	Seed        uint64        `default:"1" help:"Seed of the action stream (which action, which port)."`
}

func (c *NormalCmd) options(ctx context.Context) (trafficgen.NormalOptions, error) {
	var o trafficgen.NormalOptions
	ports, err := trafficgen.ParsePorts(c.Ports)
	if err != nil {
		return o, cliutil.Usagef("--ports: %v", err)
	}
	if c.Serve != "" && c.Served != "" {
		return o, cliutil.Usagef("--serve and --served exclude each other")
	}
	serve, err := parseServe(c.Serve + c.Served)
	if err != nil {
		return o, cliutil.Usage(err)
	}
	rate, err := parseRate(c.Rate)
	if err != nil {
		return o, cliutil.Usagef("--rate: %v", err)
	}
	if c.Count <= 0 || c.Duration <= 0 || c.Concurrency < 1 || c.Concurrency > 256 {
		return o, cliutil.Usagef("--count and --duration must be > 0 and --concurrency within 1..256")
	}
	target, src, err := c.Target.resolveWithSource(ctx, c.Source)
	if err != nil {
		return o, err
	}
	also, err := c.Target.resolveAlso(ctx, c.Also)
	if err != nil {
		return o, err
	}
	var mix trafficgen.Mix
	if c.Mix != "" {
		if mix, err = trafficgen.ParseMix(c.Mix); err != nil {
			return o, cliutil.Usagef("--mix: %v", err)
		}
	}
	return trafficgen.NormalOptions{
		Target: target, Source: src, Ports: ports, Serve: serve, Rate: rate, Count: c.Count,
		Duration: c.Duration, Concurrency: c.Concurrency, Timeout: c.Timeout, Seed: c.Seed,
		Mix: mix, Echo: c.Echo, Also: also,
	}, nil
}

func (c *NormalCmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	o, err := c.options(ctx)
	if err != nil {
		return err
	}
	if len(o.Serve) > 0 && c.Served == "" {
		srv, err := trafficgen.Serve(o.Target, o.Serve)
		if err != nil {
			return err
		}
		defer srv.Close()
		o.Serve = srv.Ports() // --serve 0 means a free port
		fmt.Fprintf(stderr, "%s: serving HTTP on %v\n", tool, srv.Addrs)
	}
	st, err := trafficgen.RunNormal(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: normal: %s\n", tool, st)
	if st.Total() == 0 && ctx.Err() == nil {
		return fmt.Errorf("no action finished against %s", o.Target)
	}
	return nil
}

// ServeCmd is `trafficgen serve`: the server side of normal traffic as a
// process of its own, so that it can run in the target's namespace. It prints
// "ready PORTS" once listening and stops when its stdin closes (so it never
// outlives whoever started it) or on a signal.
type ServeCmd struct {
	Target
	Also  []string `placeholder:"ADDR" help:"Serve on this address too (repeatable; each must pass the target guard as --target does; needs fixed --ports)."`
	Ports string   `default:"0" help:"Ports to serve (0 = a free port)."`
	Echo  uint16   `placeholder:"PORT" help:"Also run an echo server on this port (for normal --mix echo=...)."`
}

func (c *ServeCmd) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	target, err := c.Target.resolve(ctx)
	if err != nil {
		return err
	}
	ports, err := parseServe(c.Ports)
	if err != nil || len(ports) == 0 {
		return cliutil.Usagef("--ports %q: want one or more ports", c.Ports)
	}
	also, err := c.Target.resolveAlso(ctx, c.Also)
	if err != nil {
		return err
	}
	if len(also) > 0 && slices.Contains(ports, 0) {
		return cliutil.Usagef("--also needs fixed --ports (0 picks a different free port on every address)")
	}
	var all []*trafficgen.Servers
	defer func() {
		for _, srv := range all {
			srv.Close()
		}
	}()
	for _, a := range append([]netip.Addr{target}, also...) {
		srv, err := trafficgen.Serve(a, ports)
		if err != nil {
			return err
		}
		all = append(all, srv)
		if c.Echo != 0 {
			if _, err := srv.Echo(a, c.Echo); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "ready %s\n", trafficgen.PortSetOf(all[0].Ports()))
	eof := make(chan struct{})
	go func() {
		if stdin != nil {
			io.Copy(io.Discard, stdin)
		}
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	n := 0
	for _, srv := range all {
		n += total(srv.Requests())
	}
	fmt.Fprintf(stderr, "%s: serve: %d requests\n", tool, n)
	return nil
}

// resolveAlso resolves more hosts, each through the target guard with the
// same --allow-target list.
func (t Target) resolveAlso(ctx context.Context, hosts []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, h := range hosts {
		t.Target = h
		a, err := t.resolve(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func total[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// ScanCmd is `trafficgen scan`.
type ScanCmd struct {
	Target
	Technique   string        `default:"sT,sS,sF,sN,sX" help:"Comma-separated techniques: sT|connect, sS|syn, sF|fin, sN|null, sX|xmas, sA|ack, sW|window, sM|maimon. All but connect need root."`
	Ports       string        `default:"0-2500" help:"Ports to scan (nmap -p)."`
	Also        []string      `placeholder:"ADDR" help:"Another host to scan in the same run, a sweep (repeatable; each must pass the target guard as --target does)."`
	Timing      int           `default:"3" help:"nmap timing template -T0..5."`
	ScanDelay   time.Duration `name:"scan-delay" help:"nmap --scan-delay between probes (e.g. 1s)."`
	MaxRetries  int           `name:"max-retries" default:"1" help:"nmap --max-retries (unanswered FIN/NULL/Xmas probes are retransmitted this often)."`
	Source      string        `placeholder:"ADDR" help:"Scanner source address (nmap -S ADDR -e lo), e.g. 127.0.0.3: the replies come back to it over lo."`
	SourcePort  int           `name:"source-port" help:"nmap -g: fixed source port (0 = nmap's choice)."`
	Interface   string        `help:"nmap -e (default lo when --source is set and the target is loopback)."`
	HostTimeout time.Duration `name:"host-timeout" default:"30m" help:"Give up on a scan after this long (nmap --host-timeout)."`
	Nmap        string        `default:"nmap" help:"nmap binary."`
	Truth       string        `placeholder:"FILE" help:"Write one ground-truth NDJSON record per nmap run to FILE (- = stdout)."`
}

func (c *ScanCmd) options(ctx context.Context) ([]trafficgen.ScanOptions, error) {
	techs, err := trafficgen.ParseTechniques(c.Technique)
	if err != nil {
		return nil, cliutil.Usagef("--technique: %v", err)
	}
	ports, err := trafficgen.ParsePorts(c.Ports)
	if err != nil {
		return nil, cliutil.Usagef("--ports: %v", err)
	}
	if c.Timing < 0 || c.Timing > 5 {
		return nil, cliutil.Usagef("--timing %d: nmap has -T0 to -T5", c.Timing)
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 || c.ScanDelay < 0 || c.HostTimeout <= 0 {
		return nil, cliutil.Usagef("--max-retries must be within 0..10, --scan-delay ≥ 0, --host-timeout > 0")
	}
	if c.SourcePort < 0 || c.SourcePort > 65535 {
		return nil, cliutil.Usagef("--source-port %d is out of range", c.SourcePort)
	}
	target, src, err := c.Target.resolveWithSource(ctx, c.Source)
	if err != nil {
		return nil, err
	}
	also, err := c.Target.resolveAlso(ctx, c.Also)
	if err != nil {
		return nil, err
	}
	nmap, err := trafficgen.Preflight(c.Nmap, techs)
	if err != nil {
		return nil, err
	}
	var runs []trafficgen.ScanOptions
	for _, t := range techs {
		runs = append(runs, trafficgen.ScanOptions{
			Nmap: nmap, Target: target, Also: also, Technique: t, Ports: ports, Timing: c.Timing, ScanDelay: c.ScanDelay,
			MaxRetries: c.MaxRetries, Source: src, SourcePort: c.SourcePort, Interface: c.Interface, HostTimeout: c.HostTimeout,
		})
	}
	return runs, nil
}

func (c *ScanCmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	runs, err := c.options(ctx)
	if err != nil {
		return err
	}
	truth, closeTruth, err := openTruth(c.Truth, stdout)
	if err != nil {
		return err
	}
	defer closeTruth()
	for i, o := range runs {
		fmt.Fprintf(stderr, "%s: %s\n", tool, o.CommandLine())
		start := time.Now()
		err := trafficgen.RunScan(ctx, o, stderr)
		rec := scanRecord(i, o, start, time.Now(), err)
		if werr := truth.Write(rec); werr != nil {
			return fmt.Errorf("truth log: %w", werr)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func scanRecord(step int, o trafficgen.ScanOptions, start, end time.Time, err error) trafficgen.TruthRecord {
	rec := trafficgen.TruthRecord{
		Step: step, Kind: trafficgen.KindScan, Target: o.Target.String(), Technique: o.Technique.Short(),
		Ports: o.Ports.String(), Command: o.CommandLine(),
		Start: start.UTC().Format(time.RFC3339Nano), End: end.UTC().Format(time.RFC3339Nano),
	}
	if o.Source.IsValid() {
		rec.Source = o.Source.String()
	}
	if err != nil {
		rec.Error = err.Error()
	}
	return rec
}

// openTruth opens the ground-truth log: "" = none, "-" = stdout, else a file
// (created or truncated).
func openTruth(name string, stdout io.Writer) (*trafficgen.TruthLog, func() error, error) {
	switch name {
	case "":
		return nil, func() error { return nil }, nil
	case "-":
		return trafficgen.NewTruthLog(stdout), func() error { return nil }, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, nil, fmt.Errorf("truth log: %w", err)
	}
	return trafficgen.NewTruthLog(f), f.Close, nil
}

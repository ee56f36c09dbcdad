// Package netnsdata builds the second-network dataset (datasets/netns): real
// nmap scans and real clients between two network namespaces joined by a
// veth pair (pkg/netns), captured by pcapsess inside the target namespace on
// its veth end. Its rows differ from the loopback set exactly where the
// network differs (MTU 1500, so MSS 1460 and window 64240 for kernel SYNs;
// veth latencies), which is what a cross-network evaluation needs.
//
// The tool runs itself again inside the namespaces for the parts that must
// live there (the HTTP server in the target, the clients and the marker
// connections in the scanner); those subcommands are hidden.
package netnsdata

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/merge"
	"scanwatch/pkg/netns"
	"scanwatch/pkg/trafficgen"
)

const tool = "netnsdata"

const description = `Build datasets/netns: nmap scans (label 1) and normal clients (label 0)
across a veth pair between two network namespaces (198.18.N.1 -> 198.18.N.2),
captured by pcapsess inside the target namespace. Needs root, iproute2 and nmap.
Every packet stays inside the two namespaces, which are removed at the end.`

type cliArgs struct {
	cliutil.VersionFlag
	Build  BuildCmd  `cmd:"" default:"withargs" help:"Make OUT/bad.csv, good.csv, merged.csv and manifest.json."`
	Serve  ServeCmd  `cmd:"" hidden:"" help:"(inside the target namespace) serve HTTP until stdin closes."`
	Normal NormalCmd `cmd:"" hidden:"" help:"(inside the scanner namespace) normal client traffic."`
	Marker MarkerCmd `cmd:"" hidden:"" help:"(inside the scanner namespace) one connection attempt."`
}

// Run is the tool's main.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cliArgs
	kctx, code, done := cliutil.Parse(tool, description, &c, args, stdout, stderr)
	if done {
		return code
	}
	ctx, stop := cliutil.SignalContext(ctx)
	defer stop()
	var err error
	switch kctx.Command() {
	case "build":
		err = c.Build.run(ctx, stderr)
	case "serve":
		err = c.Serve.run(ctx, stdin, stdout)
	case "normal":
		err = c.Normal.run(ctx, stderr)
	case "marker":
		err = c.Marker.run(ctx)
	default:
		err = cliutil.Usagef("unknown command %q", kctx.Command())
	}
	return cliutil.Report(tool, stderr, err)
}

// testHost refuses any address outside the namespace test ranges: the
// children are only ever pointed at the veth peer.
func testHost(s string) (netip.Addr, error) {
	allow, err := trafficgen.ParseAllow([]string{s})
	if err != nil {
		return netip.Addr{}, err
	}
	return allow[0], nil
}

// ServeCmd runs trafficgen's HTTP server (the open side of normal traffic)
// on the target address; it prints "ready" once listening and stops when
// its stdin closes, so it never outlives the builder.
type ServeCmd struct {
	Addr  string `required:"" help:"Address to listen on (a 198.18.0.0/15 test host)."`
	Ports string `required:"" help:"Ports to serve."`
}

func (c *ServeCmd) run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	addr, err := testHost(c.Addr)
	if err != nil {
		return err
	}
	ports, err := portList(c.Ports)
	if err != nil {
		return err
	}
	srv, err := trafficgen.Serve(addr, ports)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintln(stdout, "ready")
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, stdin); close(eof) }()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	return nil
}

// NormalCmd is trafficgen's normal client (RunNormal) against a target
// whose server runs in another namespace: the served ports are given, not
// opened here.
type NormalCmd struct {
	Target      string        `required:""`
	Ports       string        `default:"1-12000"`
	Serve       string        `required:""`
	Rate        float64       `default:"400" help:"Actions per second."`
	Count       int           `default:"2000"`
	Duration    time.Duration `default:"2m"`
	Concurrency int           `default:"4"`
	Seed        uint64        `default:"1"`
}

func (c *NormalCmd) run(ctx context.Context, stderr io.Writer) error {
	target, err := testHost(c.Target)
	if err != nil {
		return err
	}
	ports, err := trafficgen.ParsePorts(c.Ports)
	if err != nil {
		return err
	}
	serve, err := portList(c.Serve)
	if err != nil {
		return err
	}
	st, err := trafficgen.RunNormal(ctx, trafficgen.NormalOptions{
		Target: target, Ports: ports, Serve: serve, Rate: c.Rate, Count: c.Count, Duration: c.Duration,
		Concurrency: c.Concurrency, Timeout: 2 * time.Second, Seed: c.Seed,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: normal: %s\n", tool, st)
	if st.Total() == 0 {
		return fmt.Errorf("no action finished against %s", target)
	}
	return nil
}

// MarkerCmd makes one connection attempt to a closed port: its row in the
// capture proves pcapsess is capturing (start) or has written every earlier
// row (end).
type MarkerCmd struct {
	Target string `required:""`
	Port   uint16 `required:""`
}

func (c *MarkerCmd) run(ctx context.Context) error {
	target, err := testHost(c.Target)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: time.Second}
	if conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(target, c.Port).String()); err == nil {
		conn.Close()
	}
	return nil
}

func portList(s string) ([]uint16, error) {
	set, err := trafficgen.ParsePorts(s)
	if err != nil {
		return nil, err
	}
	var out []uint16
	for i := range set.Len() {
		out = append(out, set.At(i))
	}
	return out, nil
}

// BuildCmd makes the dataset.
type BuildCmd struct {
	Out         string        `default:"datasets/netns" help:"Output directory."`
	Pcapsess    string        `default:"bin/pcapsess" help:"pcapsess binary."`
	Trafficgen  string        `default:"bin/trafficgen" help:"trafficgen binary (runs the nmap scans)."`
	ID          int           `default:"77" help:"Namespace pair number N: addresses 198.18.N.1/2."`
	Techniques  string        `default:"sT,sS,sF,sN,sX" help:"nmap techniques, one capture each."`
	ScanPorts   string        `name:"scan-ports" default:"1-1000" help:"Ports every technique scans."`
	Timing      int           `default:"3" help:"nmap -T."`
	MaxRetries  int           `name:"max-retries" default:"1" help:"nmap --max-retries."`
	ScanDelay   time.Duration `name:"scan-delay" help:"nmap --scan-delay between probes (slow scans)."`
	NormalPorts string        `name:"normal-ports" default:"1-12000" help:"Sweep range of the normal clients."`
	Serve       string        `default:"18080,18081,18082" help:"Ports the target's HTTP server listens on."`
	Rate        float64       `default:"400" help:"Normal actions per second."`
	Concurrency int           `default:"4" help:"Parallel normal clients."`
	Chunk       int           `default:"2000" help:"Normal actions per client run (rows are counted between runs)."`
	NormalMax   time.Duration `name:"normal-max" default:"3m" help:"Give up on normal traffic after this long."`
	Window      time.Duration `default:"500ms" help:"pcapsess --window."`
	Seed        uint64        `default:"1" help:"Seed of the normal clients and of the balanced merge."`
}

// Marker ports lie outside every scanned, swept and served port.
const (
	startMarkerPort = 65001
	endMarkerPort   = 65002
)

// Manifest is OUT/manifest.json.
type Manifest struct {
	Made     string         `json:"made"`
	Host     string         `json:"host"`
	Kernel   string         `json:"kernel"`
	Network  string         `json:"network"`
	Bad      []ClassPart    `json:"bad"`
	Good     []ClassPart    `json:"good"`
	Merged   map[string]int `json:"merged_rows_per_label"`
	Commands []string       `json:"commands"`
}

// ClassPart is one capture: its rows are lines First..Last of the class
// file (line 1 is the header).
type ClassPart struct {
	Kind    string `json:"technique_or_kind"`
	Rows    int    `json:"rows"`
	First   int    `json:"first_line"`
	Last    int    `json:"last_line"`
	Capture string `json:"capture_command"`
	Traffic string `json:"traffic_command"`
	Summary string `json:"capture_summary"`
	Seconds string `json:"seconds"`
}

func (c *BuildCmd) run(ctx context.Context, stderr io.Writer) error {
	if why := netns.Available(); why != "" {
		return fmt.Errorf("%s", why)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, b := range []*string{&c.Pcapsess, &c.Trafficgen} {
		if *b, err = exec.LookPath(*b); err != nil {
			return fmt.Errorf("%w (just build)", err)
		}
		if *b, err = filepath.Abs(*b); err != nil {
			return err
		}
	}
	techs, err := trafficgen.ParseTechniques(c.Techniques)
	if err != nil {
		return cliutil.Usage(err)
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	// The children's stderr is copied by exec's goroutines while we log.
	stderr = &lockedWriter{w: stderr}
	log := func(format string, a ...any) { fmt.Fprintf(stderr, tool+": "+format+"\n", a...) }

	p, err := netns.New(ctx, c.ID)
	if err != nil {
		return err
	}
	defer func() {
		if err := p.Close(); err != nil {
			log("removing namespaces: %v", err)
		} else {
			log("namespaces %s and %s removed", p.Scanner, p.Target)
		}
	}()
	log("namespaces %s (%s, %s) and %s (%s, %s)", p.Scanner, p.ScannerIf, p.ScannerV4, p.Target, p.TargetIf, p.TargetV4)
	host, _ := os.Hostname()
	uname, _ := exec.Command("uname", "-srm").Output()
	m := &Manifest{Made: time.Now().UTC().Format(time.RFC3339), Host: host, Kernel: strings.TrimSpace(string(uname)),
		Network: fmt.Sprintf("veth pair %s (%s) -> %s (%s), MTU 1500, capture on %s inside %s", p.ScannerIf, p.ScannerV4, p.TargetIf, p.TargetV4, p.TargetIf, p.Target)}
	cp := &capturer{p: p, self: self, pcapsess: c.Pcapsess, window: c.Window, log: log}

	// Label 1: one capture per technique.
	badPath := filepath.Join(c.Out, "bad.csv")
	bad, err := newClassFile(badPath)
	if err != nil {
		return err
	}
	defer bad.close()
	badRows := 0
	for _, t := range techs {
		args := []string{"scan", "--target", p.TargetV4, "--allow-target", p.TargetV4, "--technique", t.Short(),
			"--ports", c.ScanPorts, "--timing", strconv.Itoa(c.Timing), "--max-retries", strconv.Itoa(c.MaxRetries)}
		if c.ScanDelay > 0 {
			args = append(args, "--scan-delay", c.ScanDelay.String())
		}
		part, err := cp.capture(ctx, 1, bad, t.Short(), func(ctx context.Context, rows func() int) (string, error) {
			cmd := netns.Command(ctx, p.Scanner, c.Trafficgen, args...)
			cmd.Stderr = stderr
			return "ip netns exec " + p.Scanner + " trafficgen " + strings.Join(args, " "), cmd.Run()
		})
		if err != nil {
			return fmt.Errorf("%s capture: %w", t.Short(), err)
		}
		m.Bad = append(m.Bad, *part)
		badRows += part.Rows
	}
	if err := bad.close(); err != nil {
		return err
	}

	// Label 0: normal clients in the scanner namespace, trafficgen's HTTP
	// server in the target namespace, until as many rows as the scans gave.
	srv := netns.Command(ctx, p.Target, self, "serve", "--addr", p.TargetV4, "--ports", c.Serve)
	srvIn, err := srv.StdinPipe()
	if err != nil {
		return err
	}
	srvOut, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	srv.Stderr = stderr
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() { srvIn.Close(); srv.Wait() }()
	line := make([]byte, 6)
	if _, err := io.ReadFull(srvOut, line); err != nil || string(line) != "ready\n" {
		return fmt.Errorf("server in %s did not start (%v)", p.Target, err)
	}
	goodPath := filepath.Join(c.Out, "good.csv")
	good, err := newClassFile(goodPath)
	if err != nil {
		return err
	}
	defer good.close()
	part, err := cp.capture(ctx, 0, good, "normal", func(ctx context.Context, rows func() int) (string, error) {
		deadline := time.Now().Add(c.NormalMax)
		desc := ""
		for chunk := 0; rows() < badRows; chunk++ {
			left := time.Until(deadline)
			if left <= 0 {
				return desc, fmt.Errorf("normal traffic gave %d rows in %s, fewer than the %d scan rows", rows(), c.NormalMax, badRows)
			}
			args := []string{"normal", "--target", p.TargetV4, "--ports", c.NormalPorts, "--serve", c.Serve,
				"--rate", fmt.Sprint(c.Rate), "--concurrency", strconv.Itoa(c.Concurrency), "--count", strconv.Itoa(c.Chunk), "--duration", left.Round(time.Second).String(),
				"--seed", strconv.FormatUint(c.Seed+uint64(chunk), 10)}
			if chunk == 0 {
				desc = fmt.Sprintf("ip netns exec %s netnsdata %s (trafficgen.RunNormal; seeds %d+chunk, chunks until >= %d rows); server: ip netns exec %s netnsdata serve --addr %s --ports %s",
					p.Scanner, strings.Join(args, " "), c.Seed, badRows, p.Target, p.TargetV4, c.Serve)
			}
			cmd := netns.Command(ctx, p.Scanner, self, args...)
			cmd.Stderr = stderr
			if err := cmd.Run(); err != nil {
				return desc, err
			}
			// Rows of this chunk's last sessions arrive after --window.
			if err := cp.sync(ctx); err != nil {
				return desc, err
			}
			log("normal chunk %d: %d rows so far", chunk+1, rows())
		}
		return desc, nil
	})
	if err != nil {
		return fmt.Errorf("normal capture: %w", err)
	}
	m.Good = append(m.Good, *part)
	if err := good.close(); err != nil {
		return err
	}

	// merged.csv: both classes, the larger downsampled (as csvmerge --balance).
	mergedPath := filepath.Join(c.Out, "merged.csv")
	f, err := os.Create(mergedPath)
	if err != nil {
		return err
	}
	inputs, err := merge.FileInputs([]string{badPath, goodPath}, nil)
	if err != nil {
		f.Close()
		return err
	}
	st, err := merge.Merge(ctx, inputs, f, merge.Options{Require: merge.SeedRequire(), Balance: true, Seed: int64(c.Seed), Format: "csv"})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	m.Merged = map[string]int{}
	for k, v := range st.PerClass {
		m.Merged[strconv.Itoa(k)] = v
	}
	m.Commands = []string{"just dataset-netns", fmt.Sprintf("csvmerge --balance --seed %d %s %s > %s", c.Seed, badPath, goodPath, mergedPath)}
	js, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(c.Out, "manifest.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	log("bad %d rows, good %d rows, merged %v", badRows, part.Rows, m.Merged)
	return nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

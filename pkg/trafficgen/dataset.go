package trafficgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"scanwatch/pkg/merge"
	"scanwatch/pkg/row"
)

// DatasetOptions configure `trafficgen dataset`: what the seed's
// dataset_and_train.py did, capture by capture.
type DatasetOptions struct {
	Out      string // directory for bad.csv, good.csv, merged.csv, manifest.json
	Pcapsess string // pcapsess binary
	Iface    string // capture interface (lo)
	Window   time.Duration
	Target   netip.Addr

	// Scans (label 1): every technique over ScanPorts, each from its own
	// source address, pass after pass until MinRows rows (at most MaxPasses).
	Techniques []Technique
	ScanPorts  PortSet
	Timing     int
	ScanDelay  time.Duration
	MaxRetries int
	MinRows    int
	MaxPasses  int
	Parallel   bool // run a pass's techniques at the same time (each has its own source)
	ScanBase   netip.Addr

	// Normal traffic (label 0) until as many rows as the scans gave.
	NormalSource      netip.Addr
	NormalPorts       PortSet
	Serve             []uint16 // 0 = a free port
	NormalRate        float64
	NormalConcurrency int
	NormalChunk       int // actions between row counts
	NormalMax         time.Duration
	Seed              uint64

	Nmap string
	Log  io.Writer
}

// Marker connections come from their own address and are dropped from the
// output: one proves the capture is running before any traffic starts, and
// one after the traffic proves every row before it has been written.
var markerSource = netip.MustParseAddr("127.0.66.250")

// ScannerSource is the source address of technique i in pass p: every
// (pass, technique) has its own, so rows can be attributed to a technique.
func ScannerSource(base netip.Addr, pass, i int) netip.Addr {
	b := base.As4()
	b[3] += byte(pass*10 + i)
	return netip.AddrFrom4(b)
}

// Manifest is written to OUT/manifest.json: how the data was made and what
// came out.
type Manifest struct {
	Made        string         `json:"made"`
	Host        string         `json:"host"`
	Bad         ClassManifest  `json:"bad"`
	Good        ClassManifest  `json:"good"`
	Merged      map[string]int `json:"merged_rows_per_label"`
	MergedTotal int            `json:"merged_rows"`
}

// ClassManifest describes one capture.
type ClassManifest struct {
	File       string         `json:"file"`
	Rows       int            `json:"rows"`
	PerSource  map[string]int `json:"rows_per_source"`
	PerKind    map[string]int `json:"rows_per_technique_or_kind"`
	Capture    string         `json:"capture_command"`
	Commands   []string       `json:"traffic_commands"`
	Kernel     string         `json:"capture_summary"`
	StartedAt  string         `json:"started"`
	FinishedAt string         `json:"finished"`
}

// RunDataset makes OUT/bad.csv, OUT/good.csv, OUT/merged.csv (balanced) and
// OUT/manifest.json.
func RunDataset(ctx context.Context, o DatasetOptions) (*Manifest, error) {
	if o.MaxPasses < 1 || o.MaxPasses > 20 || o.MinRows < 0 {
		return nil, fmt.Errorf("max passes must be within 1..20 and min rows ≥ 0")
	}
	if !isLoopback(o.Target) || !o.Target.Is4() {
		return nil, fmt.Errorf("dataset: target %s must be an IPv4 loopback address", o.Target)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	m := &Manifest{Made: stamp(time.Now()), Host: host}
	if o.Log == nil {
		o.Log = io.Discard
	}
	// pcapsess's stderr is copied from another goroutine.
	o.Log = &lockedWriter{w: o.Log}
	log := o.Log

	// Label 1: scans.
	var sources []netip.Addr
	kindOf := map[netip.Addr]string{}
	for p := range o.MaxPasses {
		for i, t := range o.Techniques {
			s := ScannerSource(o.ScanBase, p, i)
			sources = append(sources, s)
			kindOf[s] = t.Short()
		}
	}
	bad, err := captureClass(ctx, o, 1, filepath.Join(o.Out, "bad.csv"), sources, kindOf, func(ctx context.Context, c *classCapture) ([]string, error) {
		var cmds []string
		for p := range o.MaxPasses {
			var runs []ScanOptions
			for i, t := range o.Techniques {
				runs = append(runs, ScanOptions{
					Nmap: o.Nmap, Target: o.Target, Technique: t, Ports: o.ScanPorts, Timing: o.Timing,
					ScanDelay: o.ScanDelay, MaxRetries: o.MaxRetries, Source: ScannerSource(o.ScanBase, p, i),
					HostTimeout: time.Hour,
				})
			}
			for _, r := range runs {
				cmds = append(cmds, r.CommandLine())
				fmt.Fprintf(log, "trafficgen: dataset: %s\n", r.CommandLine())
			}
			if err := runScans(ctx, runs, o.Parallel, log); err != nil {
				return cmds, err
			}
			n, err := c.sync(ctx)
			if err != nil {
				return cmds, err
			}
			fmt.Fprintf(log, "trafficgen: dataset: pass %d: %d scan rows so far\n", p+1, n)
			if n >= o.MinRows {
				break
			}
		}
		return cmds, nil
	})
	if err != nil {
		return nil, fmt.Errorf("scans (label 1): %w", err)
	}
	m.Bad = *bad
	if bad.Rows < o.MinRows {
		return m, fmt.Errorf("scans gave %d rows, fewer than %d after %d passes", bad.Rows, o.MinRows, o.MaxPasses)
	}

	// Label 0: normal traffic until as many rows as the scans gave.
	srv, err := Serve(o.Target, o.Serve)
	if err != nil {
		return m, err
	}
	defer srv.Close()
	served := srv.Ports()
	good, err := captureClass(ctx, o, 0, filepath.Join(o.Out, "good.csv"), []netip.Addr{o.NormalSource}, map[netip.Addr]string{o.NormalSource: "normal"}, func(ctx context.Context, c *classCapture) ([]string, error) {
		deadline := time.Now().Add(o.NormalMax)
		cmd := fmt.Sprintf("trafficgen normal --target %s --source %s --ports %s --serve %s --rate %g/s --concurrency %d (chunks of %d actions, seeds %d+chunk, until %d rows)",
			o.Target, o.NormalSource, o.NormalPorts, PortSetOf(served), o.NormalRate, o.NormalConcurrency, o.NormalChunk, o.Seed, bad.Rows)
		for chunk := 0; ; chunk++ {
			left := time.Until(deadline)
			if left <= 0 {
				return []string{cmd}, fmt.Errorf("normal traffic gave %d rows in %s, fewer than the %d scan rows", c.rows(), o.NormalMax, bad.Rows)
			}
			st, err := RunNormal(ctx, NormalOptions{
				Target: o.Target, Source: o.NormalSource, Ports: o.NormalPorts, Serve: served, Rate: o.NormalRate,
				Count: o.NormalChunk, Duration: left, Concurrency: o.NormalConcurrency, Timeout: 2 * time.Second,
				Seed: o.Seed + uint64(chunk),
			})
			if err != nil {
				return []string{cmd}, err
			}
			if ctx.Err() != nil {
				return []string{cmd}, ctx.Err()
			}
			n, err := c.sync(ctx)
			if err != nil {
				return []string{cmd}, err
			}
			fmt.Fprintf(log, "trafficgen: dataset: normal chunk %d: %s; %d rows so far\n", chunk+1, st, n)
			if n >= bad.Rows {
				return []string{cmd}, nil
			}
		}
	})
	if err != nil {
		return m, fmt.Errorf("normal traffic (label 0): %w", err)
	}
	m.Good = *good

	// merged.csv: both classes, larger one downsampled (pkg/merge, as csvmerge --balance).
	mergedPath := filepath.Join(o.Out, "merged.csv")
	f, err := os.Create(mergedPath)
	if err != nil {
		return m, err
	}
	inputs, _ := merge.FileInputs([]string{bad.File, good.File}, nil)
	st, err := merge.Merge(ctx, inputs, f, merge.Options{Require: merge.SeedRequire(), Balance: true, Seed: int64(o.Seed), Format: "csv"})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return m, fmt.Errorf("merge: %w", err)
	}
	m.Merged = map[string]int{}
	for k, v := range st.PerClass {
		m.Merged[strconv.Itoa(k)] = v
	}
	m.MergedTotal = st.Out
	return m, nil
}

// PortSetOf turns a port list into a PortSet for printing.
func PortSetOf(ports []uint16) PortSet {
	var ps PortSet
	for _, p := range ports {
		ps = append(ps, PortRange{p, p})
	}
	return ps
}

func runScans(ctx context.Context, runs []ScanOptions, parallel bool, log io.Writer) error {
	if !parallel {
		for _, r := range runs {
			if err := RunScan(ctx, r, io.Discard); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() { errs[i] = RunScan(ctx, r, io.Discard) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// classCapture is one running pcapsess and the rows it has written.
type classCapture struct {
	mu        sync.Mutex
	cond      *sync.Cond
	perSource map[netip.Addr]int // by our endpoint (see copyRows)
	kindOf    map[netip.Addr]string
	total     int
	markers   map[uint16]int // marker rows per destination port
	readErr   error
	finished  bool
	target    netip.Addr
	startPort uint16
	syncPort  uint16
	syncsSent int
}

func (c *classCapture) rows() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// waitMarkers waits until n marker rows to port have been read, or the
// reader ended, or the timeout passed.
func (c *classCapture) waitMarkers(ctx context.Context, port uint16, n int, timeout time.Duration) error {
	stop := context.AfterFunc(ctx, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop()
	t := time.AfterFunc(timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer t.Stop()
	start := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.markers[port] < n {
		if c.finished {
			if c.readErr != nil {
				return fmt.Errorf("pcapsess output: %w", c.readErr)
			}
			return errors.New("pcapsess stopped early")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) >= timeout {
			return fmt.Errorf("marker row did not arrive within %s (is pcapsess capturing on the right interface?)", timeout)
		}
		c.cond.Wait()
	}
	return nil
}

// sync sends one marker connection and waits for its row: every session
// that ended before it has then been written. It returns the rows so far.
func (c *classCapture) sync(ctx context.Context) (int, error) {
	c.syncsSent++
	marker(c.target, c.syncPort)
	if err := c.waitMarkers(ctx, c.syncPort, c.syncsSent, 30*time.Second); err != nil {
		return 0, err
	}
	return c.rows(), nil
}

// marker makes one connection attempt from markerSource to a closed port.
func marker(target netip.Addr, port uint16) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: markerSource.AsSlice()}, Timeout: time.Second}
	if conn, err := d.Dial("tcp", netip.AddrPortFrom(target, port).String()); err == nil {
		conn.Close()
	}
}

// closedPorts returns n ports on target that nothing listens on (bound and
// released again).
func closedPorts(target netip.Addr, n int) ([]uint16, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var ports []uint16
	for range n {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(target, 0).String())
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

var kernelSummary = regexp.MustCompile(`pcapsess: .*`)

// captureClass runs pcapsess with --label label restricted to hosts (and the
// marker address), runs traffic, and stops pcapsess with SIGINT once the
// end marker's row shows every row is written.
func captureClass(ctx context.Context, o DatasetOptions, label int, path string, hosts []netip.Addr, kindOf map[netip.Addr]string,
	traffic func(context.Context, *classCapture) ([]string, error)) (*ClassManifest, error) {
	ports, err := closedPorts(o.Target, 2)
	if err != nil {
		return nil, err
	}
	c := &classCapture{perSource: map[netip.Addr]int{}, kindOf: kindOf, markers: map[uint16]int{}, target: o.Target, startPort: ports[0], syncPort: ports[1]}
	c.cond = sync.NewCond(&c.mu)
	args := []string{"-i", o.Iface, "--format", "csv", "--label", strconv.Itoa(label), "--window", o.Window.String()}
	for _, h := range append(hosts, markerSource) {
		args = append(args, "--host", h.String())
	}
	cm := &ClassManifest{File: path, Capture: o.Pcapsess + " " + strings.Join(args, " "), StartedAt: stamp(time.Now())}
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	// Not CommandContext: pcapsess must get SIGINT, never SIGKILL, so that
	// it writes its open sessions; cancellation is handled below.
	cmd := exec.Command(o.Pcapsess, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pcapsess: %w", err)
	}
	var summary strings.Builder
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(o.Log, sc.Text())
			if kernelSummary.MatchString(sc.Text()) {
				summary.WriteString(sc.Text())
			}
		}
	})
	// The traffic stops at once if pcapsess ends before we stop it: rows
	// would be missing from the middle of the class.
	trafficCtx, cancelTraffic := context.WithCancel(ctx)
	defer cancelTraffic()
	wg.Go(func() {
		err := copyRows(stdout, out, c)
		io.Copy(io.Discard, stdout) // never leave pcapsess blocked on a full pipe
		c.mu.Lock()
		c.readErr, c.finished = err, true
		c.cond.Broadcast()
		c.mu.Unlock()
		cancelTraffic()
	})
	stopped := false
	var waitErr error
	stop := func() error {
		if stopped {
			return waitErr
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGINT)
		wg.Wait()
		waitErr = cmd.Wait()
		return waitErr
	}
	defer stop()
	// early reports pcapsess ending on its own (killed, or failed).
	early := func(err error) error {
		c.mu.Lock()
		finished := c.finished
		c.mu.Unlock()
		if !finished || ctx.Err() != nil {
			return err
		}
		werr := stop()
		return fmt.Errorf("pcapsess ended during the capture (%v; did something signal it?): %w", werr, err)
	}

	// Wait until pcapsess captures: repeat the start marker until its row
	// arrives (a packet sent before the socket opened is simply not seen).
	ready := make(chan error, 1)
	go func() { ready <- c.waitMarkers(ctx, c.startPort, 1, 20*time.Second) }()
	tick := time.NewTicker(250 * time.Millisecond)
	marker(o.Target, c.startPort)
wait:
	for {
		select {
		case err := <-ready:
			if err != nil {
				return nil, fmt.Errorf("waiting for pcapsess to capture: %w", err)
			}
			break wait
		case <-tick.C:
			marker(o.Target, c.startPort)
		}
	}
	tick.Stop()

	cmds, err := traffic(trafficCtx, c)
	cm.Commands = cmds
	if err != nil {
		return cm, early(err)
	}
	if _, err := c.sync(ctx); err != nil {
		return cm, early(err)
	}
	if err := stop(); err != nil {
		return cm, fmt.Errorf("pcapsess: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr != nil {
		return cm, fmt.Errorf("pcapsess output: %w", c.readErr)
	}
	cm.Rows = c.total
	cm.PerSource, cm.PerKind = map[string]int{}, map[string]int{}
	for a, n := range c.perSource {
		cm.PerSource[a.String()] = n
		kind := kindOf[a]
		if kind == "" {
			kind = "unattributed" // initiator not one of ours: a reply seen without its request
		}
		cm.PerKind[kind] += n
	}
	cm.Kernel = summary.String()
	cm.FinishedAt = stamp(time.Now())
	return cm, nil
}

// copyRows writes pcapsess's rows to out, minus the marker rows, counting
// rows per initiator.
func copyRows(in io.Reader, out io.Writer, c *classCapture) error {
	rd, err := row.NewReader(in, "pcapsess", "csv")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	w, err := row.NewWriter(bw, "csv", rd.Schema(), row.WriterOptions{})
	if err != nil {
		return err
	}
	var r row.Row
	for {
		err := rd.Read(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if r.SrcIP == markerSource || r.DstIP == markerSource {
			c.mu.Lock()
			c.markers[r.DstPort]++
			c.cond.Broadcast()
			c.mu.Unlock()
			continue
		}
		if err := w.Write(&r); err != nil {
			return err
		}
		// Attribute the row to our endpoint: usually the initiator, but a
		// session that resumes after --window idle may start with the
		// target's packet.
		ours := r.SrcIP
		if _, ok := c.kindOf[ours]; !ok {
			if _, ok := c.kindOf[r.DstIP]; ok {
				ours = r.DstIP
			}
		}
		c.mu.Lock()
		c.perSource[ours]++
		c.total++
		c.mu.Unlock()
	}
	if err := w.Close(); err != nil {
		return err
	}
	return bw.Flush()
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

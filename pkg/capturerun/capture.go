package capturerun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"scanwatch/pkg/row"
	"scanwatch/pkg/truth"
)

// Marker ports lie above Linux's ephemeral range (32768–60999) and outside
// every port the builders scan, sweep or serve.
const (
	StartMarkerPort = 65001
	EndMarkerPort   = 65002
)

// Labeler sets r.Label and says what the row is for the manifest: its kind
// (a technique, "normal", ...) and the address of our endpoint that made it.
type Labeler func(r *row.Row) (kind string, source netip.Addr)

// Options configure one capture.
type Options struct {
	Pcapsess string        // pcapsess binary
	Window   time.Duration // pcapsess --window; 0 keeps its default
	Hosts    []netip.Addr  // pcapsess --host filters (the marker source is added); none = every packet
	Pcap     string        // also save the packets (pcapsess -w); "" = no
	Kind     string        // what the capture is, for logs and the manifest
	// Label labels the rows; nil labels them by Scanners (package truth).
	Label    Labeler
	Scanners []truth.Scanner
	Log      io.Writer // pcapsess's stderr and progress lines; nil = discard
}

// Run is one running capture, as the traffic callback sees it.
type Run struct {
	l        Launcher
	mu       sync.Mutex
	cond     *sync.Cond
	markers  map[uint16]int
	rows     int
	perLabel map[int]int
	perKind  map[string]int
	perSrc   map[netip.Addr]int
	finished bool
	readErr  error
	endSent  int
}

// Rows is the number of rows kept so far.
func (r *Run) Rows() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rows
}

// Launcher is where the capture runs.
func (r *Run) Launcher() Launcher { return r.l }

// Sync sends an end marker and waits for its row: every session that went
// idle before it has been written then. It returns the rows so far.
func (r *Run) Sync(ctx context.Context) (int, error) {
	r.endSent++
	r.marker(ctx, EndMarkerPort)
	if err := r.waitMarkers(ctx, EndMarkerPort, r.endSent, 30*time.Second); err != nil {
		return 0, err
	}
	return r.Rows(), nil
}

// marker makes one connection attempt to a closed marker port.
func (r *Run) marker(ctx context.Context, port uint16) {
	if conn, err := r.l.dial(ctx, netip.AddrPortFrom(r.l.Target(), port)); err == nil {
		conn.Close()
	}
}

// waitMarkers waits for n rows of marker port.
func (r *Run) waitMarkers(ctx context.Context, port uint16, n int, timeout time.Duration) error {
	stop := context.AfterFunc(ctx, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer stop()
	t := time.AfterFunc(timeout, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer t.Stop()
	start := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.markers[port] < n {
		switch {
		case r.finished && r.readErr != nil:
			return fmt.Errorf("pcapsess output: %w", r.readErr)
		case r.finished:
			return errors.New("pcapsess stopped early")
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Since(start) >= timeout:
			return fmt.Errorf("marker row (port %d) did not arrive within %s (is pcapsess capturing on the right interface?)", port, timeout)
		}
		r.cond.Wait()
	}
	return nil
}

// isMarker reports a marker session: the marker source and a marker port of
// the target, in either direction (a session may start with the target's
// RST when its first packet was not seen).
func isMarker(r *row.Row, target, source netip.Addr) (uint16, bool) {
	for _, ep := range [2]struct {
		ip, peer netip.Addr
		port     uint16
	}{{r.DstIP, r.SrcIP, r.DstPort}, {r.SrcIP, r.DstIP, r.SrcPort}} {
		if ep.ip == target && ep.peer == source && (ep.port == StartMarkerPort || ep.port == EndMarkerPort) {
			return ep.port, true
		}
	}
	return 0, false
}

// Capture runs pcapsess on l's capture interface around traffic and appends
// its rows, labelled, to out. traffic returns the command lines it ran.
func Capture(ctx context.Context, l Launcher, o Options, out *ClassFile,
	traffic func(ctx context.Context, r *Run) ([]string, error)) (*Part, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if o.Label == nil {
		rules, err := truth.Compile(o.Scanners)
		if err != nil {
			return nil, err
		}
		o.Label = RulesLabeler(rules, o.Scanners)
	}
	r := &Run{l: l, markers: map[uint16]int{}, perLabel: map[int]int{}, perKind: map[string]int{}, perSrc: map[netip.Addr]int{}}
	r.cond = sync.NewCond(&r.mu)
	args := []string{"-i", l.Iface(), "--format", "csv"}
	if o.Window > 0 {
		args = append(args, "--window", o.Window.String())
	}
	if o.Pcap != "" {
		args = append(args, "-w", o.Pcap)
	}
	if len(o.Hosts) > 0 {
		for _, h := range append(o.Hosts, l.MarkerSource()) {
			args = append(args, "--host", h.String())
		}
	}
	// pcapsess stays root: the class file is written by us, but -w's file
	// is opened before the drop and a namespace has no "nobody" to worry about.
	args = append(args, "--user=")
	part := &Part{File: out.Path, Kind: o.Kind, First: max(out.lines, 1) + 1, Pcap: o.Pcap, Scanners: o.Scanners,
		Capture: l.Describe(Target, "pcapsess", args...), Started: stamp(time.Now())}
	began := time.Now()
	// Not CommandContext's kill: pcapsess must get SIGINT (it then writes
	// its open sessions), never SIGKILL; cancellation is handled below.
	cmd := l.Command(context.Background(), Target, o.Pcapsess, args...)
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
	var summary string
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if strings.HasPrefix(sc.Text(), "pcapsess: ") {
				summary = sc.Text()
			}
		}
	})
	// The traffic stops at once if pcapsess ends before we stop it.
	trafficCtx, cancelTraffic := context.WithCancel(ctx)
	defer cancelTraffic()
	wg.Go(func() {
		err := r.copyRows(stdout, out, o.Label)
		io.Copy(io.Discard, stdout) // never leave pcapsess blocked on a full pipe
		r.mu.Lock()
		r.readErr, r.finished = err, true
		r.cond.Broadcast()
		r.mu.Unlock()
		cancelTraffic()
	})
	stopped := false
	var waitErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGINT)
			wg.Wait()
			waitErr = cmd.Wait()
		}
		return waitErr
	}
	defer stop()
	// early explains an error caused by pcapsess ending on its own.
	early := func(err error) error {
		r.mu.Lock()
		finished := r.finished
		r.mu.Unlock()
		if !finished || ctx.Err() != nil {
			return err
		}
		werr := stop()
		return fmt.Errorf("pcapsess ended during the capture (%v; did something signal it?): %w", werr, err)
	}

	// Ready once a start marker's row arrives; markers sent before the
	// socket opened are simply not seen, so repeat them.
	ready := make(chan error, 1)
	go func() { ready <- r.waitMarkers(ctx, StartMarkerPort, 1, 20*time.Second) }()
wait:
	for {
		r.marker(ctx, StartMarkerPort)
		select {
		case err := <-ready:
			if err != nil {
				return nil, fmt.Errorf("waiting for pcapsess to capture: %w", err)
			}
			break wait
		case <-time.After(250 * time.Millisecond):
		}
	}
	fmt.Fprintf(log, "capture %s: running (%s)\n", o.Kind, part.Capture)
	cmds, err := traffic(trafficCtx, r)
	part.Traffic = cmds
	if err != nil {
		return part, early(err)
	}
	if _, err := r.Sync(ctx); err != nil {
		return part, early(err)
	}
	if err := stop(); err != nil {
		return part, fmt.Errorf("pcapsess: %w (%s)", err, summary)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readErr != nil {
		return part, fmt.Errorf("pcapsess output: %w", r.readErr)
	}
	part.Rows = r.rows
	part.Last = part.First + r.rows - 1
	part.PerLabel, part.PerKind, part.PerSource = map[string]int{}, r.perKind, map[string]int{}
	for k, v := range r.perLabel {
		part.PerLabel[strconv.Itoa(k)] = v
	}
	for a, n := range r.perSrc {
		part.PerSource[a.String()] = n
	}
	part.Summary = summary
	part.Finished = stamp(time.Now())
	part.Seconds = fmt.Sprintf("%.1f", time.Since(began).Seconds())
	fmt.Fprintf(log, "capture %s: %d rows in %ss; %s\n", o.Kind, part.Rows, part.Seconds, summary)
	return part, nil
}

// copyRows appends pcapsess's rows to out, minus the marker sessions.
func (r *Run) copyRows(in io.Reader, out *ClassFile, label Labeler) error {
	rd, err := row.NewReader(in, "pcapsess", "csv")
	if err != nil {
		return err
	}
	schema := row.SessionSchema(true)
	target, source := r.l.Target(), r.l.MarkerSource()
	var rw row.Row
	for {
		err := rd.Read(&rw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if port, ok := isMarker(&rw, target, source); ok {
			r.mu.Lock()
			r.markers[port]++
			r.cond.Broadcast()
			r.mu.Unlock()
			continue
		}
		kind, src := label(&rw)
		if err := out.write(&rw, schema); err != nil {
			return err
		}
		r.mu.Lock()
		r.rows++
		r.perLabel[rw.Label]++
		r.perKind[kind]++
		r.perSrc[src]++
		r.mu.Unlock()
	}
}

// ClassLabeler labels every row label and attributes it to whichever of its
// endpoints is one of ours (kinds maps our addresses to their kind): usually
// the initiator, but a session that resumes after --window idle may start
// with the target's packet. Rows of no address of ours are "unattributed"
// (a reply seen without its request).
func ClassLabeler(label int, kinds map[netip.Addr]string) Labeler {
	return func(r *row.Row) (string, netip.Addr) {
		r.Label = label
		for _, a := range [2]netip.Addr{r.SrcIP, r.DstIP} {
			if k, ok := kinds[a]; ok {
				return k, a
			}
		}
		return "unattributed", r.SrcIP
	}
}

// RulesLabeler labels rows by the scanners' ground truth: a scan row's kind
// is its scanner's techniques, any other row's is "normal"; the source is
// the initiator.
func RulesLabeler(rules *truth.Rules, scanners []truth.Scanner) Labeler {
	return func(r *row.Row) (string, netip.Addr) {
		label, i := rules.Label(r)
		r.Label = label
		if label == 1 {
			return strings.Join(scanners[i].Techniques, "+"), r.SrcIP
		}
		return "normal", r.SrcIP
	}
}

// ClassFile is one CSV of rows that captures append to one after the other,
// so that each capture is a range of its lines.
type ClassFile struct {
	Path  string
	f     *os.File
	bw    *bufio.Writer
	w     row.Writer
	lines int // lines written so far, header included
}

// CreateClassFile creates (or truncates) path.
func CreateClassFile(path string) (*ClassFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &ClassFile{Path: path, f: f, bw: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (c *ClassFile) write(r *row.Row, schema *row.Schema) error {
	if c.w == nil {
		w, err := row.NewWriter(c.bw, "csv", schema, row.WriterOptions{})
		if err != nil {
			return err
		}
		c.w, c.lines = w, 1
	}
	c.lines++
	return c.w.Write(r)
}

// Close flushes and closes the file; a file no row reached holds only the
// header.
func (c *ClassFile) Close() error {
	if c.f == nil {
		return nil
	}
	var err error
	if c.w == nil {
		c.w, err = row.NewWriter(c.bw, "csv", row.SessionSchema(true), row.WriterOptions{})
	}
	if err == nil {
		err = c.w.Close()
	}
	if ferr := c.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	return err
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// commandLine joins a command for a manifest, quoting what a shell would split.
func commandLine(name string, args []string) string {
	parts := []string{name}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$*?") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

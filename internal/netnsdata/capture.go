package netnsdata

import (
	"bufio"
	"bytes"
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

	"scanwatch/pkg/netns"
	"scanwatch/pkg/row"
)

// classFile is one class's CSV; its captures are appended one after the
// other, so a capture is a range of lines.
type classFile struct {
	f     *os.File
	bw    *bufio.Writer
	w     row.Writer
	lines int // lines written so far, header included
}

func newClassFile(path string) (*classFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &classFile{f: f, bw: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (c *classFile) write(r *row.Row, schema *row.Schema) error {
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

func (c *classFile) close() error {
	if c.f == nil {
		return nil
	}
	var err error
	if c.w != nil {
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

// capturer runs one pcapsess at a time inside the target namespace.
type capturer struct {
	p        *netns.Pair
	self     string
	pcapsess string
	window   time.Duration
	log      func(string, ...any)

	mu       sync.Mutex
	cond     *sync.Cond
	markers  map[uint16]int
	rows     int
	finished bool
	readErr  error
	endSent  int
}

func (c *capturer) target() netip.Addr { return netip.MustParseAddr(c.p.TargetV4) }

// marker makes one connection attempt from the scanner namespace.
func (c *capturer) marker(ctx context.Context, port uint16) {
	netns.Command(ctx, c.p.Scanner, c.self, "marker", "--target", c.p.TargetV4, "--port", strconv.Itoa(int(port))).Run()
}

// waitMarkers waits for n rows of marker port.
func (c *capturer) waitMarkers(ctx context.Context, port uint16, n int, timeout time.Duration) error {
	stop := context.AfterFunc(ctx, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop()
	t := time.AfterFunc(timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer t.Stop()
	start := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.markers[port] < n {
		switch {
		case c.finished && c.readErr != nil:
			return fmt.Errorf("pcapsess output: %w", c.readErr)
		case c.finished:
			return errors.New("pcapsess stopped early")
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Since(start) >= timeout:
			return fmt.Errorf("marker row (port %d) did not arrive within %s", port, timeout)
		}
		c.cond.Wait()
	}
	return nil
}

// sync sends an end marker and waits for its row: every session that went
// idle before it has been written then.
func (c *capturer) sync(ctx context.Context) error {
	c.endSent++
	c.marker(ctx, endMarkerPort)
	return c.waitMarkers(ctx, endMarkerPort, c.endSent, 30*time.Second)
}

func (c *capturer) rowCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows
}

// capture runs pcapsess --label label on the target's veth end, runs
// traffic, and appends the rows (minus marker rows) to out.
func (c *capturer) capture(ctx context.Context, label int, out *classFile, kind string,
	traffic func(ctx context.Context, rows func() int) (string, error)) (*ClassPart, error) {
	c.markers, c.rows, c.finished, c.readErr, c.endSent = map[uint16]int{}, 0, false, nil, 0
	c.cond = sync.NewCond(&c.mu)
	args := []string{"-i", c.p.TargetIf, "--format", "csv", "--label", strconv.Itoa(label), "--window", c.window.String(), "--user="}
	part := &ClassPart{Kind: kind, First: max(out.lines, 1) + 1,
		Capture: "ip netns exec " + c.p.Target + " pcapsess " + strings.Join(args, " ")}
	began := time.Now()
	// Not CommandContext: pcapsess must get SIGINT (it then writes its open
	// sessions), never SIGKILL. `ip netns exec` execs, so the process is
	// pcapsess itself.
	cmd := netns.Command(context.Background(), c.p.Target, c.pcapsess, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pcapsess: %w", err)
	}
	target := c.target()
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := c.copyRows(stdout, out, target)
		io.Copy(io.Discard, stdout)
		c.mu.Lock()
		c.readErr, c.finished = err, true
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	stopped := false
	var waitErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGINT)
			<-done
			waitErr = cmd.Wait()
		}
		return waitErr
	}
	defer stop()

	// Ready once a start marker's row arrives (markers sent before the
	// socket opened are simply not seen).
	ready := make(chan error, 1)
	go func() { ready <- c.waitMarkers(ctx, startMarkerPort, 1, 20*time.Second) }()
wait:
	for {
		c.marker(ctx, startMarkerPort)
		select {
		case err := <-ready:
			if err != nil {
				return nil, fmt.Errorf("waiting for pcapsess to capture: %w (%s)", err, strings.TrimSpace(stderr.String()))
			}
			break wait
		case <-time.After(250 * time.Millisecond):
		}
	}
	c.log("%s: capturing (label %d)", kind, label)
	if part.Traffic, err = traffic(ctx, c.rowCount); err != nil {
		return nil, err
	}
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	if err := stop(); err != nil {
		return nil, fmt.Errorf("pcapsess: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if c.readErr != nil {
		return nil, fmt.Errorf("pcapsess output: %w", c.readErr)
	}
	part.Rows = c.rows
	part.Last = part.First + c.rows - 1
	part.Seconds = fmt.Sprintf("%.1f", time.Since(began).Seconds())
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "pcapsess: ") {
			part.Summary = l
		}
	}
	c.log("%s: %d rows in %ss; %s", kind, part.Rows, part.Seconds, part.Summary)
	return part, nil
}

// copyRows appends pcapsess's rows to out, minus the marker sessions.
func (c *capturer) copyRows(in io.Reader, out *classFile, target netip.Addr) error {
	rd, err := row.NewReader(in, "pcapsess", "csv")
	if err != nil {
		return err
	}
	var r row.Row
	for {
		err := rd.Read(&r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if port, ok := markerPort(&r, target); ok {
			c.mu.Lock()
			c.markers[port]++
			c.cond.Broadcast()
			c.mu.Unlock()
			continue
		}
		if err := out.write(&r, rd.Schema()); err != nil {
			return err
		}
		c.mu.Lock()
		c.rows++
		c.mu.Unlock()
	}
}

func markerPort(r *row.Row, target netip.Addr) (uint16, bool) {
	for _, ep := range []struct {
		ip   netip.Addr
		port uint16
	}{{r.DstIP, r.DstPort}, {r.SrcIP, r.SrcPort}} {
		if ep.ip == target && (ep.port == startMarkerPort || ep.port == endMarkerPort) {
			return ep.port, true
		}
	}
	return 0, false
}

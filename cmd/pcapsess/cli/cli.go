// Package cli is pcapsess: packets in, session rows out.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/metrics"
	"scanwatch/pkg/row"
	"scanwatch/pkg/session"
)

const tool = "pcapsess"

const description = `Turn TCP packets into session rows (CSV or NDJSON) on stdout.

A session is every packet between two (ip, port) endpoints until the pair
has been idle for --session-idle (--established-idle once its handshake
completed or data flowed both ways, until RST or both FINs), in packet time:
replaying a capture gives exactly the rows the live run gave. The first packet's sender is the
initiator (src_*). Live capture uses AF_PACKET and needs root or
CAP_NET_RAW; no libpcap is needed.

A trailing tcpdump filter expression keeps only the packets it matches
(applied in the kernel live, to files in userspace; compiled by tcpdump).
Live, --workers session tables (default: one per core) each take their share
of the flows from an AF_PACKET fanout group; rows leave on one stdout, in
the order one table would write them.

From a pipe (-r -, a FIFO) a row leaves as soon as its session has ended in
packet time, that is once a later packet shows it idle (or at the end of
input); a regular file is written in large blocks unless -l. A summary goes
to stderr at the end (-q: none); SIGINT or SIGTERM ends the
input, writes every session read so far and says the input was cut short.

Examples:
  sudo pcapsess -i lo | scanclass | scanalert
  sudo pcapsess -i eth0 --metrics 127.0.0.1:9101 'tcp and not port 22'
  pcapsess -r scan.pcap --label 1 > bad.csv
  tcpdump -U -i lo -w - | pcapsess -r - | scanclass | scanalert
  pcapsess -r 'caps/*.pcap.gz' --workers 2 > rows.csv`

type cmd struct {
	Interface       string        `short:"i" help:"Capture live from this interface (AF_PACKET)." xor:"src" placeholder:"IFACE"`
	Read            []string      `short:"r" sep:"none" help:"Read a pcap or pcapng file (gzip'd or not); - is stdin. Repeat it, or give a glob pattern, to merge files in time order as mergecap does." xor:"src" placeholder:"FILE"`
	Workers         int           `help:"Session tables working side by side, each with its share of the flows (live: one AF_PACKET fanout socket each). 0: one per core (files: at most ${fileworkers}, as one reader deals their packets)." default:"0"`
	Format          string        `help:"Output format: csv or ndjson." default:"csv" enum:"csv,ndjson"`
	Label           *int          `help:"Add a label column with this value (1 = scan, 0 = normal)." placeholder:"N"`
	SessionIdle     time.Duration `name:"session-idle" aliases:"window" help:"Idle time, in packet time, that ends a session that is not established (probes, refused and unanswered attempts)." default:"500ms"`
	EstablishedIdle time.Duration `name:"established-idle" help:"Idle time that ends an established session (handshake done or data both ways, no RST, not both FINs)." default:"5m"`
	ContextWindow   time.Duration `name:"context-window" help:"How far back from a session's end the ctx_* columns look at its initiator's first contacts." default:"5s"`
	Snaplen         int           `help:"Bytes kept per packet in live capture." default:"262144"`
	Host            []string      `help:"Keep only packets to or from this address (repeatable; a shorthand for the expression 'host ADDR')." placeholder:"ADDR"`
	Port            []uint16      `help:"Keep only packets to or from this TCP port (repeatable; a shorthand for 'tcp port N')." placeholder:"N"`
	MaxSessions     int           `help:"Most sessions held open (shared among the workers); past it the least recently active is written early and counted." default:"${maxsessions}"`
	Write           string        `short:"w" help:"Also save every packet read (with --host or --port: every packet they keep) to this pcap file: replaying it with -r gives exactly the rows of this run." placeholder:"FILE"`
	User            string        `short:"Z" help:"After opening the live socket (and the -w file), run as this user, like tcpdump -Z; empty keeps root." default:"nobody" placeholder:"USER"`
	LineBuffered    bool          `short:"l" name:"line-buffered" help:"Write every row out as soon as its session ends, like tcpdump -l (live capture, a terminal and a pipe or FIFO on -r already do; a regular file on -r is otherwise written in large blocks)."`
	NoPromiscuous   bool          `short:"p" name:"no-promiscuous-mode" help:"Do not put the interface into promiscuous mode (tcpdump -p)."`
	Metrics         string        `help:"Serve Prometheus metrics at http://ADDR/metrics while running (host:port; port 0 picks one, named on stderr)." placeholder:"ADDR"`
	Quiet           bool          `short:"q" help:"Print no summary on stderr."`
	Expression      []string      `arg:"" optional:"" help:"A tcpdump filter expression (pcap-filter(7)): live, the kernel applies it; files get the same program in userspace. Compiled by tcpdump -ddd." placeholder:"EXPRESSION"`
	cliutil.VersionFlag

	stdin io.Reader
}

// liveReady, when set (by tests), is called once the live socket is open.
var liveReady func()

// Run is pcapsess's main.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := cmd{stdin: stdin}
	_, code, done := cliutil.Parse(tool, description, &c, args, stdout, stderr,
		kongVars())
	if done {
		return code
	}
	return cliutil.Report(tool, stderr, c.run(ctx, stdout, stderr))
}

func (c *cmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	if c.Interface == "" && len(c.Read) == 0 {
		return cliutil.Usagef("give a capture source: -i IFACE or -r FILE")
	}
	if c.SessionIdle <= 0 || c.EstablishedIdle <= 0 || c.ContextWindow <= 0 {
		return cliutil.Usagef("--session-idle, --established-idle and --context-window must be positive")
	}
	if c.EstablishedIdle < c.SessionIdle {
		return cliutil.Usagef("--established-idle (%v) must not be shorter than --session-idle (%v)", c.EstablishedIdle, c.SessionIdle)
	}
	if c.MaxSessions <= 0 {
		return cliutil.Usagef("--max-sessions must be positive, got %d", c.MaxSessions)
	}
	if c.Workers < 0 || c.Workers > maxWorkers {
		return cliutil.Usagef("--workers must be from 0 to %d, got %d", maxWorkers, c.Workers)
	}
	cfg := session.Config{Window: c.SessionIdle, EstablishedIdle: c.EstablishedIdle, ContextWindow: c.ContextWindow,
		MaxSessions: c.MaxSessions, Ports: c.Port}
	for _, h := range c.Host {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return cliutil.Usagef("--host %q is not an IP address", h)
		}
		cfg.Hosts = append(cfg.Hosts, a)
	}
	expr := strings.TrimSpace(strings.Join(c.Expression, " "))

	ctx, cancel := cliutil.SignalContext(ctx)
	defer cancel()

	// stream is set when -r reads a pipe, a FIFO or a terminal: its rows
	// are flushed each time pcapsess is about to wait for more packets, so
	// that "tcpdump -U -w - | pcapsess -r -" writes each session as it ends.
	var stream *row.FlushBeforeRead
	srcs, workers, err := c.open(ctx, expr, func(r io.Reader) io.Reader {
		// A signal ends the input, also a read waiting on an idle pipe.
		in := cliutil.Input(ctx, r)
		if cliutil.IsRegularFile(r) {
			return in
		}
		stream = &row.FlushBeforeRead{R: in}
		return stream
	})
	if errors.Is(err, cliutil.ErrInterrupted) {
		return nil // a signal before the capture's header: no packets
	}
	if err != nil {
		return err
	}
	src := srcs[0]
	defer func() {
		for _, s := range srcs {
			s.Close()
		}
	}()
	if liveReady != nil && src.Live() {
		liveReady()
	}
	if c.Write != "" {
		f, err := os.Create(c.Write)
		if err != nil {
			return err
		}
		defer f.Close()
		cp, err := capture.NewCopy(f, c.Snaplen, src.Link, src.Live())
		if err != nil {
			return fmt.Errorf("%s: %w", c.Write, err)
		}
		// Without --host or --port every packet read is saved; with them,
		// only the packets the rows are made of.
		cfg.Keep, cfg.KeepAll = cp.Write, len(cfg.Hosts) == 0 && len(cfg.Ports) == 0
		defer cp.Flush()
	}
	if _, err := session.NewDecoder(src.Link); err != nil {
		return fmt.Errorf("%s: %w", src.Name, err)
	}
	split := capture.FlowHash(src.Link)
	if split == nil {
		workers = 1
	}

	schema := row.SessionSchema(c.Label != nil)
	// Live, to a terminal or with -l, every row is flushed as written; from
	// a pipe, before each wait for input (with several workers the reader
	// waits for the group's writer goroutine to write them, flushed one by
	// one);
	// from a regular file (the fast path), rows are formatted on the second
	// core while this one reads packets (with several workers, the group's
	// own writer goroutine does that), and written in large blocks.
	autoFlush := src.Live() || cliutil.IsTerminal(stdout) || c.LineBuffered || stream != nil && workers > 1
	w, err := row.NewWriter(stdout, c.Format, schema, row.WriterOptions{
		AutoFlush: autoFlush, Background: !autoFlush && stream == nil && workers == 1,
	})
	if err != nil {
		return cliutil.Usage(err)
	}
	if stream != nil {
		stream.Flush = w.Flush
	}
	emit := func(r *row.Row) error {
		if c.Label != nil {
			r.Label = *c.Label
		}
		return w.Write(r)
	}
	group := session.NewGroup(cfg, workers, emit)
	if c.Metrics != "" {
		// Listening before root is dropped lets a sensor use a low port.
		srv, err := metrics.Serve(c.Metrics, func(mw *metrics.Writer) { collect(mw, group, srcs) })
		if err != nil {
			return cliutil.Usage(err)
		}
		defer srv.Close()
		fmt.Fprintf(stderr, "%s: metrics on http://%s/metrics\n", tool, srv.Addr())
	}
	if src.Live() {
		if err := capture.DropPrivileges(c.User); err != nil {
			return err
		}
	}
	pds := make([]gopacket.PacketDataSource, len(srcs))
	for i, s := range srcs {
		pds[i] = s
	}
	if stream != nil {
		stream.Flush = w.Flush
		if workers > 1 {
			// The rows leave from the group's writer, flushed one by one.
			stream.Flush = group.FlushRound
		}
	}
	runErr := group.Run(ctx, pds, src.Link, session.RunOptions{Live: src.Live(), IsTimeout: capture.IsTimeout, Split: split})
	if errors.Is(runErr, cliutil.ErrInterrupted) {
		runErr = nil // Run wrote every session before it returned
	}
	if stream != nil {
		stream.Flush = nil
	}
	closeErr := w.Close()
	total, _ := group.Stats()
	if !c.Quiet {
		// A file read to its end is the normal case; a signal that stops a
		// live capture is too, while one that cuts a file short is news.
		c.summary(stderr, group, srcs, !src.Live() && ctx.Err() != nil)
	}
	if runErr != nil {
		if cliutil.IsBrokenPipe(runErr) {
			return nil
		}
		name := src.Name
		var re *capture.ReadError
		if errors.As(runErr, &re) {
			name, runErr = re.Name, re.Err
		}
		if errors.Is(runErr, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: capture is truncated (cut off in the middle of a packet); the %d complete sessions before it were written",
				name, total.Sessions)
		}
		return fmt.Errorf("%s: %w", name, runErr)
	}
	return closeErr
}

// maxWorkers bounds --workers (a fanout group takes at most 256 sockets).
const maxWorkers = 64

// open opens the capture: live, one socket per worker in a fanout group,
// with the expression in the kernel; files, merged, with the expression
// run in userspace.
func (c *cmd) open(ctx context.Context, expr string, wrap func(io.Reader) io.Reader) ([]*capture.Source, int, error) {
	filterErr := func(err error) error {
		var fe *capture.FilterError
		if errors.As(err, &fe) {
			return cliutil.Usage(err)
		}
		return err
	}
	if c.Interface != "" {
		workers := c.Workers
		if workers == 0 {
			workers = runtime.NumCPU()
		}
		opt := capture.LiveOptions{Snaplen: c.Snaplen, Promiscuous: !c.NoPromiscuous}
		if expr != "" {
			f, err := capture.CompileFilter(ctx, expr, layers.LinkTypeEthernet, c.Snaplen)
			if err != nil {
				return nil, 0, filterErr(err)
			}
			opt.Filter = f
		}
		srcs, err := capture.OpenLiveGroup(c.Interface, workers, opt)
		return srcs, workers, err
	}
	names, err := capture.ExpandFiles(c.Read)
	if err != nil {
		return nil, 0, err
	}
	src, err := capture.OpenFiles(names, c.stdin, wrap)
	if err != nil {
		return nil, 0, err
	}
	if expr != "" {
		f, err := capture.CompileFilter(ctx, expr, src.Link, c.Snaplen)
		if err == nil {
			var filtered *capture.Source
			if filtered, err = f.Apply(src); err == nil {
				return []*capture.Source{filtered}, c.fileWorkers(), nil
			}
		}
		src.Close()
		return nil, 0, filterErr(err)
	}
	return []*capture.Source{src}, c.fileWorkers(), nil
}

// maxFileWorkers bounds the default --workers for files: one goroutine
// reads and deals every packet, and past a few workers it is the limit.
const maxFileWorkers = 4

// fileWorkers is --workers for files: by default one per core, since two
// tables with the context stage on its own goroutine read a file about
// 1.8× as fast as one on 2 cores, with less CPU in all, and write the
// same rows byte for byte.
func (c *cmd) fileWorkers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return min(runtime.NumCPU(), maxFileWorkers)
}

// summary reports, on stderr, what a user needs to trust the rows: what
// was skipped or evicted, and kernel drops for live capture: the figures
// --metrics serves, and whether a signal cut a capture file short.
func (c *cmd) summary(stderr io.Writer, g *session.Group, srcs []*capture.Source, interrupted bool) {
	st, per := g.Stats()
	src := srcs[0]
	rejected := src.Rejected()
	fmt.Fprintf(stderr, "%s: %s: %s", tool, src.Name, statsText(st))
	if rejected > 0 {
		fmt.Fprintf(stderr, ", %d rejected by the filter expression", rejected)
	}
	if st.OutOfOrder > 0 {
		fmt.Fprintf(stderr, ", %d with timestamps going backwards", st.OutOfOrder)
	}
	if cs := g.ContextStats(); cs.Late > 0 {
		fmt.Fprintf(stderr, ", %d packet events later than the grace period", cs.Late)
	}
	if seen, drops, ok := kernelTotals(srcs); ok {
		fmt.Fprintf(stderr, "; kernel: %d received, %d dropped", seen, drops)
	}
	if interrupted {
		fmt.Fprint(stderr, "; interrupted by a signal before the end of the input: the sessions read so far were written")
	}
	fmt.Fprintln(stderr)
	// Per worker only live, where each has its own socket and drops.
	if len(per) < 2 || !src.Live() {
		return
	}
	for i, w := range per {
		fmt.Fprintf(stderr, "%s: worker %d: %s", tool, i, statsText(w))
		if i < len(srcs) {
			if seen, drops, ok := srcs[i].Drops(); ok {
				fmt.Fprintf(stderr, "; kernel: %d received, %d dropped", seen, drops)
			}
		}
		fmt.Fprintln(stderr)
	}
}

func statsText(st session.Stats) string {
	s := fmt.Sprintf("%d packets (IPv4 %d, IPv6 %d), %d TCP, %d sessions written", st.Packets, st.IPv4, st.IPv6, st.TCP, st.Sessions)
	if st.Evicted > 0 {
		s += fmt.Sprintf(", %d written early because --max-sessions was reached", st.Evicted)
	}
	if st.Malformed > 0 {
		s += fmt.Sprintf(", %d malformed packets skipped", st.Malformed)
	}
	if st.NonTCP > 0 {
		s += fmt.Sprintf(", %d non-TCP skipped", st.NonTCP)
	}
	if st.Filtered > 0 {
		s += fmt.Sprintf(", %d TCP packets not to --host/--port", st.Filtered)
	}
	return s
}

func kernelTotals(srcs []*capture.Source) (seen, drops uint, ok bool) {
	for _, s := range srcs {
		n, d, k := s.Drops()
		if !k {
			return 0, 0, false
		}
		seen, drops, ok = seen+n, drops+d, true
	}
	return seen, drops, ok
}

func kongVars() kong.Vars {
	return kong.Vars{"maxsessions": fmt.Sprint(session.DefaultMaxSessions), "fileworkers": fmt.Sprint(maxFileWorkers)}
}

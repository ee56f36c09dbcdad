// Package cli is pcapsess: packets in, session rows out.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"time"

	"github.com/alecthomas/kong"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/cliutil"
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

From a pipe (-r -, a FIFO) a row leaves as soon as its session has ended in
packet time, that is once a later packet shows it idle (or at the end of
input); a regular file is written in large blocks unless -l. A summary goes
to stderr at the end (-q: none); SIGINT or SIGTERM ends the input, writes
every session read so far and says the input was cut short.

Examples:
  sudo pcapsess -i lo | scanclass | scanalert
  pcapsess -r scan.pcap --label 1 > bad.csv
  tcpdump -U -i lo -w - | pcapsess -r - | scanclass | scanalert`

type cmd struct {
	Interface       string        `short:"i" help:"Capture live from this interface (AF_PACKET)." xor:"src" placeholder:"IFACE"`
	Read            string        `short:"r" help:"Read a pcap or pcapng file (gzip'd or not); - is stdin." xor:"src" placeholder:"FILE"`
	Format          string        `help:"Output format: csv or ndjson." default:"csv" enum:"csv,ndjson"`
	Label           *int          `help:"Add a label column with this value (1 = scan, 0 = normal)." placeholder:"N"`
	SessionIdle     time.Duration `name:"session-idle" aliases:"window" help:"Idle time, in packet time, that ends a session that is not established (probes, refused and unanswered attempts)." default:"500ms"`
	EstablishedIdle time.Duration `name:"established-idle" help:"Idle time that ends an established session (handshake done or data both ways, no RST, not both FINs)." default:"5m"`
	ContextWindow   time.Duration `name:"context-window" help:"How far back from a session's end the ctx_* columns look at its initiator's first contacts." default:"5s"`
	Snaplen         int           `help:"Bytes kept per packet in live capture." default:"262144"`
	Host            []string      `help:"Keep only packets to or from this address (repeatable)." placeholder:"ADDR"`
	Port            []uint16      `help:"Keep only packets to or from this TCP port (repeatable)." placeholder:"N"`
	MaxSessions     int           `help:"Most sessions held open; past it the least recently active is written early and counted." default:"${maxsessions}"`
	Write           string        `short:"w" help:"Also save every packet read (with --host or --port: every packet they keep) to this pcap file: replaying it with -r gives exactly the rows of this run." placeholder:"FILE"`
	User            string        `short:"Z" help:"After opening the live socket (and the -w file), run as this user, like tcpdump -Z; empty keeps root." default:"nobody" placeholder:"USER"`
	LineBuffered    bool          `short:"l" name:"line-buffered" help:"Write every row out as soon as its session ends, like tcpdump -l (live capture, a terminal and a pipe or FIFO on -r already do; a regular file on -r is otherwise written in large blocks)."`
	Quiet           bool          `short:"q" help:"Print no summary on stderr."`
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
	if c.Interface == "" && c.Read == "" {
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
	cfg := session.Config{Window: c.SessionIdle, EstablishedIdle: c.EstablishedIdle, ContextWindow: c.ContextWindow,
		MaxSessions: c.MaxSessions, Ports: c.Port}
	for _, h := range c.Host {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return cliutil.Usagef("--host %q is not an IP address", h)
		}
		cfg.Hosts = append(cfg.Hosts, a)
	}

	ctx, cancel := cliutil.SignalContext(ctx)
	defer cancel()

	var src *capture.Source
	var err error
	// stream is set when -r reads a pipe, a FIFO or a terminal: its rows
	// are flushed each time pcapsess is about to wait for more packets, so
	// that "tcpdump -U -w - | pcapsess -r -" writes each session as it ends.
	var stream *row.FlushBeforeRead
	if c.Interface != "" {
		src, err = capture.OpenLive(c.Interface, capture.LiveOptions{Snaplen: c.Snaplen})
	} else {
		src, err = capture.OpenFileWith(c.Read, c.stdin, func(r io.Reader) io.Reader {
			// A signal ends the input, also a read waiting on an idle pipe.
			in := cliutil.Input(ctx, r)
			if cliutil.IsRegularFile(r) {
				return in
			}
			stream = &row.FlushBeforeRead{R: in}
			return stream
		})
	}
	if errors.Is(err, cliutil.ErrInterrupted) {
		return nil // a signal before the capture's header: no packets
	}
	if err != nil {
		return err
	}
	defer src.Close()
	if liveReady != nil && src.Live() {
		liveReady()
	}
	if c.Write != "" {
		f, err := os.Create(c.Write)
		if err != nil {
			return err
		}
		defer f.Close()
		if len(cfg.Hosts) > 0 || len(cfg.Ports) > 0 {
			// Filtered: keep only the packets the rows are made of.
			cp, err := capture.NewCopy(f, c.Snaplen, src.Link, src.Live())
			if err != nil {
				return fmt.Errorf("%s: %w", c.Write, err)
			}
			cfg.Keep = cp.Write
			defer cp.Flush()
		} else {
			var flush func() error
			if src, flush, err = capture.Tee(src, f, c.Snaplen); err != nil {
				return fmt.Errorf("%s: %w", c.Write, err)
			}
			defer flush()
		}
	}
	if src.Live() {
		if err := capture.DropPrivileges(c.User); err != nil {
			return err
		}
	}
	dec, err := session.NewDecoder(src.Link)
	if err != nil {
		return fmt.Errorf("%s: %w", src.Name, err)
	}

	schema := row.SessionSchema(c.Label != nil)
	// Live, to a terminal or with -l, every row is flushed as written; from
	// a pipe, before each wait for input; from a regular file (the fast
	// path), rows are formatted on the second core while this one reads
	// packets, and written in large blocks.
	autoFlush := src.Live() || cliutil.IsTerminal(stdout) || c.LineBuffered
	w, err := row.NewWriter(stdout, c.Format, schema, row.WriterOptions{
		AutoFlush: autoFlush, Background: !autoFlush && stream == nil,
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
	table := session.NewTable(cfg, emit)
	runErr := table.Run(ctx, src, dec, session.RunOptions{Live: src.Live(), IsTimeout: capture.IsTimeout})
	if errors.Is(runErr, cliutil.ErrInterrupted) {
		runErr = nil // Run wrote every session before it returned
	}
	if stream != nil {
		stream.Flush = nil
	}
	closeErr := w.Close()
	if !c.Quiet {
		// A file read to its end is the normal case; a signal that stops a
		// live capture is too, while one that cuts a file short is news.
		c.summary(stderr, table.Stats(), src, !src.Live() && ctx.Err() != nil)
	}
	if runErr != nil {
		if cliutil.IsBrokenPipe(runErr) {
			return nil
		}
		if errors.Is(runErr, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: capture is truncated (cut off in the middle of a packet); the %d complete sessions before it were written",
				src.Name, table.Stats().Sessions)
		}
		return fmt.Errorf("%s: %w", src.Name, runErr)
	}
	return closeErr
}

// summary reports, on stderr, what a user needs to trust the rows: how
// much was read, what was skipped or evicted, kernel drops for live
// capture, and whether a signal cut a capture file short.
func (c *cmd) summary(stderr io.Writer, st session.Stats, src *capture.Source, interrupted bool) {
	fmt.Fprintf(stderr, "%s: %s: %d packets, %d TCP, %d sessions written", tool, src.Name, st.Packets, st.TCP, st.Sessions)
	if st.Evicted > 0 {
		fmt.Fprintf(stderr, ", %d written early because --max-sessions was reached", st.Evicted)
	}
	if st.Malformed > 0 {
		fmt.Fprintf(stderr, ", %d malformed packets skipped", st.Malformed)
	}
	if st.NonTCP > 0 {
		fmt.Fprintf(stderr, ", %d non-TCP skipped", st.NonTCP)
	}
	if seen, drops, ok := src.Drops(); ok {
		fmt.Fprintf(stderr, "; kernel: %d received, %d dropped", seen, drops)
	}
	if interrupted {
		fmt.Fprint(stderr, "; interrupted by a signal before the end of the input: the sessions read so far were written")
	}
	fmt.Fprintln(stderr)
}

func kongVars() kong.Vars {
	return kong.Vars{"maxsessions": fmt.Sprint(session.DefaultMaxSessions)}
}

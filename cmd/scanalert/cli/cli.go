// Package cli is scanalert: classified session rows in, scan alerts out.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"scanwatch/pkg/alert"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/metrics"
	"scanwatch/pkg/row"
)

const tool = "scanalert"

// ExitAlerts is the exit status when the run raised at least one alert.
const ExitAlerts = 3

const description = `Raise alerts for port scans in classified session rows (CSV or NDJSON, with a
prediction column: the output of scanclass), read from FILE or stdin as they
arrive.

The rule, per scanner (initiator IP), over a sliding window of packet time
(the rows' timestamps, never the wall clock, so a replay of a capture gives
the same alerts, timestamps included), counting the distinct services
(dst_ip, dst_port) it opened sessions to (--rule services):

  services with an anomalous session from it in --alert-window >= --min-anomalies, and
  those / all services it opened sessions to in --alert-window >= --ratio

checked on every row: the alert is written and flushed on the row that makes
it hold. Counting services, not sessions, keeps a scanner that is also a busy
client from hiding: its curl loop is one service beside every port it
probed, and a normal host whose sessions to a few services the model
sometimes gets wrong stays at those few. --rule sessions counts sessions
instead (the seed's 30 % rule, per scanner). Defaults: nmap's default timing
puts 5 probes in a few milliseconds and even --scan-delay 1s puts 5 in 5 s.

Each scanner's alert is an episode: one "start" record naming the scanner,
targets, destination ports, nmap techniques (connect, SYN, FIN, NULL, XMAS,
ACK/Window, Maimon, from each session's flags), counts and times; "update" records
while it goes on, the first --update after the start, each gap twice the last
(up to 32x); one "end" once it has been --episode-quiet (in packet time) or the
input ends.

Output (--format): eve is one Suricata EVE JSON alert per line
(event_type "alert", plus a "scan" object), the default when stdout is not a
terminal; text is a line per record and, on a terminal, a live table of
sessions, anomalies and detection redrawn in place. --log appends every
record as EVE JSON to a file whatever the format. A summary goes to stderr
at the end; on SIGINT/SIGTERM rows arriving within 1 s still count (upstream flushing),
then open episodes end and everything is flushed; a second signal kills.

With --subscribe URL, scanalert is a central instance: it reads the rows
that sensors publish (pcapsess | scanclass | scanbus publish) from NATS
JetStream, merges them in packet time (a row may lag the latest seen by
--lateness before it counts as late; late rows are still used, and counted),
and applies the rule across sensors: records name the sensors (scan.sensors),
and --subnets alerts on a scan spread over a /24 or /64. --instance I/N shares
the work among N instances by source subnet, so that each scanner's rows meet
in one. The durable consumer remembers where the instance stopped: a
restarted instance rebuilds its state from the log and goes on, without
writing again what it wrote before. Records also go to the bus, subject
scanwatch.alerts.<consumer>. It runs until SIGINT/SIGTERM; open episodes stay
open for the next run.

Exit status: 0 no alert, 3 at least one alert, 1 error (bad input: file and
line are named), 2 usage.

Examples:
  sudo pcapsess -i lo | scanclass | scanalert
  pcapsess -r scan.pcap | scanclass | scanalert --format eve --log alerts.json
  scanalert --subscribe nats://10.0.0.1:4222,nats://10.0.0.2:4222 --subnets --instance 1/2`

type cmd struct {
	File        string        `arg:"" optional:"" help:"Rows to read; - or nothing is stdin." placeholder:"FILE"`
	Rule        string        `help:"What the rule counts per scanner: services (distinct dst_ip, dst_port) or sessions (the seed's rule)." default:"services" enum:"services,sessions"`
	Ratio       float64       `help:"Anomalous share of a scanner's services (or sessions) in the window that raises an alert." default:"0.30"`
	MinSessions int           `name:"min-anomalies" aliases:"min-sessions" help:"Anomalous services (or sessions) of a scanner in the window needed to raise an alert." default:"5"`
	Window      time.Duration `name:"alert-window" aliases:"window" help:"Sliding window of the rule, in packet time." default:"5s"`
	Quiet       time.Duration `name:"episode-quiet" aliases:"quiet" help:"Packet time without anomalies from a scanner that ends its episode." default:"10s"`
	Update      time.Duration `help:"Packet time from an alert's start to its first update record; later gaps double (up to 32x)." default:"10s"`
	Format      string        `help:"Output: text or eve (Suricata EVE JSON); auto is text on a terminal, eve otherwise." default:"auto" enum:"auto,text,eve"`
	Log         string        `help:"Append every alert record, as EVE JSON, to this file." placeholder:"FILE"`
	InputFormat string        `help:"Input format: auto, csv or ndjson." default:"auto" enum:"auto,csv,ndjson"`
	MaxScanners int           `help:"Most scanners tracked at once (memory bound)." default:"65536" hidden:""`
	MaxWindow   int           `help:"Most sessions held in the window (memory bound)." default:"1048576" hidden:""`
	MaxEpisodes int           `help:"Most open episodes (memory bound)." default:"4096" hidden:""`
	Subnets     bool          `help:"Also alert on a scan spread over several sources of one subnet (/24, IPv6 /64), none of which crosses the rule alone." negatable:""`
	SubnetV4    int           `name:"subnet-v4" help:"Prefix length of an IPv4 source's subnet (--subnets)." default:"24"`
	SubnetV6    int           `name:"subnet-v6" help:"Prefix length of an IPv6 source's subnet (--subnets)." default:"64"`
	NoSummary   bool          `help:"Print no summary line on stderr."`
	Sensor      string        `help:"This sensor's name, the EVE records' host (default: the hostname)." placeholder:"NAME"`
	InIface     string        `name:"in-iface" help:"The interface the rows were captured on (pcapsess -i IFACE), the EVE records' in_iface; none for capture files." placeholder:"IFACE"`
	busFlags
	Metrics string `help:"Serve Prometheus metrics at http://ADDR/metrics while running (host:port; port 0 picks one, named on stderr)." placeholder:"ADDR"`
	cliutil.VersionFlag
}

// hostname names the sensor when --sensor is not given (a variable for
// tests, whose goldens must not hold the machine's name).
var hostname = os.Hostname

// maxTableAlerts bounds the open alerts listed under the live table.
const maxTableAlerts = 5

func targetsText(e *alert.Event) string {
	s := ""
	for i, a := range e.Targets {
		if i == 3 {
			break
		}
		if i > 0 {
			s += ","
		}
		s += a.String()
	}
	if e.TargetCount > 3 || e.MoreTargets {
		s += fmt.Sprintf(",... (%d)", e.TargetCount)
	}
	return s
}

// redrawEvery throttles the live table: a display concern, so wall clock.
var redrawEvery = 100 * time.Millisecond

// signalGrace is how long rows still count after SIGINT/SIGTERM, waiting
// for upstream to flush and close the pipe.
var signalGrace = time.Second

// forceLive, set by tests, draws the live table whatever stdout is.
var forceLive bool

// Run is scanalert's main.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cmd
	_, code, done := cliutil.Parse(tool, description, &c, args, stdout, stderr)
	if done {
		return code
	}
	alerts, err := c.run(ctx, stdin, stdout, stderr)
	if err != nil {
		return cliutil.Report(tool, stderr, err)
	}
	if alerts > 0 {
		return ExitAlerts
	}
	return cliutil.ExitOK
}

func (c *cmd) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (alerts int, err error) {
	rule, err := alert.ParseRule(c.Rule)
	if err != nil {
		return 0, cliutil.Usage(err)
	}
	cfg := alert.Config{
		Rule: rule, Ratio: c.Ratio, MinSessions: c.MinSessions, Window: c.Window, Quiet: c.Quiet, Update: c.Update,
		MaxScanners: c.MaxScanners, MaxWindow: c.MaxWindow, MaxEpisodes: c.MaxEpisodes,
		Subnets: c.Subnets, SubnetBits4: c.SubnetV4, SubnetBits6: c.SubnetV6,
	}
	switch {
	case c.Ratio <= 0 || c.Ratio > 1:
		return 0, cliutil.Usagef("--ratio must be in (0, 1], got %v", c.Ratio)
	case c.MinSessions < 1:
		return 0, cliutil.Usagef("--min-anomalies must be at least 1, got %d", c.MinSessions)
	case c.Window <= 0 || c.Quiet <= 0 || c.Update <= 0:
		return 0, cliutil.Usagef("--alert-window, --episode-quiet and --update must be positive")
	case c.MaxScanners < 1 || c.MaxWindow < 1 || c.MaxEpisodes < 1:
		return 0, cliutil.Usagef("--max-* limits must be positive")
	case c.SubnetV4 < 1 || c.SubnetV4 > 31 || c.SubnetV6 < 1 || c.SubnetV6 > 127:
		return 0, cliutil.Usagef("--subnet-v4 must be within 1..31 and --subnet-v6 within 1..127 (a whole address is no subnet)")
	}

	if c.Subscribe != "" && c.File != "" {
		return 0, cliutil.Usagef("--subscribe reads the bus: give no FILE")
	}
	name := "stdin"
	in := stdin
	if c.File != "" && c.File != "-" {
		f, err := os.Open(c.File)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		name, in = c.File, f
	}

	var logFile *os.File
	if c.Log != "" {
		logFile, err = os.OpenFile(c.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 0, err
		}
		defer logFile.Close()
	}

	// Serving starts before the first row arrives (a live pipeline may be
	// quiet for long); until the detector exists, every figure is 0.
	var serving atomic.Pointer[output]
	if c.Metrics != "" {
		srv, err := metrics.Serve(c.Metrics, func(w *metrics.Writer) { collect(w, serving.Load()) })
		if err != nil {
			return 0, cliutil.Usage(err)
		}
		defer srv.Close()
		fmt.Fprintf(stderr, "%s: metrics on http://%s/metrics\n", tool, srv.Addr())
	}

	if c.Subscribe != "" {
		return c.runBus(ctx, cfg, logFile, stdout, stderr, &serving)
	}

	ctx, cancel := cliutil.SignalContext(ctx)
	defer cancel()
	// Ctrl-C reaches the whole pipeline: pcapsess then writes the sessions
	// it still holds and exits. The input ends signalGrace after a signal
	// (or at its end, if sooner), so that those rows count; a second
	// signal kills at once (default handling again).
	inCtx, endInput := context.WithCancel(context.Background())
	defer endInput()
	stopGrace := context.AfterFunc(ctx, func() {
		cancel()
		time.AfterFunc(signalGrace, endInput)
	})
	defer stopGrace()
	in = cliutil.Input(inCtx, in)

	rd, err := row.NewReader(in, name, c.InputFormat) // the format is one of kong's enum
	if errors.Is(err, cliutil.ErrInterrupted) {
		return 0, nil // a signal before the header: nothing to detect in
	}
	if err != nil {
		return 0, err
	}
	schema := rd.Schema()
	if err := schema.Require(row.Prediction, row.StartRequestTime, row.SrcIP); err != nil {
		return 0, &row.Error{Name: name, Line: 1, Err: fmt.Errorf("%w (scanalert reads scanclass output)", err)}
	}
	det, err := alert.NewDetector(cfg, schema.Has(row.Score))
	if err != nil {
		return 0, cliutil.Usage(err)
	}

	out, err := c.newOutput(det, stdout, logFile)
	if err != nil {
		return 0, err
	}
	defer context.AfterFunc(ctx, out.stopLive)()
	serving.Store(out)

	readErr := out.consume(rd, name)
	out.lock()
	defer out.unlock()
	out.emit(det.Close())
	out.finish()
	st := det.Stats()
	if out.err != nil && readErr == nil {
		readErr = out.err
	}
	if !c.NoSummary && readErr == nil {
		summary(stderr, st, ctx.Err() != nil)
	}
	return st.Alerts, readErr
}

// newOutput writes det's records to stdout (and logFile) in --format.
func (c *cmd) newOutput(det *alert.Detector, stdout io.Writer, logFile *os.File) (*output, error) {
	format := c.Format
	if format == "auto" {
		format = "eve"
		if cliutil.IsTerminal(stdout) {
			format = "text"
		}
	}
	sensor := alert.Sensor{Host: c.Sensor, InIface: c.InIface}
	if sensor.Host == "" {
		var err error
		if sensor.Host, err = hostname(); err != nil {
			return nil, fmt.Errorf("the hostname, the default --sensor: %w", err)
		}
	}
	live := format == "text" && (forceLive || cliutil.IsTerminal(stdout))
	return &output{
		w:      bufio.NewWriterSize(stdout, 64<<10),
		eve:    format == "eve",
		live:   live,
		locked: live || c.Metrics != "",
		log:    logFile,
		det:    det,
		window: det.Config().Window,
		sensor: sensor,
	}, nil
}

func summary(w io.Writer, st alert.Stats, interrupted bool) {
	how := ""
	if interrupted {
		how = " (interrupted)"
	}
	plural := "s"
	if st.Alerts == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "%s: %d rows, %d anomalies (%s), %d alert%s%s", tool, st.Rows, st.Anomalies, pct(st.Anomalies, st.Rows), st.Alerts, plural, how)
	if st.Untracked > 0 {
		fmt.Fprintf(w, "; %d rows from scanners beyond --max-scanners not tracked", st.Untracked)
	}
	if st.EpisodesDropped > 0 {
		fmt.Fprintf(w, "; --max-episodes dropped %d candidate episodes or anomalies", st.EpisodesDropped)
	}
	if st.WindowEvicted > 0 {
		fmt.Fprintf(w, "; %d sessions left the window early (--max-window)", st.WindowEvicted)
	}
	if st.Stale > 0 {
		fmt.Fprintf(w, "; %d rows ended before the --alert-window had slid past them, not counted", st.Stale)
	}
	fmt.Fprintln(w)
}

// collect writes the detector's figures for a scrape: those of the
// summary line, and what is open now (all 0 before o exists).
func collect(w *metrics.Writer, o *output) {
	var st alert.Stats
	if o != nil {
		o.mu.Lock()
		st = o.det.Stats()
		o.mu.Unlock()
	}
	w.Gauge("scanwatch_build_info", "The tool and its version (always 1).", 1, "tool", tool, "version", cliutil.Version)
	w.Counter("scanwatch_scanalert_rows_total", "Session rows read.", uint64(st.Rows))
	w.Counter("scanwatch_scanalert_anomalies_total", "Rows the model called anomalous (prediction 1).", uint64(st.Anomalies))
	w.Counter("scanwatch_scanalert_alerts_total", "Alerts raised (episodes that started).", uint64(st.Alerts))
	w.Gauge("scanwatch_scanalert_alerts_open", "Alerts raised and not yet ended.", float64(st.Open))
	w.Gauge("scanwatch_scanalert_scanners", "Initiators tracked in the window.", float64(st.Scanners))
	w.Counter("scanwatch_scanalert_untracked_rows_total", "Rows of initiators beyond --max-scanners, not tracked.", uint64(st.Untracked))
	w.Counter("scanwatch_scanalert_dropped_episodes_total", "Candidate episodes or anomalies --max-episodes found no room for.", uint64(st.EpisodesDropped))
	w.Counter("scanwatch_scanalert_window_evicted_sessions_total", "Sessions that left the window early (--max-window).", uint64(st.WindowEvicted))
}

func pct(n, of int) string {
	if of == 0 {
		return "0.0%"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// output writes records and the table.
type output struct {
	// mu guards the rest when locked: with a live table a signal erases it
	// from another goroutine, with --metrics a scrape reads the detector's
	// figures from another goroutine.
	mu     sync.Mutex
	locked bool
	// publish, when set, also sends each EVE record to the bus.
	publish  func(line []byte)
	sensor   alert.Sensor
	w        *bufio.Writer
	eve      bool
	live     bool
	log      *os.File
	det      *alert.Detector
	window   time.Duration
	buf      []byte
	drawn    int // lines of the live table on screen
	lastDraw time.Time
	err      error // first write error
}

// consume reads rows until the input ends: at its end, on a signal
// (cliutil.ErrInterrupted, the incomplete row dropped) or on an error.
func (o *output) consume(rd row.Reader, name string) error {
	var r row.Row
	for {
		err := rd.Read(&r)
		if err == io.EOF || errors.Is(err, cliutil.ErrInterrupted) {
			return nil
		}
		if err == nil {
			o.lock()
			err = o.observe(&r, name, rd.Line())
			o.unlock()
		}
		if err != nil {
			return err
		}
	}
}

func (o *output) lock() {
	if o.locked {
		o.mu.Lock()
	}
}

func (o *output) unlock() {
	if o.locked {
		o.mu.Unlock()
	}
}

// stopLive erases the live table at once on a signal and draws no more
// until the final one. On Ctrl-C every process of the pipeline writes to
// the same terminal (pcapsess's summary, the shell's ^C), so the cursor no
// longer stands below the table and redrawing it in place would leave a
// second, torn copy on the screen. Records still go out as lines; finish
// then prints the final table once.
func (o *output) stopLive() {
	if !o.locked {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.undraw()
	o.live = false
	o.flush()
}

func (o *output) observe(r *row.Row, name string, line int) error {
	if msg := r.Valid(); msg != "" {
		return &row.Error{Name: name, Line: line, Err: errors.New(msg)}
	}
	if r.Prediction != 0 && r.Prediction != 1 {
		return &row.Error{Name: name, Line: line, Column: row.Prediction.Name(),
			Err: fmt.Errorf("%d is not 0 (normal) or 1 (anomaly)", r.Prediction)}
	}
	evs, err := o.det.Observe(r, r.Prediction == 1)
	if err != nil {
		return &row.Error{Name: name, Line: line, Column: row.StartRequestTime.Name(), Err: err}
	}
	if len(evs) > 0 {
		o.emit(evs)
	} else if o.live && time.Since(o.lastDraw) >= redrawEvery {
		o.undraw()
		o.draw()
		o.flush()
	}
	return o.err
}

// emit writes records and flushes at once: an alert is worth nothing late.
func (o *output) emit(evs []alert.Event) {
	if len(evs) == 0 {
		return
	}
	o.undraw()
	for i := range evs {
		e := &evs[i]
		o.buf = alert.AppendEVE(o.buf[:0], e, o.sensor)
		if o.publish != nil {
			o.publish(o.buf)
		}
		if o.log != nil {
			if _, err := o.log.Write(o.buf); err != nil && o.err == nil {
				o.err = fmt.Errorf("--log: %w", err)
			}
		}
		if !o.eve {
			o.buf = alert.AppendText(o.buf[:0], e)
			if o.live { // bold red on a terminal: the line that matters
				o.buf = bytes.Replace(o.buf, []byte(" ALERT "), []byte(" \x1b[1;31mALERT\x1b[0m "), 1)
			}
		}
		o.write(o.buf)
	}
	if o.live {
		o.draw()
	}
	o.flush()
}

func (o *output) write(b []byte) {
	if _, err := o.w.Write(b); err != nil && o.err == nil {
		o.err = err
	}
}

func (o *output) flush() {
	if err := o.w.Flush(); err != nil && o.err == nil {
		o.err = err
	}
}

// finish leaves the final table in place (text) and flushes.
func (o *output) finish() {
	if !o.eve {
		o.undraw()
		o.draw()
	}
	o.drawn = 0 // final: a signal arriving now must not erase it
	o.flush()
}

func (o *output) undraw() {
	if o.live && o.drawn > 0 {
		// Up to the table's first line, then clear to the end of the screen.
		o.write(fmt.Appendf(o.buf[:0], "\x1b[%dF\x1b[J", o.drawn))
		o.drawn = 0
	}
}

// draw writes the harvester's live table: sessions, normal, anomalies and their
// shares, in all and in the current window, and whether a scan is on.
func (o *output) draw() {
	st := o.det.Stats()
	b := o.buf[:0]
	clock := "-"
	if st.Now != 0 {
		clock = time.Unix(0, st.Now).UTC().Format(row.TimeLayout)
	}
	b = fmt.Appendf(b, "scanalert  packet time %s UTC\n", clock)
	b = fmt.Appendf(b, "  %-12s %10s %18s %18s\n", "", "sessions", "normal", "anomalies")
	line := func(b []byte, label string, all, anom int) []byte {
		return fmt.Appendf(b, "  %-12s %10d %10d %7s %10d %7s\n", label, all, all-anom, "("+pct(all-anom, all)+")", anom, "("+pct(anom, all)+")")
	}
	b = line(b, "total", st.Rows, st.Anomalies)
	b = line(b, "last "+o.window.String(), st.WindowRows, st.WindowAnomalies)
	// "Detected" means an alert was raised; whether a scan goes on now
	// is said apart, so that the final table of a run that alerted does
	// not read "scan detected: no".
	detected := "no"
	switch {
	case st.Open > 0:
		detected = fmt.Sprintf("YES, %d scanner(s) scanning now", st.Open)
	case st.Alerts > 0:
		detected = "yes, none scanning now"
	}
	b = fmt.Appendf(b, "  scan detected: %s   alerts raised: %d\n", detected, st.Alerts)
	lines := 5
	// Who is scanning now, so the table answers "who, what, how" at a glance.
	for _, e := range o.det.Alerting(maxTableAlerts) {
		b = fmt.Appendf(b, "    #%d %s: nmap %s scan → %s, %d ports, %d anomalies since %s\n",
			e.Episode, e.ScannerName(), e.Summary(), targetsText(&e), e.PortCount, e.Anomalies,
			time.Unix(0, e.First).UTC().Format("15:04:05"))
		lines++
	}
	if st.Open > maxTableAlerts {
		b = fmt.Appendf(b, "    ... and %d more\n", st.Open-maxTableAlerts)
		lines++
	}
	o.write(b)
	o.buf = b[:0]
	if o.live {
		o.drawn = lines
		o.lastDraw = time.Now()
	}
}

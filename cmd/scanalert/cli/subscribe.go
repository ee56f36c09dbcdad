package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"scanwatch/pkg/alert"
	"scanwatch/pkg/bus"
	"scanwatch/pkg/bus/natsbus"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/row"
)

// busFlags are the flags of a central instance, reading the sensors' rows
// from NATS JetStream instead of stdin.
type busFlags struct {
	Subscribe string        `help:"Read the sensors' rows from NATS JetStream (nats://host:port, several comma-separated) instead of FILE or stdin: a central instance, merging the sensors in packet time. Records also go to the bus, subject scanwatch.alerts.<consumer>." placeholder:"URL" group:"Central instance (--subscribe)"`
	Instance  string        `help:"This instance's share of the work, I/N: the I-th of N instances (the subnet buckets it consumes)." default:"1/1" group:"Central instance (--subscribe)"`
	Consumer  string        `help:"Durable consumer name: where a restarted instance resumes (default scanalert-I-of-N)." placeholder:"NAME" group:"Central instance (--subscribe)"`
	Lateness  time.Duration `help:"Packet time a sensor's rows may lag the latest seen before they count as late (still used, counted)." default:"500ms" group:"Central instance (--subscribe)"`
	IdleAfter time.Duration `help:"How far a sensor may lag the latest before the merge stops waiting for it (a sensor that stopped): while it lags less, it holds the others back, so that its rows are not late when the broker delivers them late." default:"10s" group:"Central instance (--subscribe)"`
	Replicas  int           `help:"Replicas of the streams, when this instance creates them (0: 3 on a cluster, 1 on one server)." default:"0" hidden:""`
	MaxHeld   int           `help:"Most rows the merge holds (memory bound)." default:"1048576" hidden:""`
}

// instance parses --instance.
func (f *busFlags) instance() (i, n int, err error) {
	a, b, ok := strings.Cut(f.Instance, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || n > bus.Buckets || i < 1 || i > n {
		return 0, 0, cliutil.Usagef("--instance %q: want I/N with 1 <= I <= N <= %d", f.Instance, bus.Buckets)
	}
	return i - 1, n, nil
}

// runBus is scanalert as a central instance: rows from the bus, merged in
// packet time (bus.Input), through the rule, records to stdout, --log and
// the bus. Records of what the log up to the consumer's floor caused were
// sent by an earlier run and are not written again. It runs until a
// signal; open episodes stay open, to go on in the next run.
func (c *cmd) runBus(ctx context.Context, cfg alert.Config, logFile *os.File, stdout, stderr io.Writer, serving *atomic.Pointer[output]) (int, error) {
	i, n, err := c.instance()
	if err != nil {
		return 0, err
	}
	consumer := c.Consumer
	if consumer == "" {
		consumer = fmt.Sprintf("scanalert-%d-of-%d", i+1, n)
	}
	if err := bus.CheckName(consumer); err != nil {
		return 0, cliutil.Usagef("--consumer: %v", err)
	}
	if c.Lateness <= 0 || c.IdleAfter <= 0 {
		return 0, cliutil.Usagef("--lateness and --idle-after must be positive")
	}
	subjects, _ := bus.InstanceSubjects(i, n)
	det, err := alert.NewDetector(cfg, true)
	if err != nil {
		return 0, cliutil.Usage(err)
	}
	out, err := c.newOutput(det, stdout, logFile)
	if err != nil {
		return 0, err
	}
	ctx, cancel := cliutil.SignalContext(ctx)
	defer cancel()
	defer context.AfterFunc(ctx, out.stopLive)()
	serving.Store(out)

	conn, err := natsbus.Dial(c.Subscribe, natsbus.Options{Name: tool + " " + consumer, Replicas: c.Replicas})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.EnsureStreams(ctx); err != nil {
		return 0, interrupted(ctx, err)
	}
	sub, err := conn.Subscribe(ctx, natsbus.RowsStream, consumer, subjects)
	if err != nil {
		return 0, interrupted(ctx, err)
	}
	defer sub.Close()
	pub := conn.Publisher()
	defer pub.Close()
	subject := bus.AlertSubject(consumer)
	var published int
	var failed atomic.Int64 // counted on the publisher's goroutine
	pub.OnFailure(func(string, []byte) { failed.Add(1) })
	out.publish = func(line []byte) {
		// The record's own bytes name it: the same record sent again by a
		// restarted run is stored once.
		sum := sha256.Sum256(line)
		if err := pub.Publish(ctx, subject, slices.Clone(line), hex.EncodeToString(sum[:16])); err == nil {
			published++
		}
	}

	in := bus.NewInput(sub, bus.InputOptions{Lateness: c.Lateness, Idle: c.IdleAfter, MaxHeld: c.MaxHeld, Instance: i, Instances: n,
		Require: []row.Column{row.Prediction, row.StartRequestTime, row.SrcIP, row.Score}})
	var rejected int
	var firstReject error
	reject := func(err error) {
		if rejected++; firstReject == nil {
			firstReject = err
		}
	}
	started := 0
	emit := func(evs []alert.Event, replay bool) {
		if replay {
			return
		}
		for i := range evs {
			if evs[i].State == alert.Start {
				started++
			}
		}
		out.emit(evs)
	}
	runErr := in.Run(ctx, func(r *row.Row, replay bool) error {
		out.lock()
		defer out.unlock()
		if msg := r.Valid(); msg != "" {
			reject(errors.New(msg))
			return nil
		}
		if r.Prediction != 0 && r.Prediction != 1 {
			reject(fmt.Errorf("prediction %d is not 0 or 1", r.Prediction))
			return nil
		}
		evs, err := det.Observe(r, r.Prediction == 1)
		if err != nil {
			reject(err)
			return nil
		}
		emit(evs, replay)
		return out.err
	}, func(t int64, replay bool) error {
		out.lock()
		defer out.unlock()
		emit(det.Advance(t), replay)
		return out.err
	})
	flushCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	flushErr := pub.Flush(flushCtx)
	out.lock()
	defer out.unlock()
	out.finish()
	if runErr == nil {
		runErr = out.err
	}
	if runErr == nil {
		runErr = flushErr
	}
	if !c.NoSummary {
		busSummary(stderr, det.Stats(), in.Stats(), started, published, int(failed.Load()), rejected, firstReject)
	}
	return started, runErr
}

// interrupted turns an error that a signal caused into none.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// busSummary is a central instance's stderr summary: what came from each
// sensor (and what the sensor says it published), what was late, and what
// is left open for the next run.
func busSummary(w io.Writer, st alert.Stats, in bus.InputStats, started, published, failed, rejected int, firstReject error) {
	fmt.Fprintf(w, "%s: %d rows from the bus (%d messages, %d replayed up to the floor), %d anomalies (%s), %d alerts raised here, %d records published",
		tool, in.Rows, in.Messages, in.Replayed, st.Anomalies, pct(st.Anomalies, st.Rows), started, published)
	if failed > 0 {
		fmt.Fprintf(w, ", %d records the bus did not take", failed)
	}
	fmt.Fprintf(w, "; %d rows late, %d held for the next run, %d episodes open", in.Late, in.Held, st.Open)
	if in.Reordered > 0 || in.Lost > 0 {
		fmt.Fprintf(w, "; %d messages stored out of their sensor's order and put back, %d lost", in.Reordered, in.Lost)
	}
	if st.Stale > 0 {
		fmt.Fprintf(w, ", %d of the late ones before the --alert-window (not counted)", st.Stale)
	}
	if in.Forced > 0 {
		fmt.Fprintf(w, ", %d released early (--max-held)", in.Forced)
	}
	if rejected > 0 {
		fmt.Fprintf(w, "; %d rows rejected (first: %v)", rejected+in.Rejected, firstReject)
	} else if in.Rejected > 0 {
		fmt.Fprintf(w, "; %d rows rejected (first: %v)", in.Rejected, in.FirstReject)
	}
	fmt.Fprintln(w)
	names := make([]string, 0, len(in.Sensors))
	for name := range in.Sensors {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := in.Sensors[name]
		c := s.Clock
		fmt.Fprintf(w, "%s: sensor %s: %d rows here; it read %d, published %d, dropped %d, failed %d", tool, name, s.Rows, c.Rows, c.Published, c.Dropped, c.Failed)
		if c.Final {
			fmt.Fprint(w, " (its input ended)")
		}
		fmt.Fprintln(w)
	}
}

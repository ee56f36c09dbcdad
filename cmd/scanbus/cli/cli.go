// Package cli is scanbus: a sensor's classified session rows onto NATS
// JetStream, for central scanalert instances.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"scanwatch/pkg/bus"
	"scanwatch/pkg/bus/natsbus"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/row"
)

const tool = "scanbus"

const description = `Carry a sensor's classified session rows (the output of scanclass) to NATS
JetStream, where central scanalert instances (scanalert --subscribe) merge
the rows of every sensor and apply the rule across them:

  sudo pcapsess -i eth0 | scanclass | scanbus publish --sensor dmz-1 nats://10.0.0.1:4222,nats://10.0.0.2:4222

pcapsess and scanclass stay Unix filters that know no broker; scanbus is the
one place between a pipe and the broker. It never blocks its input: rows wait
in a bounded queue (--queue), and a row that finds the queue full (the broker
is slow or away) is dropped and counted, so pcapsess never stalls and loses
packets unseen. Rows go out as NDJSON with a sensor column, a few to a
message, to subjects scanwatch.rows.<sensor>.<bucket>, the bucket a hash of
the source's /24 (IPv6 /64); a message the broker does not acknowledge is
sent again under the same id for --retry-for, then counted as failed.
Every --clock-every a heartbeat (scanwatch.rows.<sensor>.clock) carries the
sensor's packet-time clock and its counts, so that central instances move on
when the network is quiet and can count rows end to end.

At the end of input, or on SIGINT/SIGTERM, it waits for the broker to store
what is queued, then prints its counts on stderr. Exit status: 0, or 1 if
the broker never took some rows (failed) or input could not be read, 2 usage.`

type cliArgs struct {
	cliutil.VersionFlag
	Publish publishCmd `cmd:"" help:"Publish classified rows from FILE or stdin to the bus, as sensor --sensor."`
}

type publishCmd struct {
	URL        string        `arg:"" help:"NATS server URL, nats://host:port; several comma-separated (a cluster)." placeholder:"URL"`
	File       string        `arg:"" optional:"" help:"Rows to read; - or nothing is stdin." placeholder:"FILE"`
	Sensor     string        `required:"" help:"This sensor's name (letters, digits, - and _): the rows' sensor column and subject token." placeholder:"NAME"`
	Queue      int           `help:"Rows waiting for the broker at most; more are dropped and counted." default:"65536"`
	BatchRows  int           `help:"Rows in one message at most." default:"256"`
	Linger     time.Duration `help:"How long a row waits for others of its bucket before its message goes." default:"20ms"`
	ClockEvery time.Duration `help:"Heartbeat period: a central instance's watermark moves on with it when the network is quiet." default:"100ms"`
	BucketV4   int           `name:"bucket-v4" help:"Prefix length of the IPv4 subnet a row's bucket is drawn from: not longer than the central's --subnet-v4." default:"24"`
	BucketV6   int           `name:"bucket-v6" help:"Prefix length of the IPv6 subnet a row's bucket is drawn from: not longer than the central's --subnet-v6." default:"64"`
	RetryFor   time.Duration `help:"How long a message the broker did not acknowledge is sent again." default:"60s"`
	Drain      time.Duration `help:"How long to wait at the end for the broker to store what is queued." default:"30s"`
	Replicas   int           `help:"Replicas of the streams, when this sensor creates them (0: 3 on a cluster, 1 on one server)." default:"0" hidden:""`
}

// Run is scanbus's main.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cliArgs
	return cliutil.Run(ctx, tool, description, &c, args, stdout, stderr, func(ctx context.Context, command string) error {
		return c.Publish.run(ctx, stdin, stderr)
	})
}

func (c *publishCmd) run(ctx context.Context, stdin io.Reader, stderr io.Writer) error {
	if err := bus.CheckName(c.Sensor); err != nil {
		return cliutil.Usagef("--sensor: %v", err)
	}
	switch {
	case c.Queue < 1 || c.BatchRows < 1 || c.Linger <= 0 || c.ClockEvery <= 0 || c.RetryFor <= 0 || c.Drain <= 0:
		return cliutil.Usagef("--queue, --batch-rows, --linger, --clock-every, --retry-for and --drain must be positive")
	case c.BucketV4 < 1 || c.BucketV4 > 32 || c.BucketV6 < 1 || c.BucketV6 > 128:
		return cliutil.Usagef("--bucket-v4 must be within 1..32 and --bucket-v6 within 1..128")
	}
	name, in := "stdin", stdin
	if c.File != "" && c.File != "-" {
		f, err := os.Open(c.File)
		if err != nil {
			return err
		}
		defer f.Close()
		name, in = c.File, f
	}
	in = cliutil.Input(ctx, in)
	rd, err := row.NewReader(in, name, "auto")
	if errors.Is(err, cliutil.ErrInterrupted) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := rd.Schema().Require(row.Prediction, row.Score, row.StartRequestTime, row.SrcIP); err != nil {
		return &row.Error{Name: name, Line: 1, Err: fmt.Errorf("%w (scanbus publishes scanclass output)", err)}
	}

	conn, err := natsbus.Dial(c.URL, natsbus.Options{Name: tool + " " + c.Sensor, Replicas: c.Replicas, RetryFor: c.RetryFor})
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.EnsureStreams(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	pub := conn.Publisher()
	defer pub.Close()
	sensor, err := bus.NewSensor(pub, rd.Schema(), bus.SensorOptions{Name: c.Sensor, Queue: c.Queue, BatchRows: c.BatchRows,
		Linger: c.Linger, ClockEvery: c.ClockEvery, Bucketing: bus.Bucketing{V4: c.BucketV4, V6: c.BucketV6}})
	if err != nil {
		return err
	}
	var r row.Row
	var readErr error
	for {
		err := rd.Read(&r)
		if err == io.EOF || errors.Is(err, cliutil.ErrInterrupted) {
			break
		}
		if err == nil {
			err = sensor.Add(&r)
		}
		if err != nil {
			readErr = err
			break
		}
	}
	// What was read goes out even after a signal or a bad row.
	drainCtx, cancel := context.WithTimeout(context.Background(), c.Drain)
	defer cancel()
	closeErr := sensor.Close(drainCtx)
	st := sensor.Stats()
	fmt.Fprintf(stderr, "%s: sensor %s: %d rows read, %d published, %d dropped (queue full), %d failed\n",
		tool, c.Sensor, st.Rows, st.Published, st.Dropped, st.Failed)
	switch {
	case readErr != nil:
		return readErr
	case closeErr != nil:
		return closeErr
	case st.Failed > 0:
		return fmt.Errorf("the broker did not store %d rows within --retry-for %s", st.Failed, c.RetryFor)
	}
	return nil
}

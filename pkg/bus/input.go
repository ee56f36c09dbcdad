package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"scanwatch/pkg/eventtime"
	"scanwatch/pkg/row"
)

// InputOptions tune an Input. Zero fields take the defaults.
type InputOptions struct {
	Lateness time.Duration // the merge's allowed lateness (1 s)
	MaxHeld  int           // rows the merge holds at most (1 << 20)
	Require  []row.Column  // columns a row must have; rows without them are rejected
	Batch    int           // messages fetched at once (512)
	Wait     time.Duration // how long a fetch waits for a first message (100 ms)
}

// InputStats are an Input's counts.
type InputStats struct {
	Messages int // messages read, replayed ones included
	Replayed int // of them, replayed up to the floor to rebuild the rule's state
	Rows     int // rows handed to the rule
	Rejected int // rows that could not be read, or lacked a required column
	// FirstReject says why the first rejected row was.
	FirstReject error
	Late        int // rows behind the watermark (still handed to the rule)
	Forced      int // rows handed out before the watermark passed them (MaxHeld)
	Held        int // rows held by the merge now
	// Sensors are, per sensor, the rows of it handed to the rule here
	// and its last heartbeat.
	Sensors map[string]*SensorSeen
}

// SensorSeen is what an Input saw of one sensor.
type SensorSeen struct {
	Rows  int
	Clock Clock
}

// Input reads a Subscription, merges its rows in packet time and hands
// them to a rule; see the package comment.
type Input struct {
	sub       Subscription
	opt       InputOptions
	merge     *eventtime.Merger[*ticket]
	dec       row.LineDecoder
	r         row.Row
	tickets   []*ticket // messages not yet acknowledged, in log order
	replaying bool
	watermark int64
	acked     uint64
	stats     InputStats
	rule      func(r *row.Row, replay bool) error
	advance   func(t int64, replay bool) error
}

// ticket is one message's rows still held by the merge.
type ticket struct {
	seq  uint64
	left int
}

// NewInput reads sub.
func NewInput(sub Subscription, opt InputOptions) *Input {
	if opt.Lateness <= 0 {
		opt.Lateness = time.Second
	}
	if opt.MaxHeld <= 0 {
		opt.MaxHeld = 1 << 20
	}
	if opt.Batch <= 0 {
		opt.Batch = 512
	}
	if opt.Wait <= 0 {
		opt.Wait = 100 * time.Millisecond
	}
	return &Input{sub: sub, opt: opt, merge: eventtime.New[*ticket](opt.Lateness, opt.MaxHeld),
		stats: InputStats{Sensors: map[string]*SensorSeen{}}}
}

// Run rebuilds the rule's state from the log up to the subscription's
// floor, then reads on until ctx ends (it finishes the messages already
// fetched first), and returns nil then. rule gets every row in merged
// order; advance gets the watermark each time it moves. replay is true
// for what the messages up to the floor caused: a previous process saw it
// all and sent its records already. A broker error is retried until ctx
// ends; an error from rule or advance stops Run.
func (in *Input) Run(ctx context.Context, rule func(r *row.Row, replay bool) error, advance func(t int64, replay bool) error) error {
	in.rule, in.advance = rule, advance
	floor := in.sub.Floor()
	in.acked = floor
	if floor > 0 {
		in.replaying = true
		err := in.sub.Replay(ctx, func(m Message) error {
			in.stats.Replayed++
			return in.message(m)
		})
		in.replaying = false
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("replaying the log up to %d: %w", floor, err)
		}
	}
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		msgs, err := in.sub.Fetch(ctx, in.opt.Batch, in.opt.Wait)
		for _, m := range msgs {
			if err := in.message(m); err != nil {
				return err
			}
		}
		// Acknowledged even when ctx has ended: what went through the
		// rule need not be replayed as new.
		if aerr := in.ack(context.WithoutCancel(ctx)); aerr != nil && err == nil {
			err = fmt.Errorf("ack: %w", aerr)
		}
		if err != nil && ctx.Err() == nil {
			// A broker node went away, a leader is being elected: the
			// client reconnects; try again.
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
	return nil
}

// message reads one message into the merge and hands on what it
// releases.
func (in *Input) message(m Message) error {
	in.stats.Messages++
	tk := &ticket{seq: m.Seq}
	if IsClock(m.Subject) {
		c, err := ParseClock(m.Data)
		if err != nil {
			in.reject(fmt.Errorf("message %d on %s: %w", m.Seq, m.Subject, err))
		} else {
			in.seen(c.Sensor).Clock = c
			if c.Time > 0 {
				in.merge.Clock(c.Time)
			}
		}
	} else {
		sensor := subjectSensor(m.Subject)
		name := fmt.Sprintf("message %d on %s", m.Seq, m.Subject)
		data := m.Data
		for line := 1; len(data) > 0; line++ {
			var l []byte
			l, data, _ = bytes.Cut(data, []byte{'\n'})
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			set, err := in.dec.Decode(name, line, l, &in.r)
			if err == nil {
				if missing := set.Missing(in.opt.Require...); len(missing) > 0 {
					err = &row.Error{Name: name, Line: line, Err: fmt.Errorf("missing %s", strings.Join(missing, ", "))}
				}
			}
			if err != nil {
				in.reject(err)
				continue
			}
			if in.r.Sensor == "" {
				in.r.Sensor = sensor
			}
			tk.left++
			in.merge.Add(&in.r, tk)
		}
	}
	if !in.replaying { // replayed messages were acknowledged before
		in.tickets = append(in.tickets, tk)
	}
	if err := in.merge.Release(in.release); err != nil {
		return err
	}
	if w := in.merge.Watermark(); w > in.watermark {
		in.watermark = w
		if err := in.advance(w, in.replaying); err != nil {
			return err
		}
	}
	return nil
}

func (in *Input) release(r *row.Row, tk *ticket) error {
	tk.left--
	in.stats.Rows++
	in.seen(r.Sensor).Rows++
	return in.rule(r, in.replaying)
}

func (in *Input) seen(sensor string) *SensorSeen {
	s := in.stats.Sensors[sensor]
	if s == nil {
		s = &SensorSeen{}
		in.stats.Sensors[sensor] = s
	}
	return s
}

func (in *Input) reject(err error) {
	in.stats.Rejected++
	if in.stats.FirstReject == nil {
		in.stats.FirstReject = err
	}
}

// ack acknowledges up to the last message all of whose rows, and those of
// every message before it, went through the rule.
func (in *Input) ack(ctx context.Context) error {
	upTo := uint64(0)
	n := 0
	for n < len(in.tickets) && in.tickets[n].left == 0 {
		upTo = in.tickets[n].seq
		n++
	}
	if n == 0 || upTo <= in.acked {
		return nil
	}
	if err := in.sub.Ack(ctx, upTo); err != nil {
		return err
	}
	in.acked = upTo
	in.tickets = slices.Delete(in.tickets, 0, n)
	return nil
}

// Stats returns the counts so far.
func (in *Input) Stats() InputStats {
	s := in.stats
	ms := in.merge.Stats()
	s.Late, s.Forced, s.Held = ms.Late, ms.Forced, ms.Held
	s.Sensors = maps.Clone(in.stats.Sensors)
	return s
}

// Acked is the log position acknowledged so far.
func (in *Input) Acked() uint64 { return in.acked }

// subjectSensor is the sensor token of a row subject.
func subjectSensor(subject string) string {
	s := strings.TrimPrefix(subject, RowsPrefix)
	s, _, _ = strings.Cut(s, ".")
	return s
}

// ErrClosed is returned by a Subscription or Publisher used after Close.
var ErrClosed = errors.New("bus: closed")

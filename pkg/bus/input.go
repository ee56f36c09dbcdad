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
	Lateness time.Duration // the merge's allowed lateness (500 ms)
	// Idle is how far a sensor may lag the latest before the watermark
	// stops waiting for it (10 s): longer than a broker's leader election
	// and a publish retry, shorter than anyone would wait for an alert.
	Idle    time.Duration
	MaxHeld int           // rows the merge holds at most (1 << 20)
	Require []row.Column  // columns a row must have; rows without them are rejected
	Batch   int           // messages fetched at once (512)
	Wait    time.Duration // how long a fetch waits for a first message (100 ms)
	// Instance (from 0) of Instances: the buckets this Input gets, whose
	// messages a heartbeat's clock waits for.
	Instance, Instances int
	// GapClocks is how many heartbeats of a sensor may wait for a
	// message of it that the log lacks before they go on without it
	// (1200: two minutes at scanbus's 100 ms, longer than it retries a
	// message). Should it come after all, its rows go on then, late.
	GapClocks int
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
	Reordered   int // messages stored before one their sensor sent earlier, held until it came
	Lost        int // messages of a sensor the log has not delivered, gone on without (GapClocks)
	Duplicates  int // messages a sensor's numbering says were handed out already
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
	lo, hi    int // this instance's buckets
	orders    map[string]*order
}

// ticket is one message's rows still held by the merge, or the message
// itself while it waits for one its sensor sent before it.
type ticket struct {
	seq     uint64
	left    int
	waiting bool
}

// order puts one sensor's messages back in the order it sent them: per
// bucket, the number of the last message handed on, the messages that
// came before their turn, and the heartbeats waiting for the messages
// they count.
type order struct {
	sensor, boot string
	have         [Buckets]uint64
	early        [Buckets]map[uint64]early
	skipped      [Buckets]map[uint64]bool // gone on without them
	clocks       []Clock
	retired      map[string]bool // earlier boots: their stragglers go straight on
}

type early struct {
	m  Message
	tk *ticket
}

// NewInput reads sub.
func NewInput(sub Subscription, opt InputOptions) *Input {
	if opt.Lateness <= 0 {
		opt.Lateness = 500 * time.Millisecond
	}
	if opt.Idle <= 0 {
		opt.Idle = 10 * time.Second
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
	if opt.Instances <= 0 {
		opt.Instance, opt.Instances = 0, 1
	}
	if opt.GapClocks <= 0 {
		opt.GapClocks = 1200
	}
	return &Input{sub: sub, opt: opt, merge: eventtime.New[*ticket](opt.Lateness, opt.Idle, opt.MaxHeld),
		stats: InputStats{Sensors: map[string]*SensorSeen{}}, orders: map[string]*order{},
		lo: opt.Instance * Buckets / opt.Instances, hi: (opt.Instance + 1) * Buckets / opt.Instances}
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

// message takes one message from the log: a sensor's message goes on in
// the order the sensor sent it (see order), then the merge hands on what
// it releases.
func (in *Input) message(m Message) error {
	in.stats.Messages++
	tk := &ticket{seq: m.Seq}
	if !in.replaying { // replayed messages were acknowledged before
		in.tickets = append(in.tickets, tk)
	}
	id, numbered := ParseMessageID(m.ID)
	switch {
	case IsClock(m.Subject):
		c, err := ParseClock(m.Data)
		switch {
		case err != nil:
			in.reject(fmt.Errorf("message %d on %s: %w", m.Seq, m.Subject, err))
		case c.Boot == "":
			in.clock(c)
		default:
			if o := in.order(c.Sensor, c.Boot); o != nil {
				o.clocks = append(o.clocks, c)
				in.settle(o)
			} else {
				in.clock(c)
			}
		}
	case numbered && id.Bucket >= 0:
		o := in.order(id.Sensor, id.Boot)
		if o == nil {
			in.rows(m, tk)
			break
		}
		b := id.Bucket
		switch {
		case o.skipped[b][id.Seq]:
			// Gone on without it, and here it is after all: late.
			delete(o.skipped[b], id.Seq)
			in.stats.Lost--
			in.rows(m, tk)
		case id.Seq <= o.have[b]:
			in.stats.Duplicates++
		case id.Seq == o.have[b]+1:
			in.rows(m, tk)
			o.have[b]++
			in.catchUp(o, b)
		default:
			if o.early[b] == nil {
				o.early[b] = map[uint64]early{}
			}
			if _, dup := o.early[b][id.Seq]; dup {
				in.stats.Duplicates++
				break
			}
			tk.waiting = true
			o.early[b][id.Seq] = early{m, tk}
			in.stats.Reordered++
		}
		in.settle(o)
	default:
		in.rows(m, tk)
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

// order returns the order of sensor's run boot, the current one; a new
// run retires the one before, handing on what it still held. nil: a
// retired run's straggler, to go straight on.
func (in *Input) order(sensor, boot string) *order {
	o := in.orders[sensor]
	switch {
	case o == nil:
		o = &order{sensor: sensor, boot: boot, retired: map[string]bool{}}
		in.orders[sensor] = o
	case o.boot == boot:
	case o.retired[boot]:
		return nil
	default:
		in.flush(o)
		o.retired[o.boot] = true
		*o = order{sensor: sensor, boot: boot, retired: o.retired}
	}
	return o
}

// catchUp hands on the messages of bucket b that were waiting for the one
// just handed on.
func (in *Input) catchUp(o *order, b int) {
	for {
		e, ok := o.early[b][o.have[b]+1]
		if !ok {
			return
		}
		delete(o.early[b], o.have[b]+1)
		e.tk.waiting = false
		in.rows(e.m, e.tk)
		o.have[b]++
	}
}

// settle applies the sensor's heartbeats whose messages (in this
// instance's buckets) are all in; one that has waited behind GapClocks
// others gives up the messages it waits for as lost.
func (in *Input) settle(o *order) {
	for len(o.clocks) > 0 {
		c := o.clocks[0]
		missing := false
		for b := in.lo; b < in.hi && b < len(c.Seqs); b++ {
			if c.Seqs[b] > o.have[b] {
				missing = true
				if len(o.clocks) <= in.opt.GapClocks {
					break
				}
				for q := o.have[b] + 1; q <= c.Seqs[b]; q++ {
					if e, ok := o.early[b][q]; ok {
						delete(o.early[b], q)
						e.tk.waiting = false
						in.rows(e.m, e.tk)
					} else {
						if o.skipped[b] == nil {
							o.skipped[b] = map[uint64]bool{}
						}
						o.skipped[b][q] = true
						in.stats.Lost++
					}
				}
				o.have[b] = c.Seqs[b]
				in.catchUp(o, b)
			}
		}
		if missing && len(o.clocks) <= in.opt.GapClocks {
			return
		}
		o.clocks = o.clocks[1:]
		in.clock(c)
	}
}

// flush hands on everything a retired run still held, in order.
func (in *Input) flush(o *order) {
	for b := range o.early {
		seqs := slices.Sorted(maps.Keys(o.early[b]))
		for _, q := range seqs {
			e := o.early[b][q]
			e.tk.waiting = false
			in.rows(e.m, e.tk)
		}
	}
	for _, c := range o.clocks {
		in.clock(c)
	}
}

// clock applies a heartbeat.
func (in *Input) clock(c Clock) {
	in.seen(c.Sensor).Clock = c
	if c.Time > 0 {
		in.merge.Clock(c.Sensor, c.Time)
	}
}

// rows reads a message's rows into the merge.
func (in *Input) rows(m Message, tk *ticket) {
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
	for n < len(in.tickets) && in.tickets[n].left == 0 && !in.tickets[n].waiting {
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

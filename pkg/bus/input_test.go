package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"scanwatch/pkg/row"
)

// memLog is a Subscription over messages held in memory, in the order
// given (the order a broker stored them in).
type memLog struct {
	msgs   []Message
	floor  uint64
	next   int
	acked  uint64
	cancel context.CancelFunc
}

func (l *memLog) Floor() uint64 { return l.floor }
func (l *memLog) Replay(ctx context.Context, fn func(Message) error) error {
	for _, m := range l.msgs {
		if m.Seq > l.floor {
			break
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}
func (l *memLog) Fetch(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	for l.next < len(l.msgs) && l.msgs[l.next].Seq <= l.floor {
		l.next++
	}
	if l.next == len(l.msgs) {
		l.cancel()
		return nil, nil
	}
	n := min(max, len(l.msgs)-l.next)
	out := l.msgs[l.next : l.next+n]
	l.next += n
	return out, nil
}
func (l *memLog) Ack(ctx context.Context, seq uint64) error { l.acked = seq; return nil }
func (l *memLog) Close() error                              { return nil }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

// sensorLog is what sensor edge-a sends: per 100 ms, a message of one row
// to bucket b, then a heartbeat counting the messages so far.
func sensorLog(n, b int) []Message {
	var out []Message
	var seqs [Buckets]uint64
	for i := range n {
		t := t0 + int64(i)*100e6
		ts := time.Unix(0, t).UTC().Format(row.TimeLayout)
		seqs[b]++
		out = append(out, Message{Subject: RowSubject("edge-a", b), ID: MessageID{"edge-a", "boot1", b, seqs[b]}.String(),
			Data: fmt.Appendf(nil, `{"start_request_time":"%s","src_ip":"198.18.0.%d","prediction":0,"score":0.1}`+"\n", ts, i%250+1)})
		c, _ := json.Marshal(Clock{Sensor: "edge-a", Boot: "boot1", Seqs: slices.Clone(seqs[:]), Time: t + 60e6})
		out = append(out, Message{Subject: ClockSubject("edge-a"), ID: MessageID{"edge-a", "boot1", -1, uint64(i + 1)}.String(), Data: c})
	}
	return out
}

func runInput(t *testing.T, l *memLog, opt InputOptions) ([]string, InputStats) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	opt.Require = []row.Column{row.StartRequestTime, row.SrcIP, row.Prediction}
	in := NewInput(l, opt)
	var got []string
	err := in.Run(ctx, func(r *row.Row, replay bool) error {
		got = append(got, r.SrcIP.String())
		return nil
	}, func(int64, bool) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got, in.Stats()
}

// A broker that stored a sensor's messages out of order (a retry after a
// node died lands after messages sent later, heartbeats included) does not
// make rows late: they go on in the order the sensor sent them, and the
// heartbeats wait for the messages they count.
func TestInputPutsASensorBackInOrder(t *testing.T) {
	sent := sensorLog(40, 7)
	stored := slices.Clone(sent)
	// Messages 10 to 19 (and their heartbeats) were retried: stored after
	// everything up to 30.
	moved := slices.Clone(stored[20:40])
	stored = slices.Delete(stored, 20, 40)
	stored = slices.Insert(stored, 40, moved...)
	for i := range stored {
		stored[i].Seq = uint64(i + 1)
	}
	got, st := runInput(t, &memLog{msgs: stored}, InputOptions{Lateness: 200 * time.Millisecond})
	if st.Late != 0 || st.Reordered == 0 || st.Lost != 0 {
		t.Errorf("stats %+v", st)
	}
	var want []string
	for i := range 40 {
		want = append(want, fmt.Sprintf("198.18.0.%d", i%250+1))
	}
	if !slices.Equal(got, want[:len(got)]) || len(got) < 35 {
		t.Errorf("rows in another order than sent:\n%v", got)
	}
	// Without the numbers the same log makes rows late.
	for i := range stored {
		stored[i].ID = ""
	}
	if _, st := runInput(t, &memLog{msgs: stored}, InputOptions{Lateness: 200 * time.Millisecond}); st.Late == 0 {
		t.Errorf("unnumbered: no row late: %+v", st)
	}
}

// A message the log never delivers is given up after GapClocks heartbeats
// have waited for it, and counted lost; what came after goes on.
func TestInputGivesUpALostMessage(t *testing.T) {
	sent := sensorLog(30, 3)
	stored := slices.Delete(slices.Clone(sent), 10, 11) // message 6 never stored
	for i := range stored {
		stored[i].Seq = uint64(i + 1)
	}
	got, st := runInput(t, &memLog{msgs: stored}, InputOptions{Lateness: 200 * time.Millisecond, GapClocks: 5})
	if st.Lost != 1 || len(got) < 25 || slices.Contains(got, "198.18.0.6") {
		t.Errorf("stats %+v, rows %v", st, got)
	}
	// Stored at last, long after: its row goes on, late, and nothing is
	// lost.
	late := sent[10]
	late.Seq = uint64(len(stored) + 1)
	got, st = runInput(t, &memLog{msgs: append(stored, late)}, InputOptions{Lateness: 200 * time.Millisecond, GapClocks: 5})
	if st.Lost != 0 || st.Late != 1 || !slices.Contains(got, "198.18.0.6") {
		t.Errorf("stats %+v, rows %v", st, got)
	}
}

// Heartbeats wait only for this instance's buckets.
func TestInputWaitsForItsOwnBuckets(t *testing.T) {
	sent := sensorLog(20, 40) // bucket 40 belongs to instance 2 of 2
	var clocks []Message
	for _, m := range sent {
		if IsClock(m.Subject) {
			clocks = append(clocks, m)
		}
	}
	for i := range clocks {
		clocks[i].Seq = uint64(i + 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &memLog{msgs: clocks, cancel: cancel}
	in := NewInput(l, InputOptions{Instance: 0, Instances: 2})
	if err := in.Run(ctx, func(*row.Row, bool) error { return nil }, func(int64, bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if c := in.Stats().Sensors["edge-a"]; c == nil || c.Clock.Time != t0+19*100e6+60e6 {
		t.Errorf("instance 1 of 2 waited for another instance's bucket: %+v", c)
	}
	if l.acked != uint64(len(clocks)) {
		t.Errorf("acked %d of %d", l.acked, len(clocks))
	}
}

// After a restart the rows up to the floor are replayed as such and the
// rest handed on as new: together, what a run that never stopped hands on.
func TestInputReplaysUpToTheFloor(t *testing.T) {
	log := sensorLog(30, 5)
	for i := range log {
		log[i].Seq = uint64(i + 1)
	}
	whole, _ := runInput(t, &memLog{msgs: log}, InputOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	l := &memLog{msgs: log, floor: 20, cancel: cancel}
	in := NewInput(l, InputOptions{Require: []row.Column{row.SrcIP}})
	var got []string
	replayed := 0
	in.Run(ctx, func(r *row.Row, replay bool) error {
		got = append(got, r.SrcIP.String())
		if replay {
			replayed++
		}
		return nil
	}, func(int64, bool) error { return nil })
	if !slices.Equal(got, whole) || replayed == 0 || replayed >= len(got) || in.Stats().Replayed != 20 {
		t.Errorf("replayed %d of %d; same rows: %v", replayed, len(got), slices.Equal(got, whole))
	}
}

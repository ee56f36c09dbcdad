package eventtime

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"scanwatch/pkg/row"
)

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

func at(ms int, sensor string) row.Row {
	t := base + int64(ms)*1e6
	return row.Row{StartRequest: t, EndRequest: t, SrcIP: netip.MustParseAddr("198.18.0.1"), Sensor: sensor}
}

func ms(r *row.Row) int { return int((r.EndRequest - base) / 1e6) }

type out struct {
	ms     int
	sensor string
	v      int
}

func collect(got *[]out) func(*row.Row, int) error {
	return func(r *row.Row, v int) error {
		*got = append(*got, out{ms(r), r.Sensor, v})
		return nil
	}
}

// Three sensors whose rows interleave out of order by up to the lateness
// come out in packet time, none late.
func TestMergeOrdersSensors(t *testing.T) {
	m := New[int](500*time.Millisecond, 0, 0)
	var got []out
	// Sensor b lags a by 300 ms, c by 100 ms.
	for i := range 30 {
		a, b, c := at(i*100, "a"), at(i*100-300, "b"), at(i*100-100, "c")
		m.Add(&a, i)
		m.Add(&b, i)
		m.Add(&c, i)
		if err := m.Release(collect(&got)); err != nil {
			t.Fatal(err)
		}
	}
	m.Drain(collect(&got))
	if len(got) != 90 || m.Stats().Late != 0 || m.Stats().Held != 0 {
		t.Fatalf("%d rows, stats %+v", len(got), m.Stats())
	}
	if !slices.IsSortedFunc(got, func(x, y out) int { return x.ms - y.ms }) {
		t.Errorf("not in packet time: %v", got)
	}
}

// Rows behind the released watermark are counted late and still handed
// out, at the next Release.
func TestLateRowsCountedNotLost(t *testing.T) {
	m := New[int](100*time.Millisecond, 0, 0)
	var got []out
	for _, msv := range []int{0, 50, 300, 310} {
		r := at(msv, "a")
		m.Add(&r, msv)
	}
	m.Release(collect(&got)) // watermark 210: 0 and 50 leave
	late := at(120, "b")     // before 210: late
	m.Add(&late, 120)
	m.Release(collect(&got))
	if st := m.Stats(); st.Late != 1 || st.Held != 2 {
		t.Errorf("stats %+v", st)
	}
	if fmt.Sprint(got) != "[{0 a 0} {50 a 50} {120 b 120}]" {
		t.Errorf("released %v", got)
	}
}

// A clock moves the watermark without a row.
func TestClockReleases(t *testing.T) {
	m := New[int](time.Second, 0, 0)
	r := at(0, "a")
	m.Add(&r, 1)
	var got []out
	m.Release(collect(&got))
	if len(got) != 0 {
		t.Fatal("released before the watermark")
	}
	m.Clock("a", base+int64(999*time.Millisecond))
	m.Release(collect(&got))
	if len(got) != 0 {
		t.Fatal("released before the watermark")
	}
	m.Clock("a", base+int64(time.Second))
	m.Release(collect(&got))
	if len(got) != 1 || m.Watermark() != base {
		t.Errorf("%v watermark %d", got, m.Watermark())
	}
}

// Past MaxHeld the oldest rows leave early, counted.
func TestMaxHeld(t *testing.T) {
	m := New[int](time.Hour, 0, 3)
	var got []out
	for i := range 5 {
		r := at(i, "a")
		m.Add(&r, i)
		m.Release(collect(&got))
	}
	if st := m.Stats(); st.Forced != 2 || st.Held != 3 || len(got) != 2 || got[1].ms != 1 {
		t.Errorf("stats %+v got %v", st, got)
	}
}

// The same input sequence gives the same output, however the Release
// calls fall between the adds (as fetch batches do): the output depends
// on the sequence alone.
func TestDeterministic(t *testing.T) {
	type in struct {
		r     row.Row
		clock bool
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var seq []in
	for i := range 2000 {
		if i%50 == 49 {
			seq = append(seq, in{r: at(i*10, ""), clock: true})
			continue
		}
		seq = append(seq, in{r: at(i*10-rng.IntN(800), fmt.Sprint("s", rng.IntN(3)))})
	}
	run := func(every int) []out {
		m := New[int](500*time.Millisecond, 0, 0)
		var got []out
		for i := range seq {
			if seq[i].clock {
				m.Clock("", seq[i].r.EndRequest)
			} else {
				m.Add(&seq[i].r, i)
			}
			if i%every == 0 {
				m.Release(collect(&got))
			}
		}
		m.Release(collect(&got))
		m.Drain(collect(&got))
		return got
	}
	a, b := run(1), run(37)
	if !slices.Equal(a, b) || len(a) != 2000-40 {
		t.Fatalf("%d vs %d rows", len(a), len(b))
	}
}

func ExampleMerger() {
	m := New[string](time.Second, 10*time.Second, 0)
	add := func(msv int, sensor string) {
		r := at(msv, sensor)
		m.Add(&r, "message of "+sensor)
	}
	print := func(r *row.Row, v string) error {
		fmt.Println(ms(r), r.Sensor, v)
		return nil
	}
	add(100, "edge-a")
	add(50, "edge-b")
	add(1500, "edge-a")
	add(1600, "edge-b") // both sensors past 1.5 s: watermark 500 ms
	m.Release(print)
	add(2600, "edge-a")
	m.Clock("edge-b", base+int64(2700*time.Millisecond)) // edge-b's heartbeat: watermark 1.6 s
	m.Release(print)
	add(120, "edge-c") // behind the watermark: late, counted, handed out
	m.Release(print)
	m.Drain(print)
	fmt.Printf("%+v\n", m.Stats())
	// Output:
	// 50 edge-b message of edge-b
	// 100 edge-a message of edge-a
	// 1500 edge-a message of edge-a
	// 1600 edge-b message of edge-b
	// 120 edge-c message of edge-c
	// 2600 edge-a message of edge-a
	// {Rows:6 Late:1 Forced:0 Held:0}
}

// A stream running behind holds the watermark back, so that its rows are
// not late; once it lags by more than the idle time it no longer does.
func TestSlowStreamHoldsTheWatermark(t *testing.T) {
	m := New[int](100*time.Millisecond, 5*time.Second, 0)
	var got []out
	a, b := at(0, "a"), at(0, "b")
	m.Add(&a, 0)
	m.Add(&b, 0)
	// a runs on to 3 s; b's messages are stuck.
	for ms := 100; ms <= 3000; ms += 100 {
		m.Clock("a", base+int64(ms)*1e6)
	}
	if w := m.Watermark(); w != base-100e6 {
		t.Errorf("watermark %d ms, want b's -100", (w-base)/1e6)
	}
	late := at(1500, "b") // b's stuck row, as it finally comes
	m.Add(&late, 1)
	m.Release(collect(&got))
	if st := m.Stats(); st.Late != 0 {
		t.Errorf("b's row late: %+v", st)
	}
	// b stops for good: past 5 s of lag it no longer holds a back.
	m.Clock("a", base+int64(7*time.Second))
	if w := m.Watermark(); w != base+int64(7*time.Second)-100e6 {
		t.Errorf("watermark %d ms, want a's 6900", (w-base)/1e6)
	}
	m.Release(collect(&got))
	if len(got) != 3 || got[2].ms != 1500 {
		t.Errorf("released %v", got)
	}
}

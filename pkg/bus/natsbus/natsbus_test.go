package natsbus_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"scanwatch/pkg/alert"
	"scanwatch/pkg/bus"
	"scanwatch/pkg/bus/natsbus"
	"scanwatch/pkg/bus/natsbus/natstest"
	"scanwatch/pkg/row"
)

var (
	buildOnce sync.Once
	serverBin string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// cluster starts a real n-node JetStream cluster on loopback for the test.
func cluster(t *testing.T, n int) *natstest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a nats-server cluster; skipped with -short")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "natsbus-test")
		if buildErr == nil {
			serverBin, buildErr = natstest.Build(context.Background(), binDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	c, err := natstest.Start(context.Background(), serverBin, t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

// rowAt is a classified row ending at base+ms from src.
func rowAt(ms int, src string, port int) row.Row {
	t := base + int64(ms)*1e6
	return row.Row{StartRequest: t, EndRequest: t, SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr("198.18.1.2"),
		SrcPort: 40000, DstPort: uint16(port), SYN: 1, Prediction: ms % 2}
}

var schema = row.NewSchema([]row.Column{row.StartRequestTime, row.EndRequestTime, row.SrcIP, row.DstIP, row.SrcPort, row.DstPort, row.SYN, row.Prediction}, nil)

// publish sends rows from three sensors, interleaved as live sensors
// would, and returns each sensor's stats. during runs once, half-way.
func publish(t *testing.T, url string, perSensor int, during func()) map[string]bus.SensorStats {
	t.Helper()
	var sensors []*bus.Sensor
	var conns []*natsbus.Conn
	names := []string{"edge-a", "edge-b", "edge-c"}
	for _, name := range names {
		c, err := natsbus.Dial(url, natsbus.Options{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if err := c.EnsureStreams(context.Background()); err != nil {
			t.Fatal(err)
		}
		s, err := bus.NewSensor(c.Publisher(), schema, bus.SensorOptions{Name: name, ClockEvery: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		sensors = append(sensors, s)
	}
	for i := range perSensor {
		if i == perSensor/2 && during != nil {
			during()
		}
		for k, s := range sensors {
			// Sensors lag each other by up to 200 ms of packet time.
			r := rowAt(i*2-100*k, fmt.Sprintf("198.18.%d.%d", 10+i%7, 1+k), 1+i%1000)
			if err := s.Add(&r); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 0 { // about the pace of packet time: 100 ms a round
			time.Sleep(100 * time.Millisecond)
		}
	}
	out := map[string]bus.SensorStats{}
	for k, s := range sensors {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		if err := s.Close(ctx); err != nil {
			t.Fatalf("%s: %v", names[k], err)
		}
		cancel()
		out[names[k]] = s.Stats()
		conns[k].Close()
	}
	return out
}

type handed struct {
	key    string
	replay bool
}

// central runs an Input of consumer name until it has handed out want
// rows (or the limit passes) and returns what it handed out.
func central(t *testing.T, url, name string, stopAfter int, limit time.Duration) ([]handed, bus.InputStats) {
	t.Helper()
	c, err := natsbus.Dial(url, natsbus.Options{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	subjects, _ := bus.InstanceSubjects(0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	sub, err := c.Subscribe(ctx, natsbus.RowsStream, name, subjects)
	if err != nil {
		t.Fatal(err)
	}
	in := bus.NewInput(sub, bus.InputOptions{Lateness: 300 * time.Millisecond, Require: []row.Column{row.Prediction, row.SrcIP}})
	var got []handed
	live := 0
	// Done when stopAfter new rows went through, or nothing came for 3 s.
	idle := time.AfterFunc(time.Hour, cancel)
	err = in.Run(ctx, func(r *row.Row, replay bool) error {
		idle.Reset(3 * time.Second)
		got = append(got, handed{fmt.Sprintf("%s %d %s %d", r.Sensor, alert.EndTime(r), r.SrcIP, r.DstPort), replay})
		if !replay {
			live++
			if live == stopAfter {
				cancel()
			}
		}
		return nil
	}, func(int64, bool) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got, in.Stats()
}

// Three sensors publish through a 3-node cluster while one node is killed
// and started again; a central consumer gets every row, in packet time.
// Killed and restarted half-way, it replays up to its floor and goes on:
// what it hands out then is exactly what an undisturbed consumer hands out.
func TestRowsThroughClusterWithFaults(t *testing.T) {
	c := cluster(t, 3)
	const per = 3000
	stats := publish(t, c.URL(), per, func() {
		if err := c.Kill(1); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(2*time.Second, func() { c.Restart(1) })
	})
	total := 0
	for name, st := range stats {
		if st.Rows != per || st.Published != per || st.Dropped != 0 || st.Failed != 0 {
			t.Errorf("%s: %+v", name, st)
		}
		total += st.Published
	}
	if err := c.WaitNode(context.Background(), 1, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// Undisturbed: every row once, none late beyond what the lag makes.
	whole, st := central(t, c.URL(), "undisturbed", total+1, 60*time.Second)
	byKey := map[string]int{}
	for _, h := range whole {
		byKey[h.key]++
		if h.replay {
			t.Fatal("a new consumer replayed")
		}
	}
	held := st.Held
	if len(whole)+held != total || len(byKey) != len(whole) {
		t.Fatalf("handed %d (distinct %d) + held %d, want %d; stats %+v", len(whole), len(byKey), held, total, st)
	}
	for name, s := range st.Sensors {
		if s.Clock.Published != per || !s.Clock.Final {
			t.Errorf("%s's last heartbeat %+v", name, s.Clock)
		}
	}
	t.Logf("undisturbed: %d rows handed, %d held at the end, %d late, %d messages", len(whole), held, st.Late, st.Messages)

	// Killed after 1000 rows, then restarted.
	first, _ := central(t, c.URL(), "restarted", 1000, 60*time.Second)
	second, st2 := central(t, c.URL(), "restarted", total+1, 60*time.Second)
	if st2.Replayed == 0 {
		t.Fatal("the restarted consumer replayed nothing")
	}
	var secondAll []string
	for _, h := range second {
		secondAll = append(secondAll, h.key)
	}
	var wholeKeys []string
	for _, h := range whole[:len(second)] {
		wholeKeys = append(wholeKeys, h.key)
	}
	if !slices.Equal(secondAll, wholeKeys) {
		t.Errorf("the restarted consumer's rows differ from the undisturbed one's")
	}
	// Every row the first life handed to the rule as new was either
	// acknowledged (replayed now) or comes again as new: none is lost.
	seen := map[string]bool{}
	for _, h := range second {
		if !h.replay {
			seen[h.key] = true
		}
	}
	replayed := 0
	for _, h := range second {
		if h.replay {
			replayed++
		}
	}
	if len(first) < 1000 || replayed == 0 || replayed > len(first) {
		t.Errorf("first life %d rows, second replayed %d", len(first), replayed)
	}
	t.Logf("restart: first life handed %d, second replayed %d rows (%d messages) and handed %d new", len(first), replayed, st2.Replayed, len(seen))
}

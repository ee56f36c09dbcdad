package alert

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// splitScan is a scan of 32 ports of one target split over 8 sources of
// 10.0.7.0/24, 4 ports each: no source reaches MinSessions (5) alone.
func splitScan(prefix string) []fed {
	var rows []fed
	for i := range 32 {
		src := fmt.Sprintf(prefix, 10+i%8)
		rows = append(rows, fed{session(src, "10.0.0.9", uint16(1000+i), time.Duration(i)*10*time.Millisecond), true})
	}
	return rows
}

func TestSubnetSplitScan(t *testing.T) {
	for _, prefix := range []string{"10.0.7.%d", "fd00:7::%d"} {
		rows := splitScan(prefix)
		if evs := run(t, Config{}, rows); len(evs) != 0 {
			t.Fatalf("%s: per-address rule alerted: %s", prefix, states(evs))
		}
		evs := run(t, Config{Subnets: true}, rows)
		if len(evs) != 2 || evs[0].State != Start || evs[1].State != End {
			t.Fatalf("%s: %s", prefix, states(evs))
		}
		e := evs[1]
		want := "10.0.7.0/24"
		if strings.Contains(prefix, ":") {
			want = "fd00:7::/64"
		}
		if !e.Subnet || e.ScannerName() != want || e.SourceCount != 8 || len(e.Sources) != 8 || e.PortCount != 32 || e.Anomalies != 32 {
			t.Errorf("%s: %+v", prefix, e)
		}
		if e.Scanner != e.FirstFlow.Src.Addr() || e.Sources[0] != e.Scanner {
			t.Errorf("scanner %v, first flow %v, sources %v", e.Scanner, e.FirstFlow, e.Sources)
		}
		if sig := e.Signature(); sig != "scanwatch: nmap SYN scan from "+want+" (8 sources)" {
			t.Errorf("signature %q", sig)
		}
		// The start comes on the row that makes 5 anomalous services
		// remain without the largest source: 2 rounds of 8 sources, minus
		// one source's 2, is 14 ≥ 5 already in the first round of 8
		// (8 - 1 = 7 ≥ 5 at the 6th row).
		if evs[0].Anomalies != 6 {
			t.Errorf("start after %d anomalies, want 6", evs[0].Anomalies)
		}
	}
}

// A lone scanner with a neighbour's false positive raises its own alert,
// not a second one for its subnet: the neighbour alone does not make the
// subnet's anomalies spread.
func TestSubnetNeedsSpread(t *testing.T) {
	var rows []fed
	for i := range 30 {
		rows = append(rows, fed{session("10.0.7.5", "10.0.0.9", uint16(1+i), time.Duration(i)*10*time.Millisecond), true})
	}
	rows = append(rows, fed{session("10.0.7.6", "10.0.0.9", 443, 400*time.Millisecond), true})
	evs := run(t, Config{Subnets: true}, rows)
	if got := states(evs); got != "10.0.7.5:start 10.0.7.5:end" {
		t.Errorf("records %s", got)
	}
	for _, e := range evs {
		if e.Subnet {
			t.Errorf("subnet record %+v", e)
		}
	}
}

// Normal sessions of the subnet's other hosts dilute its ratio as they do
// an address's: a /24 of busy clients with one false positive each stays
// quiet.
func TestSubnetRatioCountsEveryHost(t *testing.T) {
	var rows []fed
	for h := range 20 {
		src := fmt.Sprintf("10.0.7.%d", 10+h)
		for j := range 5 {
			rows = append(rows, fed{session(src, "10.0.0.9", uint16(2000+100*h+j), time.Duration(100*h+j)*time.Millisecond), j == 0})
		}
	}
	if evs := run(t, Config{Subnets: true}, rows); len(evs) != 0 {
		t.Errorf("alerted: %s", states(evs))
	}
}

// One scanner sweeping hosts behind three sensors, two ports each: one
// episode across the sensors, naming them in the order seen.
func TestSensorsNamed(t *testing.T) {
	var rows []fed
	for i := range 9 {
		r := session("10.0.0.5", fmt.Sprintf("10.1.%d.2", i%3), uint16(22+i/3), time.Duration(i)*time.Millisecond)
		r.Sensor = []string{"edge-a", "edge-b", "edge-c"}[i%3]
		rows = append(rows, fed{r, true})
	}
	evs := run(t, Config{}, rows)
	if len(evs) != 2 {
		t.Fatalf("records %s", states(evs))
	}
	if got := evs[1].Sensors; !slices.Equal(got, []string{"edge-a", "edge-b", "edge-c"}) || evs[1].TargetCount != 3 {
		t.Errorf("sensors %v targets %v", got, evs[1].Targets)
	}
	line := string(AppendEVE(nil, &evs[1], Sensor{Host: "central"}))
	if !strings.Contains(line, `"sensors":["edge-a","edge-b","edge-c"]`) || strings.Contains(line, "aggregate") {
		t.Errorf("EVE %s", line)
	}
	if text := string(AppendText(nil, &evs[1])); !strings.Contains(text, "from 10.0.0.5 seen by edge-a,edge-b,edge-c → ") {
		t.Errorf("text %s", text)
	}
}

// Advance moves packet time without a row: a quiet episode ends at last
// anomaly + Quiet, the window empties, and going back changes nothing.
func TestAdvance(t *testing.T) {
	d, _ := NewDetector(Config{Quiet: 2 * time.Second}, false)
	for i := range 6 {
		r := session("10.0.0.5", "10.0.0.9", uint16(1+i), time.Duration(i)*time.Millisecond)
		d.Observe(&r, true)
	}
	last := t0 + int64(5*time.Millisecond) + 50e3
	if evs := d.Advance(last + int64(time.Second)); len(evs) != 0 || d.Stats().Now != last+int64(time.Second) {
		t.Errorf("early: %v now %d", evs, d.Stats().Now)
	}
	if evs := d.Advance(t0); len(evs) != 0 || d.Stats().Now != last+int64(time.Second) {
		t.Errorf("backwards: %v", evs)
	}
	evs := d.Advance(last + int64(6*time.Second))
	if len(evs) != 1 || evs[0].State != End || evs[0].Reason != "quiet" || evs[0].Time != last+int64(2*time.Second) {
		t.Fatalf("%+v", evs)
	}
	if st := d.Stats(); st.WindowRows != 0 || st.Scanners != 0 || st.Open != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSubnetBitsValidated(t *testing.T) {
	for _, c := range []Config{{SubnetBits4: 32}, {SubnetBits6: 128}, {SubnetBits4: -1}} {
		if _, err := NewDetector(c, false); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func ExampleDetector_Advance() {
	d, _ := NewDetector(Config{Subnets: true, Quiet: time.Second}, false)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	// Eight sources of 198.18.7.0/24, three ports each.
	for i := range 24 {
		src := netip.AddrFrom4([4]byte{198, 18, 7, byte(10 + i%8)})
		r := session(src.String(), "198.18.1.2", uint16(100+i), 0)
		r.StartRequest, r.EndRequest, r.StartResponse, r.EndResponse = at, at, at, at
		evs, _ := d.Observe(&r, true)
		for _, e := range evs {
			fmt.Println(e.State, e.Signature())
		}
	}
	// A watermark 5 s later: no row is still to come before it.
	for _, e := range d.Advance(at + int64(5*time.Second)) {
		fmt.Println(e.State, e.Reason, e.SourceCount, "sources", e.PortCount, "ports")
	}
	// Output:
	// start scanwatch: nmap SYN scan from 198.18.7.0/24 (6 sources)
	// end quiet 8 sources 24 ports
}

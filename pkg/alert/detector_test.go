package alert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"scanwatch/pkg/row"
)

// t0 is the harvester's first packet time.
var t0 = time.Date(2025, 1, 15, 12, 49, 8, 25898000, time.UTC).UnixNano()

// session is a closed-port SYN probe (S1 A1 R1) from src to dst:port at
// t0+at, lasting 50 µs.
func session(src, dst string, port uint16, at time.Duration) row.Row {
	start := t0 + int64(at)
	return row.Row{
		StartRequest: start, EndRequest: start,
		StartResponse: start + 50e3, EndResponse: start + 50e3,
		Duration: 50e-6,
		SrcIP:    netip.MustParseAddr(src), DstIP: netip.MustParseAddr(dst),
		SrcPort: 40000, DstPort: port,
		SYN: 1, ACK: 1, RST: 1,
		Packets: 2, SrcPackets: 1, DstPackets: 1, InitWindow: 1024, InitOptLen: 4, InitMSS: 1460,
	}
}

type fed struct {
	r    row.Row
	anom bool
}

// run feeds rows to a fresh detector and returns every record, Close's
// included.
func run(t *testing.T, cfg Config, rows []fed) []Event {
	t.Helper()
	d, err := NewDetector(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	var all []Event
	for i := range rows {
		evs, err := d.Observe(&rows[i].r, rows[i].anom)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		all = append(all, evs...)
	}
	return append(all, d.Close()...)
}

func states(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Scanner.String()+":"+e.State.String())
	}
	return strings.Join(s, " ")
}

func TestRatioThreshold(t *testing.T) {
	cfg := Config{Ratio: 0.30, MinSessions: 3, Window: 5 * time.Second}
	// 7 normal sessions, then anomalies: the 3rd anomaly makes 3/10 = 30 %
	// exactly, which must hold despite 0.3*10 being 3.0000000000000004.
	var rows []fed
	for i := range 7 {
		rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(80+i), time.Duration(i)*time.Millisecond), false})
	}
	for i := range 3 {
		rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(1000+i), time.Duration(10+i)*time.Millisecond), true})
	}
	d, _ := NewDetector(cfg, false)
	for i := range rows {
		evs, _ := d.Observe(&rows[i].r, rows[i].anom)
		if i < 9 && len(evs) > 0 {
			t.Fatalf("alert at row %d (%d anomalies), before the ratio held", i, i-6)
		}
		if i == 9 {
			if len(evs) != 1 || evs[0].State != Start {
				t.Fatalf("row 9: %v, want a start record", states(evs))
			}
			e := evs[0]
			if e.WindowAnomalies != 3 || e.WindowSessions != 10 || e.Ratio() != 0.3 {
				t.Errorf("window %d/%d", e.WindowAnomalies, e.WindowSessions)
			}
			if e.Time != rows[9].r.EndResponse {
				t.Errorf("time %d, want the packet time of the row that made it hold %d", e.Time, rows[9].r.EndResponse)
			}
		}
	}
	// 2 anomalies among 8 (25 %) with min 2: below the ratio, no alert.
	rows = rows[:9]
	rows = append(rows[:6], rows[7:]...)
	if evs := run(t, Config{Ratio: 0.30, MinSessions: 2}, rows); len(evs) != 0 {
		t.Errorf("25%% raised %v", states(evs))
	}
}

// TestBusyScanner: a host runs a curl loop (one service, 200 sessions in
// 5 s) and scans 20 ports at the same time. Counted in sessions its scan is
// 20/220 of its traffic, below 30 %; counted in services it is 20 of 21.
func TestBusyScanner(t *testing.T) {
	var rows []fed
	for i := range 200 {
		r := session("10.0.0.5", "10.0.0.9", 8080, time.Duration(i)*25*time.Millisecond)
		r.SrcPort = uint16(30000 + i)
		rows = append(rows, fed{r, false})
		if i >= 100 && i < 120 {
			rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(i), time.Duration(i)*25*time.Millisecond+time.Millisecond), true})
		}
	}
	evs := run(t, Config{}, rows)
	if states(evs) != "10.0.0.5:start 10.0.0.5:end" || evs[0].WindowAnomalousServices != 5 || evs[0].WindowServices != 6 {
		t.Errorf("services rule: %s %+v", states(evs), evs)
	}
	if evs := run(t, Config{Rule: Sessions}, rows); len(evs) != 0 {
		t.Errorf("sessions rule alerted on a diluted scan: %s", states(evs))
	}
	// A normal host whose sessions to one service the model sometimes gets
	// wrong stays at one anomalous service.
	var normal []fed
	for i := range 200 {
		r := session("10.0.0.6", "10.0.0.9", 443, time.Duration(i)*25*time.Millisecond)
		normal = append(normal, fed{r, i%3 == 0})
	}
	if evs := run(t, Config{}, normal); len(evs) != 0 {
		t.Errorf("one service flagged now and then: %s", states(evs))
	}
}

func TestMinSessions(t *testing.T) {
	var rows []fed
	for i := range 4 {
		rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(i+1), time.Duration(i)*time.Millisecond), true})
	}
	if evs := run(t, Config{MinSessions: 5}, rows); len(evs) != 0 {
		t.Fatalf("4 anomalies, min 5: %v", states(evs))
	}
	rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", 5, 4*time.Millisecond), true})
	evs := run(t, Config{MinSessions: 5}, rows)
	if states(evs) != "10.0.0.5:start 10.0.0.5:end" {
		t.Fatalf("5 anomalies, min 5: %v", states(evs))
	}
	if e := evs[0]; e.Ports != "1-5" || e.PortCount != 5 || e.Anomalies != 5 || e.First != t0 {
		t.Errorf("start %+v", e)
	}
}

func TestWindowSlides(t *testing.T) {
	// One anomaly every 2 s: never more than 3 in a 5 s window, so min 5
	// never holds, although 10 anomalies arrive in all (the harvester's
	// cumulative rule would have fired).
	var rows []fed
	for i := range 10 {
		rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(i+1), time.Duration(i)*2*time.Second), true})
	}
	if evs := run(t, Config{MinSessions: 5, Window: 5 * time.Second, Quiet: time.Minute}, rows); len(evs) != 0 {
		t.Fatalf("sparse anomalies alerted: %v", states(evs))
	}
	// The same ten at 1 s spacing: 5 within the window at the 5th.
	for i := range rows {
		rows[i] = fed{session("10.0.0.5", "10.0.0.9", uint16(i+1), time.Duration(i)*time.Second), true}
	}
	evs := run(t, Config{MinSessions: 5, Window: 5 * time.Second, Quiet: time.Minute}, rows)
	if len(evs) == 0 || evs[0].State != Start || evs[0].Anomalies != 5 {
		t.Fatalf("1 s spacing: %v", states(evs))
	}
}

func TestScannersSeparate(t *testing.T) {
	var rows []fed
	// Two scanners interleaved, and a busy normal client whose sessions
	// the model gets wrong 10 % of the time.
	for i := range 200 {
		at := time.Duration(i) * time.Millisecond
		rows = append(rows,
			fed{session("10.0.0.5", "10.0.0.9", uint16(1+i), at), true},
			fed{session("10.0.0.6", "10.0.0.10", uint16(1000+i), at), true},
			fed{session("10.0.0.7", "10.0.0.9", 80, at), i%10 == 0},
		)
	}
	evs := run(t, Config{}, rows)
	var starts []Event
	for _, e := range evs {
		if e.State == Start {
			starts = append(starts, e)
		}
		if e.Scanner.String() == "10.0.0.7" {
			t.Errorf("normal client alerted: %+v", e)
		}
	}
	if len(starts) != 2 {
		t.Fatalf("starts: %v", states(evs))
	}
	a, b := starts[0], starts[1]
	if a.Scanner.String() != "10.0.0.5" || a.Targets[0].String() != "10.0.0.9" || a.TargetCount != 1 || a.Ports != "1-5" {
		t.Errorf("first %+v", a)
	}
	if b.Scanner.String() != "10.0.0.6" || b.Targets[0].String() != "10.0.0.10" || b.Ports != "1000-1004" {
		t.Errorf("second %+v", b)
	}
	var ends int
	for _, e := range evs {
		if e.State == End {
			ends++
			if e.Scanner.String() == "10.0.0.5" && (e.Ports != "1-200" || e.Anomalies != 200 || e.Reason != "input ended") {
				t.Errorf("end %+v", e)
			}
			if len(e.Techniques) != 1 || e.Techniques[0] != (TechCount{SYN, 200}) {
				t.Errorf("techniques %v", e.Techniques)
			}
		}
	}
	if ends != 2 {
		t.Errorf("ends: %v", states(evs))
	}
}

func TestEpisodeEndsAfterQuiet(t *testing.T) {
	var rows []fed
	for i := range 10 {
		rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(i+1), time.Duration(i)*time.Millisecond), true})
	}
	// Normal traffic from another host carries packet time on; 10 s after
	// the last anomaly the episode ends, timestamped at last + quiet.
	for i := range 30 {
		rows = append(rows, fed{session("10.0.0.7", "10.0.0.9", 80, time.Duration(i)*time.Second/2+time.Second), false})
	}
	// A second scan from the same scanner is a new episode.
	for i := range 10 {
		rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(100+i), 20*time.Second+time.Duration(i)*time.Millisecond), true})
	}
	evs := run(t, Config{Quiet: 10 * time.Second}, rows)
	if states(evs) != "10.0.0.5:start 10.0.0.5:end 10.0.0.5:start 10.0.0.5:end" {
		t.Fatalf("%v", states(evs))
	}
	end := evs[1]
	lastAnomaly := rows[9].r.EndResponse
	if end.Time != lastAnomaly+int64(10*time.Second) || end.Reason != "quiet" || end.Last != lastAnomaly {
		t.Errorf("end at %v reason %q last %v", time.Unix(0, end.Time).UTC(), end.Reason, time.Unix(0, end.Last).UTC())
	}
	if evs[2].Episode != 2 || evs[2].Ports != "100-104" || evs[3].Ports != "100-109" {
		t.Errorf("second episode %+v", evs[2])
	}
}

func TestNoFlood(t *testing.T) {
	// 1000 anomalous sessions over 100 s of packet time: one start, at most
	// one update per 10 s, one end.
	var rows []fed
	for i := range 1000 {
		rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(i+1), time.Duration(i)*100*time.Millisecond), true})
	}
	evs := run(t, Config{Update: 10 * time.Second}, rows)
	var n [3]int
	for _, e := range evs {
		n[e.State]++
	}
	if n[Start] != 1 || n[End] != 1 || n[Update] < 1 || n[Update] > 10 {
		t.Fatalf("start %d update %d end %d", n[Start], n[Update], n[End])
	}
	// Gaps double: updates no sooner than 10 s, 20 s, 40 s ... after the
	// record before.
	gap := 10 * time.Second
	for i := 1; i < len(evs); i++ {
		if evs[i].Time < evs[i-1].Time {
			t.Errorf("record %d goes back in time", i)
		}
		if evs[i].State == Update {
			if d := time.Duration(evs[i].Time - evs[i-1].Time); d < gap {
				t.Errorf("update %d only %v after the previous record, want ≥ %v", i, d, gap)
			}
			gap *= 2
		}
	}
	if n[Update] != 3 { // at 10 s, 30 s, 70 s of a 100 s scan
		t.Errorf("%d updates, want 3", n[Update])
	}
	if last := evs[len(evs)-1]; last.Anomalies != 1000 || last.Ports != "1-1000" {
		t.Errorf("end %+v", last)
	}
}

func TestPacketTimeNotWallClock(t *testing.T) {
	// The same input twice, with a pause between, gives the same bytes.
	var rows []fed
	for i := range 3000 {
		src := []string{"10.0.0.5", "10.0.0.6", "10.0.0.7"}[i%3]
		rows = append(rows, fed{session(src, "10.0.0.9", uint16(i%1500+1), time.Duration(i)*7*time.Millisecond), i%3 != 2 || i%17 == 0})
	}
	encode := func() []byte {
		var b []byte
		for _, e := range run(t, Config{}, rows) {
			b = AppendEVE(b, &e, Sensor{Host: "sensor"})
		}
		return b
	}
	first := encode()
	time.Sleep(20 * time.Millisecond)
	if second := encode(); !bytes.Equal(first, second) {
		t.Fatalf("different output:\n%s\n%s", first, second)
	}
	if len(first) == 0 {
		t.Fatal("no records")
	}
}

func TestOutOfOrderRows(t *testing.T) {
	// Sessions are written when they close, so a long one arrives after
	// shorter later ones; the clock never goes back.
	rows := []fed{
		{session("10.0.0.5", "10.0.0.9", 1, 2*time.Second), true},
		{session("10.0.0.5", "10.0.0.9", 2, time.Second), true},
	}
	d, _ := NewDetector(Config{}, false)
	for i := range rows {
		d.Observe(&rows[i].r, true)
	}
	if got := d.Stats().Now; got != rows[0].r.EndResponse {
		t.Errorf("clock %d, want %d", got, rows[0].r.EndResponse)
	}
}

func TestMemoryCaps(t *testing.T) {
	d, _ := NewDetector(Config{MaxScanners: 2, MaxWindow: 100, MaxEpisodes: 1}, false)
	for i := range 300 {
		src := []string{"10.0.0.5", "10.0.0.6", "10.0.0.7"}[i%3]
		r := session(src, "10.0.0.9", uint16(i+1), time.Duration(i)*time.Microsecond)
		if _, err := d.Observe(&r, true); err != nil {
			t.Fatal(err)
		}
	}
	s := d.Stats()
	// One episode slot: the two tracked scanners' candidates evict each
	// other (4 times) until 10.0.0.5's fifth anomaly makes it an alert, which
	// is never evicted; 10.0.0.6's 100 later anomalies find no room.
	if s.Scanners != 2 || s.Untracked != 100 || s.WindowRows != 100 || s.WindowEvicted != 200 || s.EpisodesDropped != 104 || s.Alerts != 1 {
		t.Errorf("%+v", s)
	}
}

func TestCandidatesDoNotStarveScanners(t *testing.T) {
	// Two normal hosts with a false positive now and then hold both episode
	// slots as candidates; a real scan must still get one.
	var rows []fed
	for i := range 100 {
		at := time.Duration(i) * 10 * time.Millisecond
		rows = append(rows,
			fed{session("10.0.0.7", "10.0.0.9", 80, at), i%10 == 0},
			fed{session("10.0.0.8", "10.0.0.9", 80, at), i%10 == 5})
		if i >= 50 {
			rows = append(rows, fed{session("10.0.0.5", "10.0.0.9", uint16(i), at), true})
		}
	}
	evs := run(t, Config{MaxEpisodes: 2}, rows)
	if states(evs) != "10.0.0.5:start 10.0.0.5:end" {
		t.Fatalf("%v", states(evs))
	}
}

func TestAlerting(t *testing.T) {
	d, _ := NewDetector(Config{}, false)
	for i := range 20 {
		for _, src := range []string{"10.0.0.5", "10.0.0.6", "10.0.0.7"} {
			r := session(src, "10.0.0.9", uint16(i+1), time.Duration(i)*time.Millisecond)
			d.Observe(&r, src != "10.0.0.7")
		}
	}
	open := d.Alerting(1)
	if len(open) != 1 || open[0].Episode != 1 || open[0].Scanner.String() != "10.0.0.5" || open[0].Anomalies != 20 || open[0].Ports != "1-20" {
		t.Fatalf("%+v", open)
	}
	if n := len(d.Alerting(10)); n != 2 {
		t.Errorf("%d open, want 2", n)
	}
	d.Close()
	if n := len(d.Alerting(10)); n != 0 {
		t.Errorf("%d open after Close", n)
	}
}

func TestNoTime(t *testing.T) {
	d, _ := NewDetector(Config{}, false)
	var r row.Row
	if _, err := d.Observe(&r, true); err != ErrNoTime {
		t.Errorf("err = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Ratio: 1.5}, {Ratio: -0.1}, {MinSessions: -1}, {Window: -time.Second}} {
		if _, err := NewDetector(c, false); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestEVEShape(t *testing.T) {
	var rows []fed
	for i := range 6 {
		r := session("127.0.0.1", "127.0.0.1", uint16([]int{22, 80, 81, 82, 443, 8080}[i]), time.Duration(i)*time.Millisecond)
		r.Score = 0.9
		if i < 2 { // open: SYN → SYN/ACK → RST
			r.SYN, r.Answer, r.Packets, r.SrcPackets = 2, 1, 3, 2
		}
		rows = append(rows, fed{r, true})
	}
	d, _ := NewDetector(Config{}, true)
	var evs []Event
	for i := range rows {
		e, _ := d.Observe(&rows[i].r, true)
		evs = append(evs, e...)
	}
	if len(evs) != 1 {
		t.Fatalf("%v", states(evs))
	}
	line := AppendEVE(nil, &evs[0], Sensor{Host: "sensor", InIface: "eth0"})
	// community_id: 127.0.0.1:40000 → 127.0.0.1:22 over TCP, computed apart
	// from this package (Python's hashlib over the spec's byte layout);
	// TestCommunityIDSpecVectors holds the function to the spec's vectors.
	want := `{"timestamp":"2025-01-15T12:49:08.029948+0000","flow_id":2606308076373953,"in_iface":"eth0","event_type":"alert","src_ip":"127.0.0.1","src_port":40000,"dest_ip":"127.0.0.1","dest_port":22,"proto":"TCP","community_id":"1:0kQNDfJV1nAKeN/k7ypGJ3/HMng=","host":"sensor",` +
		`"alert":{"action":"allowed","gid":1,"signature_id":9100011,"rev":1,"signature":"scanwatch: nmap SYN scan from 127.0.0.1","category":"Attempted Information Leak","severity":2,` +
		`"metadata":{"mitre_tactic_id":["TA0007"],"mitre_tactic_name":["Discovery"],"mitre_technique_id":["T1046"],"mitre_technique_name":["Network_Service_Discovery"]}},` +
		`"scan":{"state":"start","episode":1,"scanner":"127.0.0.1","targets":["127.0.0.1"],"target_count":1,"ports":"22,80-82,443","port_count":5,"techniques":{"SYN":5},"nmap_options":"-sS",` +
		`"open_ports":"22,80","open_port_count":2,"open_services":["127.0.0.1:22","127.0.0.1:80"],` +
		`"anomalies":5,"sessions":5,"window_anomalies":5,"window_sessions":5,"window_anomalous_services":5,"window_services":5,"rule":"services","ratio":1,"first":"2025-01-15T12:49:08.025898+0000","last":"2025-01-15T12:49:08.029948+0000","mean_score":0.9}}` + "\n"
	if string(line) != want {
		t.Errorf("got\n%s\nwant\n%s", line, want)
	}
	var v map[string]any
	if err := json.Unmarshal(line, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	text := string(AppendText(nil, &evs[0]))
	if !strings.HasPrefix(text, "2025-01-15 12:49:08.029948 ALERT start #1 nmap SYN scan from 127.0.0.1 → 127.0.0.1 ports 22,80-82,443 (5)") {
		t.Errorf("text %q", text)
	}
}

func TestPortRanges(t *testing.T) {
	var s portSet
	for _, p := range []uint16{8080, 1, 2, 3, 443, 5, 4, 65535, 0} {
		s.add(p)
	}
	if got := string(s.appendRanges(nil)); got != "0-5,443,8080,65535" || s.Len() != 9 {
		t.Errorf("small: %q %d", got, s.Len())
	}
	for p := 100; p < 300; p += 2 { // past the small list: bitmap
		s.add(uint16(p))
	}
	s.add(101)
	got := string(s.appendRanges(nil))
	if !strings.HasPrefix(got, "0-5,100-102,104,106,") || !strings.HasSuffix(got, ",...") || s.Len() != 110 || s.bits[65535>>6]&(1<<(65535&63)) == 0 {
		t.Errorf("large: %q %d", got, s.Len())
	}
}

// readRecords reads EVE lines into Records until EOF, as a consumer of
// scanalert's output would; an error names the line.
func readRecords(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return out, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

func TestReadRecordsRoundTrip(t *testing.T) {
	var rows []fed
	for i := range 300 {
		r := session("127.0.0.2", "127.0.0.1", uint16(i+1), time.Duration(i)*50*time.Millisecond)
		if i%3 == 0 {
			r.SYN, r.ACK, r.RST, r.FIN, r.Packets = 0, 0, 0, 1, 1 // FIN probe, open port
		}
		rows = append(rows, fed{r, true})
	}
	evs := run(t, Config{}, rows)
	var b []byte
	for i := range evs {
		b = AppendEVE(b, &evs[i], Sensor{Host: "sensor", InIface: "lo"})
	}
	recs, err := readRecords(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(evs) || len(recs) < 3 {
		t.Fatalf("%d records, %d events", len(recs), len(evs))
	}
	for i, rec := range recs {
		e := &evs[i]
		if rec.Timestamp.UnixNano() != e.Time || rec.Scan.First.UnixNano() != e.First || rec.Scan.State != e.State.String() ||
			rec.SrcIP != "127.0.0.2" || rec.Scan.Ports != e.Ports || rec.Alert.SignatureID != e.SignatureID() || rec.Host != "sensor" || rec.InIface != "lo" || rec.CommunityID != e.CommunityID() || rec.Scan.MeanScore != nil {
			t.Errorf("record %d: %+v\nevent %+v", i, rec, e)
		}
	}
	end := recs[len(recs)-1]
	if end.Scan.Techniques["SYN"] != 200 || end.Scan.Techniques["FIN"] != 100 || end.Scan.NmapOptions != "-sS|-sF" ||
		end.Alert.Signature != "scanwatch: nmap SYN+FIN scan from 127.0.0.2" {
		t.Errorf("end %+v", end)
	}
	if _, err := readRecords(strings.NewReader("{\"timestamp\":\"yesterday\"}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad timestamp: %v", err)
	}
}

// TestStartTimeIgnoresArrivalOrder: live, pcapsess may hand over another
// host's rows earlier than a replay does (a ticker closes idle sessions);
// the start record's time is the triggering session's own, so it does not move.
func TestStartTimeIgnoresArrivalOrder(t *testing.T) {
	var inOrder, reordered []fed
	normal := fed{session("10.0.0.7", "10.0.0.9", 80, 300*time.Millisecond), false}
	reordered = append(reordered, normal) // arrives first, though it ended later
	for i := range 10 {
		f := fed{session("10.0.0.5", "10.0.0.9", uint16(i+1), time.Duration(i)*10*time.Millisecond), true}
		inOrder = append(inOrder, f)
		reordered = append(reordered, f)
	}
	inOrder = append(inOrder, normal)
	a, b := run(t, Config{}, inOrder), run(t, Config{}, reordered)
	if a[0].State != Start || b[0].State != Start || a[0].Time != b[0].Time || a[0].Time != inOrder[4].r.EndResponse {
		t.Errorf("start at %d and %d, want %d", a[0].Time, b[0].Time, inOrder[4].r.EndResponse)
	}
}

// A few of a busy scanner's own sessions that the model took for probes do
// not rename its scan; techniques of a real mix keep their names.
func TestSummaryLeavesOutStrays(t *testing.T) {
	for _, c := range []struct {
		techs []TechCount
		want  string
	}{
		{[]TechCount{{SYN, 600}, {Connect, 6}}, "SYN"},
		{[]TechCount{{Connect, 300}, {XMAS, 280}}, "connect+XMAS"},
		{[]TechCount{{FIN, 10}, {Other, 300}}, "FIN"},
		{[]TechCount{{Other, 5}}, "other"},
	} {
		e := Event{Techniques: c.techs}
		if got := e.Summary(); got != c.want {
			t.Errorf("%v: %q, want %q", c.techs, got, c.want)
		}
	}
}

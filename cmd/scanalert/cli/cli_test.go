package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	pcapsess "scanwatch/cmd/pcapsess/cli"
	"scanwatch/pkg/alert"
	"scanwatch/pkg/clitest"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/row"
)

// The goldens hold this sensor name, not the machine's.
func init() { hostname = func() (string, error) { return "sensor-test", nil } }

// The cases are data: ../testdata/cases.json, goldens in ../testdata/golden;
// paths in them are relative to cmd/scanalert. Regenerate the goldens with:
// go test ./cmd/scanalert/cli -run TestCLI -update
func TestCLI(t *testing.T) {
	clitest.Run(t, "..", Run)
}

// normalClients are the initiators of testdata/capture-mixed.sh's normal
// traffic; every other initiator there is an nmap scan.
var normalClients = map[string]bool{"127.0.0.5": true, "127.0.0.6": true}

// classify stands for scanclass on the mixed capture, as
// testdata/derive-mixed.sh does: the ground truth, made wrong on purpose for
// every 10th session of each class (10 % false positives, 10 % false
// negatives), a worse model than the harvester's.
func classify(rows []row.Row) {
	var seen [2]int
	for i := range rows {
		r := &rows[i]
		r.Label = 1
		if normalClients[r.SrcIP.String()] {
			r.Label = 0
		}
		seen[r.Label]++
		r.Prediction = r.Label
		if seen[r.Label]%10 == 0 {
			r.Prediction = 1 - r.Label
		}
		r.Score = 0.1 + 0.8*float64(r.Prediction)
	}
}

// TestMixedCapture is the replay half of the live pipeline on real packets:
// testdata/mixed.pcap.gz (capture-mixed.sh: two normal clients, five nmap
// scans from five addresses, two of them at once) → pcapsess → labels with
// 10 % errors → scanalert. Each scan must be alerted once, with the right
// scanner, target, ports and technique; the normal clients never. The CLI
// cases read the classified rows from testdata/mixed.csv, normal.csv and
// syn.ndjson, which derive-mixed.sh makes; this test checks that they are
// still what pcapsess makes of the capture.
func TestMixedCapture(t *testing.T) {
	var sess, errb bytes.Buffer
	if code := pcapsess.Run(context.Background(), []string{"-r", "../testdata/mixed.pcap.gz"}, nil, &sess, &errb); code != 0 {
		t.Fatalf("pcapsess: exit %d: %s", code, errb.String())
	}
	rd, err := row.NewReader(&sess, "pcapsess", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := row.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	classify(rows)
	predicted := map[string]int{}
	for _, r := range rows {
		predicted[r.SrcIP.String()] += r.Prediction
	}
	csv := writeRows(t, "csv", rd.Schema(), rows, func(*row.Row) bool { return true })
	golden(t, "mixed.csv", csv)
	golden(t, "normal.csv", writeRows(t, "csv", rd.Schema(), rows, func(r *row.Row) bool { return r.Label == 0 }))
	n := 0
	golden(t, "syn.ndjson", writeRows(t, "ndjson", rd.Schema(), rows, func(r *row.Row) bool {
		if r.SrcIP.String() != "127.0.0.2" {
			return false
		}
		n++
		return n <= 40
	}))

	var out, stderr bytes.Buffer
	code := Run(context.Background(), []string{"--format", "eve"}, bytes.NewReader(csv), &out, &stderr)
	if code != ExitAlerts {
		t.Fatalf("exit %d, want %d: %s", code, ExitAlerts, stderr.String())
	}
	type rec struct {
		Timestamp string `json:"timestamp"`
		SrcIP     string `json:"src_ip"`
		DestIP    string `json:"dest_ip"`
		Alert     struct {
			Signature string `json:"signature"`
		} `json:"alert"`
		Scan struct {
			State      string         `json:"state"`
			Ports      string         `json:"ports"`
			PortCount  int            `json:"port_count"`
			Techniques map[string]int `json:"techniques"`
		} `json:"scan"`
	}
	starts := map[string]rec{}
	ends := map[string]rec{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if normalClients[r.SrcIP] {
			t.Errorf("normal client alerted: %s", line)
		}
		switch r.Scan.State {
		case "start":
			if _, dup := starts[r.SrcIP]; dup {
				t.Errorf("second start for %s: %s", r.SrcIP, line)
			}
			starts[r.SrcIP] = r
		case "end":
			ends[r.SrcIP] = r
		}
	}
	want := map[string]struct {
		tech  string
		ports int
		lo    string
	}{
		"127.0.0.1": {"connect", 200, "1-"},
		"127.0.0.2": {"SYN", 300, "1-"},
		"127.0.0.3": {"FIN", 100, "1-"},
		"127.0.0.4": {"XMAS", 100, "1-"},
		"127.0.0.7": {"NULL", 31, "8070-"},
	}
	if len(starts) != len(want) || len(ends) != len(want) {
		t.Errorf("%d starts, %d ends, want %d each:\n%s", len(starts), len(ends), len(want), out.String())
	}
	for scanner, w := range want {
		s, e := starts[scanner], ends[scanner]
		if s.DestIP != "127.0.0.1" || !strings.Contains(s.Alert.Signature, "nmap "+w.tech+" scan from "+scanner) {
			t.Errorf("%s start: %+v", scanner, s)
		}
		// About 10 % of each scan's sessions were "missed" by the model.
		if len(e.Scan.Techniques) != 1 || e.Scan.Techniques[w.tech] != predicted[scanner] ||
			!strings.HasPrefix(e.Scan.Ports, w.lo) || e.Scan.PortCount < w.ports*8/10 {
			t.Errorf("%s end: %+v", scanner, e.Scan)
		}
	}
}

// writeRows writes the rows keep accepts with label, score and prediction.
func writeRows(t *testing.T, format string, s *row.Schema, rows []row.Row, keep func(*row.Row) bool) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := row.NewWriter(&b, format, s.With(row.Label, row.Score, row.Prediction), row.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if keep(&rows[i]) {
			if err := w.Write(&rows[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// golden checks that testdata/name holds data, as derive-mixed.sh makes it.
func golden(t *testing.T, name string, data []byte) {
	t.Helper()
	if old, err := os.ReadFile("../testdata/" + name); err != nil || !bytes.Equal(old, data) {
		t.Errorf("testdata/%s is not what pcapsess and the labels make of the capture now (run cmd/scanalert/testdata/derive-mixed.sh): %v", name, err)
	}
}

func TestLogAppends(t *testing.T) {
	log := t.TempDir() + "/alerts.json"
	if err := os.WriteFile(log, []byte("earlier line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile("../testdata/syn.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"--format", "text", "--log", log, "--no-summary"}, bytes.NewReader(in), &out, &stderr); code != ExitAlerts {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 3 || lines[0] != "earlier line" {
		t.Fatalf("log:\n%s", got)
	}
	for i, state := range []string{"start", "end"} {
		var v struct {
			EventType string `json:"event_type"`
			Scan      struct{ State string }
		}
		if err := json.Unmarshal([]byte(lines[i+1]), &v); err != nil || v.EventType != "alert" || v.Scan.State != state {
			t.Errorf("log line %d: %v %s", i+2, err, lines[i+1])
		}
	}
	if !strings.Contains(out.String(), "ALERT start #1 nmap SYN scan from 127.0.0.2") || stderr.Len() != 0 {
		t.Errorf("stdout %q stderr %q", out.String(), stderr.String())
	}
}

// TestSignalFlushes: rows arrive on a pipe, as from a live pcapsess.
// Cancelling (what SIGINT/SIGTERM do) must still count the rows upstream
// flushes within the grace period, then end the open episode, flush and
// return, even though the pipe stays open.
func TestSignalFlushes(t *testing.T) {
	in, err := os.ReadFile("../testdata/syn.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(in, []byte("\n"))
	for _, closeInput := range []bool{true, false} {
		pr, pw := io.Pipe()
		outR, outW := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		var stderr bytes.Buffer
		done := make(chan int)
		go func() {
			done <- Run(ctx, []string{"--format", "eve"}, pr, outW, &stderr)
			outW.Close()
		}()
		states := make(chan string)
		go func() {
			dec := json.NewDecoder(outR)
			for {
				var v struct{ Scan struct{ State string } }
				if dec.Decode(&v) != nil {
					close(states)
					return
				}
				states <- v.Scan.State
			}
		}()
		// The start record leaves while the input is still open.
		pw.Write(bytes.Join(lines[:10], nil))
		if s := <-states; s != "start" {
			t.Fatalf("first record %q", s)
		}
		cancel()
		wantRows := "40 rows"
		if closeInput {
			pw.Write(bytes.Join(lines[10:], nil)) // upstream's last sessions
			pw.Close()
		} else {
			wantRows = "10 rows"
		}
		if s := <-states; s != "end" {
			t.Fatalf("after cancel: %q", s)
		}
		if code := <-done; code != ExitAlerts {
			t.Errorf("exit %d", code)
		}
		if !strings.Contains(stderr.String(), wantRows) || !strings.HasSuffix(stderr.String(), ", 1 alert (interrupted)\n") {
			t.Errorf("input closed %v: stderr %q", closeInput, stderr.String())
		}
		pw.Close()
	}
}

func TestLiveTable(t *testing.T) {
	forceLive, redrawEvery = true, 0
	defer func() { forceLive, redrawEvery = false, 100*time.Millisecond }()
	in, err := os.ReadFile("../testdata/syn.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	Run(context.Background(), []string{"--format", "text", "--no-summary"}, bytes.NewReader(in), &out, &stderr)
	s := out.String()
	// The table is drawn, erased (cursor up over its 5 lines, 6 while an
	// alert is open and listed, then clear) and redrawn on every row; alert
	// lines go above it; the last table stays.
	if n5, n6 := strings.Count(s, "\x1b[5F\x1b[J"), strings.Count(s, "\x1b[6F\x1b[J"); n5 < 5 || n6 < 30 {
		t.Errorf("%d + %d redraws", n5, n6)
	}
	if !strings.Contains(s, "scan detected: YES, 1 scanner(s) scanning now   alerts raised: 1\n    #1 127.0.0.2: nmap SYN scan → 127.0.0.1, ") {
		t.Errorf("no open alert listed under the table")
	}
	last := s[strings.LastIndex(s, "\x1b[J")+len("\x1b[J"):]
	if !strings.HasPrefix(last, "scanalert  packet time 2026-11-25 04:27:22.") || !strings.Contains(last, "total                40          4 (10.0%)         36 (90.0%)") ||
		!strings.Contains(last, "scan detected: yes, none scanning now   alerts raised: 1") || strings.Count(s[strings.LastIndex(s, "\x1b[J"):], "scanalert  packet time") != 1 {
		t.Errorf("final table:\n%s", last)
	}
	if !strings.Contains(s, "\x1b[J2026-11-25 04:27:22.369948 \x1b[1;31mALERT\x1b[0m start #1 nmap SYN scan from 127.0.0.2") {
		t.Errorf("alert line not above the table:\n%q", s)
	}
}

// On a signal the live table is erased at once and the final table is
// printed once, below the end records: in a pipeline on a terminal the
// other tools' lines (pcapsess's summary, ^C) come between, and a table
// redrawn in place would leave a torn second copy.
func TestSignalLeavesOneFinalTable(t *testing.T) {
	forceLive, redrawEvery, signalGrace = true, 0, 50*time.Millisecond
	defer func() { forceLive, redrawEvery, signalGrace = false, 100*time.Millisecond, time.Second }()
	in, err := os.ReadFile("../testdata/syn.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go pw.Write(in) // the pipe stays open: an idle upstream
	ctx, signal := context.WithCancel(context.Background())
	var out, stderr bytes.Buffer
	terminal := cliutil.LockedWriter(&out) // scanalert and "pcapsess" below write to it
	done := make(chan int)
	go func() { done <- Run(ctx, []string{"--format", "text", "--no-summary"}, pr, terminal, &stderr) }()
	time.Sleep(200 * time.Millisecond) // every row read
	signal()                           // what SIGINT does to Run's context
	time.Sleep(20 * time.Millisecond)
	terminal.Write([]byte("pcapsess: lo: 41 packets, 41 TCP, 40 sessions written\n"))
	select {
	case code := <-done:
		if code != ExitAlerts {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after the signal")
	}
	pw.Close()
	s := out.String()
	erased := strings.LastIndex(s, "\x1b[J")
	other := strings.Index(s, "pcapsess: lo:")
	if erased < 0 || erased > other {
		t.Fatalf("the live table was not erased before another tool wrote to the terminal:\n%q", s)
	}
	after := s[erased+len("\x1b[J"):]
	if n := strings.Count(after, "scanalert  packet time"); n != 1 {
		t.Errorf("%d tables after the live table was erased:\n%s", n, after)
	}
	if !strings.Contains(after, "ALERT end #1") || !strings.Contains(after, "scan detected: yes, none scanning now   alerts raised: 1") ||
		strings.Index(after, "ALERT end #1") > strings.Index(after, "scanalert  packet time") {
		t.Errorf("want the end record, then the final table:\n%s", after)
	}
}

// The open ports a scan found (sessions answered with SYN/ACK) are in its
// records: the SYN scan of testdata/syn.ndjson with ports 22 and 80 made
// open (SYN → SYN/ACK → RST: SYN 2, ACK 1, RST 1; the rows have no answer
// column, so the flags say it).
func TestOpenPortsFound(t *testing.T) {
	f, err := os.Open("../testdata/syn.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := row.NewReader(f, "syn.ndjson", "auto")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := row.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if p := rows[i].DstPort; p == 22 || p == 80 {
			rows[i].SYN, rows[i].Packets, rows[i].SrcPackets, rows[i].Answer = 2, 3, 2, 1
		}
	}
	in := writeRows(t, "csv", rd.Schema(), rows, func(*row.Row) bool { return true })
	for _, format := range []string{"eve", "text"} {
		var out, stderr bytes.Buffer
		if code := Run(context.Background(), []string{"--format", format, "--no-summary"}, bytes.NewReader(in), &out, &stderr); code != ExitAlerts {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		end := lines[len(lines)-1]
		if format == "text" {
			end = lines[len(lines)-6] // above the final table
			if !strings.Contains(end, "ALERT end #1") || !strings.Contains(end, " open 22,80 ") {
				t.Errorf("text end record: %s", end)
			}
			continue
		}
		var rec alert.Record
		if err := json.Unmarshal([]byte(end), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Scan.State != "end" || rec.Scan.OpenPorts != "22,80" || rec.Scan.OpenPortCount != 2 ||
			strings.Join(rec.Scan.OpenServices, " ") != "127.0.0.1:80 127.0.0.1:22" || rec.Alert.Severity != 2 {
			t.Errorf("end record: %s", end)
		}
	}
}

package alert

import (
	"os"
	"strings"
	"testing"

	"scanwatch/pkg/row"
)

// flags builds a row from flag sums and, when evidence is wanted, the
// initiator's first-packet fields.
type flagCase struct {
	name                string
	s, a, f, r, u, p    int
	packets, optLen, wn int  // evidence; packets 0 = harvester row without evidence
	dst                 int  // dst_packets
	srcBytes            int  // src_bytes
	hs                  int  // handshake
	resp                bool // a response time was recorded (SYN+ACK, RST+ACK)
	want                Tech
}

// The sums below are the sessions of testdata/capture/nmap-*.pcap (nmap 7.93
// against 127.0.0.1 ports 8079-8083, 8081 open; read them with tcpdump -nr)
// and of the harvester's train/bad.csv, whose flag patterns were counted with
// csv.DictReader: 5000×(1,1,0,1,0,0) -sS/-sT closed, 2500×(0,1,1,1,0,0) -sF
// closed, 2500×(0,1,0,1,0,0) -sN closed, 2500×(0,1,1,1,1,1) -sX closed,
// 2×(0,0,1,0,0,0) -sF open, 2×(0,0,0,0,0,0) -sN open, 2×(0,0,1,0,1,1) -sX
// open, (2,3,0,1) -sT open, (2,1,0,1) -sS open. Normal: good.csv's HTTP GETs
// to closed ports are (1,1,0,1) too, and a real GET to an open port (curl,
// http-get.pcap) is S2 A11 F2 P3.
var techniqueTable = []flagCase{
	// SYN family, harvester rows (no evidence)
	{name: "sS/sT closed, seed", s: 1, a: 1, r: 1, want: SYN | Connect},
	{name: "sS open, seed", s: 2, a: 1, r: 1, want: SYN},
	{name: "sS open, RST lost", s: 2, a: 1, want: SYN},
	{name: "sT open, seed", s: 2, a: 3, r: 1, want: Connect},
	{name: "SYN filtered, seed", s: 1, want: SYN | Connect},
	{name: "SYN filtered, retried, seed", s: 2, want: SYN | Connect},
	// SYN family with evidence from the first SYN (nmap-sS.pcap, nmap-sT.pcap)
	{name: "sS closed: raw SYN win 1024 mss only", s: 1, a: 1, r: 1, packets: 2, optLen: 4, wn: 1024, want: SYN},
	{name: "sS open: raw SYN", s: 2, a: 1, r: 1, packets: 3, optLen: 4, wn: 1024, want: SYN},
	{name: "sT closed: kernel SYN 20 bytes of options", s: 1, a: 1, r: 1, packets: 2, optLen: 20, wn: 65495, want: Connect},
	{name: "sT open: kernel SYN", s: 2, a: 3, r: 1, packets: 4, optLen: 20, wn: 65495, want: Connect},
	{name: "raw SYN filtered", s: 1, packets: 1, optLen: 4, wn: 1024, want: SYN},
	{name: "raw SYN without options", s: 1, a: 1, r: 1, packets: 2, optLen: 0, wn: 1024, want: SYN},
	// FIN, NULL, XMAS (nmap-sF/sN/sX.pcap, seed)
	{name: "sF open|filtered", f: 1, packets: 1, wn: 1024, want: FIN},
	{name: "sF open, retried", f: 2, want: FIN},
	{name: "sF closed", a: 1, f: 1, r: 1, packets: 2, wn: 1024, want: FIN | Maimon},
	{name: "sN open|filtered", packets: 1, wn: 1024, want: NULL},
	{name: "sN closed", a: 1, r: 1, packets: 2, wn: 1024, want: NULL | ACKWindow},
	{name: "sX open|filtered", f: 1, u: 1, p: 1, want: XMAS},
	{name: "sX closed", a: 1, f: 1, r: 1, u: 1, p: 1, want: XMAS},
	// ACK/Window and Maimon (nmap-sA/sW/sM.pcap): Linux answers every one with RST
	{name: "sA/sW answered", a: 1, r: 1, packets: 2, wn: 1024, want: NULL | ACKWindow},
	{name: "sA/sW filtered", a: 1, want: ACKWindow},
	{name: "sM answered", a: 1, f: 1, r: 1, packets: 2, wn: 1024, want: FIN | Maimon},
	{name: "sM unanswered (BSD drops it)", a: 1, f: 1, want: Maimon},
	// the reset tells: RST/ACK (response time) answers a probe without ACK
	{name: "sF closed, evidence", a: 1, f: 1, r: 1, packets: 2, dst: 1, resp: true, wn: 1024, want: FIN},
	{name: "sM, evidence", a: 1, f: 1, r: 1, packets: 2, dst: 1, wn: 1024, want: Maimon},
	{name: "sN closed, evidence", a: 1, r: 1, packets: 2, dst: 1, resp: true, wn: 1024, want: NULL},
	{name: "sA/sW, evidence", a: 1, r: 1, packets: 2, dst: 1, wn: 1024, want: ACKWindow},
	// not a probe
	{name: "HTTP GET, curl", s: 2, a: 11, f: 2, p: 3, packets: 12, optLen: 20, wn: 65495, srcBytes: 78, hs: 1, want: Other},
	// a connect() scanner that closes politely (a worm's SMB sweep, cisco-smb.pcap)
	{name: "connect probe closed with FIN, no byte sent", s: 2, a: 5, f: 2, packets: 6, optLen: 12, wn: 8192, hs: 1, want: Connect},
	{name: "same, the service greeted (banner)", s: 2, a: 6, f: 2, p: 1, packets: 7, optLen: 12, wn: 8192, hs: 1, want: Connect},
	{name: "HTTP GET reset by the client", s: 2, a: 5, p: 2, r: 1, packets: 7, srcBytes: 78, optLen: 20, wn: 65495, want: Other},
	{name: "sT open, banner first (SSH)", s: 2, a: 6, f: 1, r: 1, p: 1, packets: 7, optLen: 20, wn: 65495, want: Connect},
	{name: "banner and reset, seed row", s: 2, a: 6, f: 1, r: 1, p: 1, want: Other},
	{name: "handshake, FIN close", s: 2, a: 4, f: 2, want: Other},
	{name: "handshake, no close yet", s: 2, a: 2, want: Other},
	{name: "lone RST", r: 1, want: Other},
	{name: "PSH without FIN", a: 2, p: 1, want: Other},
	{name: "SYN+FIN", s: 1, f: 1, want: Other},
}

func TestTechniqueTable(t *testing.T) {
	for _, c := range techniqueTable {
		r := row.Row{SYN: c.s, ACK: c.a, FIN: c.f, RST: c.r, URG: c.u, PSH: c.p,
			Packets: c.packets, InitOptLen: c.optLen, InitWindow: c.wn, DstPackets: c.dst, SrcBytes: c.srcBytes, Handshake: c.hs}
		if c.resp {
			r.StartResponse = t0
		}
		if got := Classify(&r); got != c.want {
			t.Errorf("%s: S%d A%d F%d R%d U%d P%d: got %s, want %s", c.name, c.s, c.a, c.f, c.r, c.u, c.p, got, c.want)
		}
		if got := Classify(&r).String(); got != c.want.String() {
			t.Errorf("%s: Technique = %q", c.name, got)
		}
	}
}

func TestTechNames(t *testing.T) {
	for _, c := range []struct {
		t          Tech
		name, opts string
	}{
		{SYN, "SYN", "-sS"},
		{Connect, "connect", "-sT"},
		{ACKWindow, "ACK/Window", "-sA/-sW"},
		{NULL | ACKWindow, "NULL or ACK/Window", "-sN|-sA/-sW"},
		{FIN | Maimon, "FIN or Maimon", "-sF|-sM"},
		{Other, "other", ""},
	} {
		if c.t.String() != c.name || c.t.Options() != c.opts {
			t.Errorf("%08b: %q %q, want %q %q", c.t, c.t.String(), c.t.Options(), c.name, c.opts)
		}
	}
}

func TestResolve(t *testing.T) {
	var counts [1 << numTechs]int
	// A FIN scan that hit two open ports and 998 closed ones; a NULL scan
	// that hit only closed ports (stays ambiguous); two odd sessions.
	counts[FIN] = 2
	counts[FIN|Maimon] = 998
	counts[NULL|ACKWindow] = 500
	counts[Other] = 2
	got := Resolve(&counts)
	want := []TechCount{{FIN, 1000}, {NULL | ACKWindow, 500}, {Other, 2}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// Both members seen unambiguously: the set cannot be split, it stays.
	counts = [1 << numTechs]int{}
	counts[NULL] = 1
	counts[ACKWindow] = 1
	counts[NULL|ACKWindow] = 10
	got = Resolve(&counts)
	if len(got) != 3 || got[2] != (TechCount{NULL | ACKWindow, 10}) {
		t.Errorf("got %v", got)
	}
}

// TestTechniqueRealRows classifies the rows pcapsess makes of real nmap scans
// (testdata/capture/*.csv = pcapsess -r of the .pcap beside it): every
// session, open port or closed, must map to its scan's technique alone.
// Without the evidence columns (the harvester's contract) the technique must
// still be in the set.
func TestTechniqueRealRows(t *testing.T) {
	for _, c := range []struct {
		file string
		want Tech
	}{
		{"nmap-sS.csv", SYN}, {"nmap-sT.csv", Connect}, {"nmap-sT-banner.csv", Connect}, {"nmap-sF.csv", FIN},
		{"nmap-sN.csv", NULL}, {"nmap-sX.csv", XMAS}, {"nmap-sA.csv", ACKWindow},
		{"nmap-sW.csv", ACKWindow}, {"nmap-sM.csv", Maimon}, {"http-get.csv", Other},
	} {
		rows := readRows(t, "testdata/capture/"+c.file)
		if len(rows) == 0 {
			t.Fatalf("%s: no rows", c.file)
		}
		for i, r := range rows {
			if got := Classify(&r); got != c.want {
				t.Errorf("%s row %d (port %d, S%d A%d F%d R%d U%d P%d): %s, want %s",
					c.file, i+2, r.DstPort, r.SYN, r.ACK, r.FIN, r.RST, r.URG, r.PSH, got, c.want)
			}
			harvester := row.Row{SYN: r.SYN, ACK: r.ACK, FIN: r.FIN, RST: r.RST, URG: r.URG, PSH: r.PSH,
				StartRequest: r.StartRequest, StartResponse: r.StartResponse}
			if c.file == "nmap-sT-banner.csv" && r.PSH > 0 {
				continue // only the evidence (src_bytes = 0) tells it from a conversation
			}
			if got := Classify(&harvester); got&c.want != c.want || (c.want == Other) != (got == Other) {
				t.Errorf("%s row %d without evidence: %s, want a set with %s", c.file, i+2, got, c.want)
			}
		}
	}
}

func readRows(t *testing.T, path string) []row.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := row.NewReader(f, path, "auto")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := row.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// harvesterBad is a sample of the predecessor's (nmap-harvester's) scan
// rows: every 20th row of its train/bad.csv, in file order.
const harvesterBad = "../../testdata/harvester/bad.csv"

// TestTechniqueHarvester maps every row of the predecessor's scans: none
// may be "other".
func TestTechniqueHarvester(t *testing.T) {
	counts := map[Tech]int{}
	for _, r := range readRows(t, harvesterBad) {
		counts[Classify(&r)]++
	}
	want := map[Tech]int{SYN | Connect: 251, FIN | Maimon: 125, NULL | ACKWindow: 125, XMAS: 127,
		FIN: 2, NULL: 2, Connect: 1, SYN: 1}
	if len(counts) != len(want) {
		t.Errorf("got %v", counts)
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s: %d, want %d", k, counts[k], v)
		}
	}
}

// TestHarvesterScansAlerted runs the Detector over the predecessor's scan
// rows, in file order, with the label as the prediction: it ran nmap -sT,
// -sS, -sF, -sN and -sX one after another, so five alerts must come out,
// each resolved, by its end, to its technique (its rows carry no evidence
// columns: closed ports alone are ambiguous, the few open ports settle it).
func TestHarvesterScansAlerted(t *testing.T) {
	d, _ := NewDetector(Config{}, false)
	var ends []Event
	rows := readRows(t, harvesterBad)
	for i := range rows {
		evs, err := d.Observe(&rows[i], rows[i].Label == 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.State == End {
				ends = append(ends, e)
			}
		}
	}
	ends = append(ends, d.Close()...)
	var got []string
	for _, e := range ends {
		got = append(got, e.Summary())
	}
	if strings.Join(got, " ") != "connect SYN FIN NULL XMAS" {
		t.Errorf("episodes: %q", got)
	}
}

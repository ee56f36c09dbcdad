package session

import (
	"context"
	"net"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
)

// pkt describes a synthetic packet for table tests.
type pkt struct {
	at       time.Duration // since t0
	src, dst string
	sp, dp   uint16
	flags    string // letters S A F R U P
	payload  int
	vlan     bool
	ttl      uint8
	window   uint16
	mss      uint16
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (p pkt) bytes(t *testing.T) []byte {
	t.Helper()
	tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sp), DstPort: layers.TCPPort(p.dp), Window: p.window, Seq: 1}
	for _, c := range p.flags {
		switch c {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		case 'U':
			tcp.URG = true
		case 'P':
			tcp.PSH = true
		}
	}
	if p.mss != 0 {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(p.mss >> 8), byte(p.mss)}}}
	}
	src, dst := net.ParseIP(p.src), net.ParseIP(p.dst)
	ttl := p.ttl
	if ttl == 0 {
		ttl = 64
	}
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}}
	var ip gopacket.NetworkLayer
	if src.To4() != nil {
		ip4 := &layers.IPv4{Version: 4, TTL: ttl, Protocol: layers.IPProtocolTCP, SrcIP: src.To4(), DstIP: dst.To4(), Flags: layers.IPv4DontFragment}
		eth.EthernetType = layers.EthernetTypeIPv4
		ip = ip4
		ls = append(ls, ip4)
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = ip6
		ls = append(ls, ip6)
	}
	tcp.SetNetworkLayerForChecksum(ip)
	ls = append(ls, tcp, gopacket.Payload(make([]byte, p.payload)))
	if p.vlan {
		et := eth.EthernetType
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append([]gopacket.SerializableLayer{&layers.Dot1Q{VLANIdentifier: 7, Type: et}}, ls...)
	}
	ls = append([]gopacket.SerializableLayer{eth}, ls...)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// feed runs packets through a table and returns the rows it wrote.
func feed(t *testing.T, cfg Config, pkts []pkt) ([]row.Row, Stats) {
	t.Helper()
	var rows []row.Row
	tab := NewTable(cfg, func(r *row.Row) error { rows = append(rows, *r); return nil })
	dec, err := NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := tab.Packet(p.bytes(t), t0.Add(p.at).UnixNano(), dec); err != nil {
			t.Fatal(err)
		}
	}
	if err := tab.Flush(); err != nil {
		t.Fatal(err)
	}
	return rows, tab.Stats()
}

const (
	cli = "10.0.0.1"
	srv = "10.0.0.2"
	us  = time.Microsecond
	ms  = time.Millisecond
)

func ns(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func TestSessionRules(t *testing.T) {
	type want struct {
		src, dst                             string
		sp, dp                               uint16
		syn, ack, fin, rst, urg, psh         int
		startReq, endReq, startResp, endResp time.Duration // -1 = 0 (none)
		duration                             time.Duration
	}
	none := time.Duration(-1)
	cases := []struct {
		name string
		cfg  Config
		pkts []pkt
		want []want
	}{
		{
			name: "syn scan of a closed port: SYN then RST+ACK is one session, response times set",
			pkts: []pkt{
				{at: 0, src: cli, dst: srv, sp: 40000, dp: 22, flags: "S"},
				{at: 15 * us, src: srv, dst: cli, sp: 22, dp: 40000, flags: "RA"},
			},
			want: []want{{src: cli, dst: srv, sp: 40000, dp: 22, syn: 1, ack: 1, rst: 1, startReq: 0, endReq: 0, startResp: 15 * us, endResp: 15 * us, duration: 15 * us}},
		},
		{
			name: "unanswered FIN probe: no response, duration spans the requests",
			pkts: []pkt{
				{at: 0, src: cli, dst: srv, sp: 40000, dp: 80, flags: "F"},
				{at: 100 * ms, src: cli, dst: srv, sp: 40000, dp: 80, flags: "F"},
			},
			want: []want{{src: cli, dst: srv, sp: 40000, dp: 80, fin: 2, startReq: 0, endReq: 100 * ms, startResp: none, endResp: none, duration: 100 * ms}},
		},
		{
			name: "NULL probe counts as a request, XMAS flags are summed",
			pkts: []pkt{
				{at: 0, src: cli, dst: srv, sp: 1, dp: 2, flags: ""},
				{at: 1 * ms, src: cli, dst: srv, sp: 3, dp: 4, flags: "FPU"},
				{at: 2 * ms, src: srv, dst: cli, sp: 4, dp: 3, flags: "RA"},
			},
			want: []want{
				{src: cli, dst: srv, sp: 1, dp: 2, startReq: 0, endReq: 0, startResp: none, endResp: none, duration: 0},
				{src: cli, dst: srv, sp: 3, dp: 4, ack: 1, fin: 1, rst: 1, urg: 1, psh: 1, startReq: 1 * ms, endReq: 1 * ms, startResp: 2 * ms, endResp: 2 * ms, duration: 1 * ms},
			},
		},
		{
			name: "initiator is the first packet's sender even from the higher address",
			pkts: []pkt{
				{at: 0, src: srv, dst: cli, sp: 50000, dp: 443, flags: "S"},
				{at: 5 * us, src: cli, dst: srv, sp: 443, dp: 50000, flags: "SA"},
				{at: 9 * us, src: srv, dst: cli, sp: 50000, dp: 443, flags: "A"},
			},
			want: []want{{src: srv, dst: cli, sp: 50000, dp: 443, syn: 2, ack: 2, startReq: 0, endReq: 9 * us, startResp: 5 * us, endResp: 5 * us, duration: 5 * us}},
		},
		{
			name: "PSH-only data packets are neither requests nor responses; FIN teardown stays in the session",
			pkts: []pkt{
				{at: 0, src: cli, dst: srv, sp: 5000, dp: 80, flags: "S"},
				{at: 1 * ms, src: srv, dst: cli, sp: 80, dp: 5000, flags: "SA"},
				{at: 2 * ms, src: cli, dst: srv, sp: 5000, dp: 80, flags: "A"},
				{at: 3 * ms, src: cli, dst: srv, sp: 5000, dp: 80, flags: "P", payload: 100},
				{at: 4 * ms, src: srv, dst: cli, sp: 80, dp: 5000, flags: "P", payload: 900},
				{at: 5 * ms, src: cli, dst: srv, sp: 5000, dp: 80, flags: "FA"},
				{at: 6 * ms, src: srv, dst: cli, sp: 80, dp: 5000, flags: "FA"},
				{at: 7 * ms, src: cli, dst: srv, sp: 5000, dp: 80, flags: "A"},
			},
			want: []want{{src: cli, dst: srv, sp: 5000, dp: 80, syn: 2, ack: 5, fin: 2, psh: 2, startReq: 0, endReq: 7 * ms, startResp: 1 * ms, endResp: 1 * ms, duration: 1 * ms}},
		},
		{
			name: "idle longer than the window (packet time) splits the key into two sessions",
			cfg:  Config{Window: 500 * ms},
			pkts: []pkt{
				{at: 0, src: cli, dst: srv, sp: 7, dp: 8, flags: "S"},
				{at: 500 * ms, src: cli, dst: srv, sp: 7, dp: 8, flags: "S"}, // exactly the window: same session
				{at: 1001 * ms, src: cli, dst: srv, sp: 7, dp: 8, flags: "S"},
			},
			want: []want{
				{src: cli, dst: srv, sp: 7, dp: 8, syn: 2, startReq: 0, endReq: 500 * ms, startResp: none, endResp: none, duration: 500 * ms},
				{src: cli, dst: srv, sp: 7, dp: 8, syn: 1, startReq: 1001 * ms, endReq: 1001 * ms, startResp: none, endResp: none, duration: 0},
			},
		},
		{
			name: "same ports, different hosts: separate sessions (the harvester merged them)",
			pkts: []pkt{
				{at: 0, src: cli, dst: srv, sp: 7, dp: 8, flags: "S"},
				{at: 1 * ms, src: "10.0.0.3", dst: srv, sp: 7, dp: 8, flags: "S"},
			},
			want: []want{
				{src: cli, dst: srv, sp: 7, dp: 8, syn: 1, startReq: 0, endReq: 0, startResp: none, endResp: none, duration: 0},
				{src: "10.0.0.3", dst: srv, sp: 7, dp: 8, syn: 1, startReq: 1 * ms, endReq: 1 * ms, startResp: none, endResp: none, duration: 0},
			},
		},
		{
			name: "IPv6 and VLAN-tagged IPv4 are decoded",
			pkts: []pkt{
				{at: 0, src: "fd00::1", dst: "fd00::2", sp: 1000, dp: 22, flags: "S"},
				{at: 2 * us, src: "fd00::2", dst: "fd00::1", sp: 22, dp: 1000, flags: "RA"},
				{at: 3 * us, src: cli, dst: srv, sp: 9, dp: 9, flags: "S", vlan: true},
			},
			want: []want{
				{src: "fd00::1", dst: "fd00::2", sp: 1000, dp: 22, syn: 1, ack: 1, rst: 1, startReq: 0, endReq: 0, startResp: 2 * us, endResp: 2 * us, duration: 2 * us},
				{src: cli, dst: srv, sp: 9, dp: 9, syn: 1, startReq: 3 * us, endReq: 3 * us, startResp: none, endResp: none, duration: 0},
			},
		},
		{
			name: "host and port filters keep only matching packets",
			cfg:  Config{Ports: []uint16{22}},
			pkts: []pkt{
				{at: 0, src: cli, dst: srv, sp: 1, dp: 22, flags: "S"},
				{at: 1 * ms, src: cli, dst: srv, sp: 1, dp: 23, flags: "S"},
			},
			want: []want{{src: cli, dst: srv, sp: 1, dp: 22, syn: 1, startReq: 0, endReq: 0, startResp: none, endResp: none, duration: 0}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, _ := feed(t, c.cfg, c.pkts)
			if len(rows) != len(c.want) {
				t.Fatalf("got %d rows, want %d: %+v", len(rows), len(c.want), rows)
			}
			tm := func(d time.Duration) int64 {
				if d == none {
					return 0
				}
				return ns(d)
			}
			for i, w := range c.want {
				r := rows[i]
				got := want{src: r.SrcIP.String(), dst: r.DstIP.String(), sp: r.SrcPort, dp: r.DstPort, syn: r.SYN, ack: r.ACK, fin: r.FIN, rst: r.RST, urg: r.URG, psh: r.PSH, startReq: 0, endReq: 0, startResp: 0, endResp: 0, duration: 0}
				exp := w
				exp.startReq, exp.endReq, exp.startResp, exp.endResp, exp.duration = 0, 0, 0, 0, 0
				if got != exp {
					t.Errorf("row %d: got %+v\nwant %+v", i, got, exp)
				}
				if r.StartRequest != tm(w.startReq) || r.EndRequest != tm(w.endReq) ||
					r.StartResponse != tm(w.startResp) || r.EndResponse != tm(w.endResp) {
					t.Errorf("row %d times: %d %d %d %d", i, r.StartRequest-ns(0), r.EndRequest-ns(0), r.StartResponse-ns(0), r.EndResponse-ns(0))
				}
				if r.Duration != w.duration.Seconds() {
					t.Errorf("row %d duration %v, want %v", i, r.Duration, w.duration.Seconds())
				}
			}
		})
	}
}

func TestEvidenceColumns(t *testing.T) {
	rows, _ := feed(t, Config{}, []pkt{
		{at: 0, src: cli, dst: srv, sp: 5000, dp: 80, flags: "S", window: 1024, mss: 1460, ttl: 37},
		{at: 1 * ms, src: srv, dst: cli, sp: 80, dp: 5000, flags: "SA", window: 65000},
		{at: 2 * ms, src: cli, dst: srv, sp: 5000, dp: 80, flags: "PA", payload: 120},
		{at: 3 * ms, src: srv, dst: cli, sp: 80, dp: 5000, flags: "PA", payload: 3000},
	})
	r := rows[0]
	if r.InitWindow != 1024 || r.InitMSS != 1460 || r.InitOptLen != 4 || r.InitTTL != 37 || r.InitDF != 1 {
		t.Errorf("first-packet evidence: %+v", r)
	}
	if r.Packets != 4 || r.SrcPackets != 2 || r.DstPackets != 2 || r.SrcBytes != 120 || r.DstBytes != 3000 {
		t.Errorf("counts: %+v", r)
	}
}

// TestContext: a busy client that also scans. Its curl loop to one service
// is one first contact however often it repeats; the scan's probes are one
// each, refused, from one source port with varying TTLs.
func TestContext(t *testing.T) {
	var pkts []pkt
	// A curl loop: 20 complete sessions to srv:8080 from new ports, 50 ms apart.
	for i := range 20 {
		at := time.Duration(i) * 50 * ms
		sp := uint16(30000 + i)
		pkts = append(pkts,
			pkt{at: at, src: cli, dst: srv, sp: sp, dp: 8080, flags: "S"},
			pkt{at: at + us, src: srv, dst: cli, sp: 8080, dp: sp, flags: "SA"},
			pkt{at: at + 2*us, src: cli, dst: srv, sp: sp, dp: 8080, flags: "A"},
			pkt{at: at + 3*us, src: cli, dst: srv, sp: sp, dp: 8080, flags: "PA", payload: 80},
			pkt{at: at + 4*us, src: srv, dst: cli, sp: 8080, dp: sp, flags: "PA", payload: 900},
			pkt{at: at + 5*us, src: cli, dst: srv, sp: sp, dp: 8080, flags: "FA"},
			pkt{at: at + 6*us, src: srv, dst: cli, sp: 8080, dp: sp, flags: "FA"},
			pkt{at: at + 7*us, src: cli, dst: srv, sp: sp, dp: 8080, flags: "A"})
	}
	// Meanwhile a SYN scan of ports 1..10 from source port 40000, TTLs
	// 40..49; port 5 is open, port 10 filtered, the rest refused.
	for i := range 10 {
		at := 300*ms + time.Duration(i)*10*ms
		dp := uint16(i + 1)
		pkts = append(pkts, pkt{at: at, src: cli, dst: srv, sp: 40000, dp: dp, flags: "S", window: 1024, mss: 1460, ttl: uint8(40 + i)})
		switch dp {
		case 5:
			pkts = append(pkts, pkt{at: at + us, src: srv, dst: cli, sp: dp, dp: 40000, flags: "SA"},
				pkt{at: at + 2*us, src: cli, dst: srv, sp: 40000, dp: dp, flags: "R"})
		case 10:
		default:
			pkts = append(pkts, pkt{at: at + us, src: srv, dst: cli, sp: dp, dp: 40000, flags: "RA"})
		}
	}
	// 10 s later, beyond the context window: a fresh start.
	pkts = append(pkts, pkt{at: 10 * time.Second, src: cli, dst: srv, sp: 40001, dp: 99, flags: "S"})
	sortByTime(pkts)
	rows, _ := feed(t, Config{}, pkts)
	var scan, loop []row.Row
	var late row.Row
	for _, r := range rows {
		switch {
		case r.DstPort == 8080:
			loop = append(loop, r)
		case r.DstPort == 99:
			late = r
		default:
			scan = append(scan, r)
		}
	}
	if len(loop) != 20 || len(scan) != 10 {
		t.Fatalf("%d loop rows, %d scan rows", len(loop), len(scan))
	}
	// Every scan row is written 0.5 s after its probe, when the whole scan
	// and the loop have been seen: 11 first contacts, 9 refused or
	// unanswered (all but the loop's and open port 5), 11 ports on srv, one
	// host per port, 10 from port 40000, 11 TTLs (the loop's 64 and 40..49).
	for _, r := range scan {
		if r.CtxPairs != 11 || r.CtxFailed != 0.818182 || r.CtxPorts != 11 || r.CtxHosts != 1 || r.CtxSport != 10 || r.CtxTTLs != 11 || r.CtxBurst != 11 {
			t.Errorf("scan row to port %d: pairs %d failed %v ports %d hosts %d sport %d ttls %d", r.DstPort,
				r.CtxPairs, r.CtxFailed, r.CtxPorts, r.CtxHosts, r.CtxSport, r.CtxTTLs)
		}
	}
	// The loop's sessions each see the one service, plus whatever scan
	// probes had started by then; the loop itself never counts twice, and
	// only its first session is a first contact (from its own source port).
	for i, r := range loop {
		if r.CtxPorts < 1 || r.CtxPairs > 11 || r.CtxSport != b2i(i == 0) || r.Handshake != 1 || r.Answer != 1 || r.InitFlags != 2 {
			t.Errorf("loop row from port %d: %+v", r.SrcPort, r)
		}
	}
	if late.CtxPairs != 1 || late.CtxFailed != 1 || late.CtxPorts != 1 || late.CtxTTLs != 1 || late.CtxBurst != 1 {
		t.Errorf("after the window: %+v", late)
	}
}

func sortByTime(pkts []pkt) {
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].at < pkts[j].at })
}

// TestProbeEvidence: the initiator's first flags, the kind of answer, and
// whether a handshake completed, for the probes nmap sends.
func TestProbeEvidence(t *testing.T) {
	cases := []struct {
		name      string
		pkts      []pkt
		flags     int
		answer    int
		handshake int
	}{
		{"SYN refused", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: "S"}, {at: us, src: srv, dst: cli, sp: 2, dp: 1, flags: "RA"}}, 2, 2, 0},
		{"SYN open, half-open", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: "S"}, {at: us, src: srv, dst: cli, sp: 2, dp: 1, flags: "SA"},
			{at: 2 * us, src: cli, dst: srv, sp: 1, dp: 2, flags: "R"}}, 2, 1, 0},
		{"connect open", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: "S"}, {at: us, src: srv, dst: cli, sp: 2, dp: 1, flags: "SA"},
			{at: 2 * us, src: cli, dst: srv, sp: 1, dp: 2, flags: "A"}, {at: 3 * us, src: cli, dst: srv, sp: 1, dp: 2, flags: "RA"}}, 2, 1, 1},
		{"SYN unanswered", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: "S"}}, 2, 0, 0},
		{"XMAS refused", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: "FUP"}, {at: us, src: srv, dst: cli, sp: 2, dp: 1, flags: "RA"}}, 41, 2, 0},
		{"NULL", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: ""}}, 0, 0, 0},
		{"ACK, bare RST", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: "A"}, {at: us, src: srv, dst: cli, sp: 2, dp: 1, flags: "R"}}, 16, 2, 0},
		{"mid-stream data", []pkt{{src: cli, dst: srv, sp: 1, dp: 2, flags: "PA", payload: 10}, {at: us, src: srv, dst: cli, sp: 2, dp: 1, flags: "A"}}, 24, 3, 0},
	}
	for _, c := range cases {
		rows, _ := feed(t, Config{}, c.pkts)
		if len(rows) != 1 || rows[0].InitFlags != c.flags || rows[0].Answer != c.answer || rows[0].Handshake != c.handshake {
			t.Errorf("%s: %+v", c.name, rows)
		}
	}
}

// TestEstablishedIdle: an established session outlives --window (a quiet
// keep-alive connection stays one session), a probe does not, and a reset
// puts an established session back on the short timeout.
func TestEstablishedIdle(t *testing.T) {
	handshake := func(at time.Duration, sp uint16) []pkt {
		return []pkt{{at: at, src: cli, dst: srv, sp: sp, dp: 443, flags: "S"}, {at: at + us, src: srv, dst: cli, sp: 443, dp: sp, flags: "SA"},
			{at: at + 2*us, src: cli, dst: srv, sp: sp, dp: 443, flags: "A"}}
	}
	var pkts []pkt
	pkts = append(pkts, handshake(0, 1000)...)
	// 2 s of silence, then data and a FIN close: one session.
	pkts = append(pkts, pkt{at: 2 * time.Second, src: cli, dst: srv, sp: 1000, dp: 443, flags: "PA", payload: 100},
		pkt{at: 2*time.Second + us, src: srv, dst: cli, sp: 443, dp: 1000, flags: "PA", payload: 100},
		pkt{at: 2*time.Second + 2*us, src: cli, dst: srv, sp: 1000, dp: 443, flags: "FA"},
		pkt{at: 2*time.Second + 3*us, src: srv, dst: cli, sp: 443, dp: 1000, flags: "FA"},
		// After both FINs the short timeout applies: this late ACK is a new session.
		pkt{at: 3 * time.Second, src: cli, dst: srv, sp: 1000, dp: 443, flags: "A"})
	// An established session reset after its handshake, then a stray packet 1 s later.
	pkts = append(pkts, handshake(4*time.Second, 2000)...)
	pkts = append(pkts, pkt{at: 4*time.Second + 10*us, src: srv, dst: cli, sp: 443, dp: 2000, flags: "R"},
		pkt{at: 5 * time.Second, src: cli, dst: srv, sp: 2000, dp: 443, flags: "A"})
	// A probe 2 s apart from its retransmission: two sessions.
	pkts = append(pkts, pkt{at: 6 * time.Second, src: cli, dst: srv, sp: 3000, dp: 22, flags: "S"},
		pkt{at: 8 * time.Second, src: cli, dst: srv, sp: 3000, dp: 22, flags: "S"})
	rows, _ := feed(t, Config{}, pkts)
	per := map[uint16]int{}
	for _, r := range rows {
		per[r.SrcPort]++
	}
	if per[1000] != 2 || per[2000] != 2 || per[3000] != 2 || len(rows) != 6 {
		t.Errorf("sessions per client port %v, want 1000: 2 (the closed connection, then the late ACK), 2000: 2, 3000: 2", per)
	}
	for _, r := range rows {
		if r.SrcPort == 1000 && r.SYN == 1 && (r.Packets != 7 || r.SrcBytes != 100 || r.FIN != 2) {
			t.Errorf("keep-alive session split: %+v", r)
		}
	}
	// Sessions leave in the order they go idle: the established one, quiet
	// since 0 s with a 5 min timeout, must not hold back the others.
	rows, _ = feed(t, Config{}, append(handshake(0, 1000), pkt{at: time.Second, src: cli, dst: srv, sp: 3000, dp: 22, flags: "S"},
		pkt{at: 3 * time.Second, src: cli, dst: srv, sp: 3001, dp: 22, flags: "S"}))
	if len(rows) != 3 || rows[0].SrcPort != 3000 || rows[1].SrcPort != 3001 || rows[2].SrcPort != 1000 {
		t.Errorf("close order: %v", ports(rows))
	}
}

func ports(rows []row.Row) []uint16 {
	var out []uint16
	for _, r := range rows {
		out = append(out, r.SrcPort)
	}
	return out
}

func TestMaxSessionsEvictsLeastRecentlyActive(t *testing.T) {
	var pkts []pkt
	for i := 0; i < 10; i++ {
		pkts = append(pkts, pkt{at: time.Duration(i) * us, src: cli, dst: srv, sp: uint16(1000 + i), dp: 80, flags: "S"})
	}
	rows, st := feed(t, Config{MaxSessions: 4}, pkts)
	if len(rows) != 10 || st.Evicted != 6 {
		t.Fatalf("rows %d evicted %d", len(rows), st.Evicted)
	}
	for i, r := range rows {
		if r.SrcPort != uint16(1000+i) {
			t.Errorf("row %d is port %d: eviction must follow activity order", i, r.SrcPort)
		}
	}
}

func TestNonTCPAndMalformedAreCounted(t *testing.T) {
	var rows int
	tab := NewTable(Config{}, func(*row.Row) error { rows++; return nil })
	dec, _ := NewDecoder(layers.LinkTypeEthernet)
	good := pkt{src: cli, dst: srv, sp: 1, dp: 2, flags: "S"}.bytes(t)
	tab.Packet(good[:14+20+10], ns(0), dec) // TCP header cut short
	udp := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(1, 2, 3, 4), DstIP: net.IPv4(5, 6, 7, 8)}
	u := &layers.UDP{SrcPort: 1, DstPort: 2}
	u.SetNetworkLayerForChecksum(ip)
	gopacket.SerializeLayers(udp, gopacket.SerializeOptions{FixLengths: true},
		&layers.Ethernet{EthernetType: layers.EthernetTypeIPv4, SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6)}, ip, u)
	tab.Packet(udp.Bytes(), ns(0), dec)
	tab.Packet([]byte{1, 2, 3}, ns(0), dec)
	tab.Flush()
	st := tab.Stats()
	if rows != 0 || st.NonTCP != 1 || st.Malformed != 2 || st.Packets != 3 {
		t.Errorf("rows %d stats %+v", rows, st)
	}
}

func TestOutOfOrderTimestampsNeverGoBackwards(t *testing.T) {
	rows, st := feed(t, Config{}, []pkt{
		{at: 10 * ms, src: cli, dst: srv, sp: 1, dp: 2, flags: "S"},
		{at: 5 * ms, src: srv, dst: cli, sp: 2, dp: 1, flags: "RA"},
	})
	if st.OutOfOrder != 1 || rows[0].Duration != 0 {
		t.Errorf("stats %+v duration %v", st, rows[0].Duration)
	}
}

// TestFloodStaysUnderTheCap runs a random-source-port SYN flood (written
// by tools/mkpcap, never sent) through a table capped at 5 000 sessions:
// the table never holds more, every evicted session is still written, and
// every packet lands in exactly one row.
func TestFloodStaysUnderTheCap(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := t.TempDir() + "/flood.pcap"
	if out, err := exec.Command("go", "run", "../../tools/mkpcap", "-flood", "-n", "200000", "-o", path).CombinedOutput(); err != nil {
		t.Fatalf("mkpcap: %v\n%s", err, out)
	}
	src, err := capture.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec, _ := NewDecoder(src.Link)
	var rows, packets, peak int
	var tab *Table
	tab = NewTable(Config{MaxSessions: 5000}, func(r *row.Row) error {
		rows++
		packets += r.Packets
		peak = max(peak, tab.Open())
		return nil
	})
	if err := tab.Run(context.Background(), src, dec, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	st := tab.Stats()
	if peak > 5000 || st.Evicted == 0 || uint64(rows) != st.Sessions || packets != 200000 {
		t.Errorf("peak %d rows %d packets %d stats %+v", peak, rows, packets, st)
	}
}

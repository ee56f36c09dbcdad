package session

import (
	crand "crypto/rand"
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"sync"
	"time"

	"github.com/gopacket/gopacket"

	"scanwatch/pkg/row"
)

// Config tunes a Table.
type Config struct {
	// Window is the idle timeout in packet time (default 0.5 s, the seed's)
	// of every session that is not established.
	Window time.Duration
	// EstablishedIdle is the idle timeout of an established session: one
	// whose handshake completed, or that carried payload both ways, and
	// that has seen no RST and not both FINs (default 5 minutes, Zeek's TCP
	// inactivity timeout). Probes never get there, so they still leave after
	// Window; a quiet keep-alive or TLS connection stays one session instead
	// of falling apart into fragments that start mid-stream.
	EstablishedIdle time.Duration
	// ContextWindow is how far back the ctx_* columns look from a session's
	// close (default 5 s, the alert rule's window).
	ContextWindow time.Duration
	// MaxSessions caps open sessions; 0 means DefaultMaxSessions.
	MaxSessions int
	// Hosts and Ports keep only packets with an endpoint among them (each
	// filter applies when non-empty), like "host A and tcp port N".
	Hosts []netip.Addr
	Ports []uint16
	// Keep, if set, gets every TCP packet that passed Hosts and Ports, as
	// Run read it (timestamp cut to µs): pcapsess -w with filters saves
	// exactly the packets its rows were made of, so that the copy holds no
	// one else's traffic and replays to the same rows without the filters.
	Keep func(data []byte, ci gopacket.CaptureInfo) error
	// KeepAll makes Keep get every packet read, not only the TCP packets
	// the filters kept (pcapsess -w without --host or --port).
	KeepAll bool
}

// DefaultMaxSessions keeps the table near 200 MB at worst (one session
// with its map entry and context entry is under 300 bytes).
const DefaultMaxSessions = 600_000

// Stats counts what the table saw.
type Stats struct {
	Packets    uint64 // packets offered
	IPv4       uint64 // of them, IPv4 packets (TCP or not)
	IPv6       uint64 // of them, IPv6 packets (TCP or not)
	TCP        uint64 // TCP packets used
	Filtered   uint64 // TCP packets dropped by Hosts/Ports
	NonTCP     uint64 // not TCP, or a later IP fragment
	Malformed  uint64 // undecodable link/IP/TCP headers
	Sessions   uint64 // rows emitted
	Evicted    uint64 // of which written early because the table was full
	OutOfOrder uint64 // packets whose timestamp went backwards (treated as "now")
	Open       int    // sessions open when the stats were taken
}

// add sums two tables' counters (Open included).
func (s Stats) add(o Stats) Stats {
	return Stats{Packets: s.Packets + o.Packets, IPv4: s.IPv4 + o.IPv4, IPv6: s.IPv6 + o.IPv6, TCP: s.TCP + o.TCP,
		Filtered: s.Filtered + o.Filtered, NonTCP: s.NonTCP + o.NonTCP, Malformed: s.Malformed + o.Malformed,
		Sessions: s.Sessions + o.Sessions, Evicted: s.Evicted + o.Evicted, OutOfOrder: s.OutOfOrder + o.OutOfOrder,
		Open: s.Open + o.Open}
}

// Emit receives each finished session. The row is reused after Emit
// returns. An error stops the table.
type Emit func(*row.Row) error

type key struct {
	a, b   [16]byte
	pa, pb uint16
}

type session struct {
	prev, next *session // its activity list, least recently active first
	long       bool     // on the established list
	h          uint64
	k          key
	initIsA    bool
	first      int64
	last       int64

	startReq, endReq, startResp, endResp int64
	hasReq, hasResp                      bool

	syn, ack, fin, rst, urg, psh int32
	srcPkts, dstPkts             int32
	srcBytes, dstBytes           int64

	initWin, initOpt, initMSS, initTTL, initDF int32
	initFlags                                  uint8
	answer                                     uint8 // 0 none yet, 1 SYN+ACK, 2 RST, 3 other
	synAck                                     bool  // the responder's SYN+ACK was seen
	handshake                                  bool  // ... and then the initiator's ACK
	finSrc, finDst                             bool

	ctx     ctxLink // its pair's entry in the initiator's context (one table alone)
	ok      bool    // the responder answered with something other than RST
	slot    uint32  // which of the table's session structs it is (kept across reuse)
	lastSeq uint64  // the order of its last packet among packets of the same time
}

// Table is the session table: it folds packets into sessions and emits each
// as a row when it goes idle.
type Table struct {
	cfg    Config
	window int64
	emit   Emit
	idx    index
	seed   uint64
	// lists[0] holds sessions that time out after Window, lists[1] the
	// established ones (EstablishedIdle); each is in order of activity, so
	// its head is the next to expire.
	lists   [2]lru
	idle    [2]int64
	free    *session
	now     int64 // packet time of the newest packet
	stats   Stats
	out     row.Row
	ctx     contexts
	hostSet map[[16]byte]bool
	portSet [65536 / 64]uint64
	kept    bool // the last packet was TCP and passed the filters
	// log, when set, makes the table one worker of a Group: the initiator
	// context is computed by the Group's context stage, to which the table
	// logs what it needs, instead of in ctx.
	log   *eventLog
	seq   uint64 // the current packet's order (Group workers set it)
	slots uint32 // session structs made so far
	pub   published
}

// published is the table's counters as last published by its own
// goroutine, for readers on other goroutines (a metrics scrape).
type published struct {
	mu sync.Mutex
	st Stats
}

// publish makes the counters so far visible to Published.
func (t *Table) publish() {
	st := t.Stats()
	t.pub.mu.Lock()
	t.pub.st = st
	t.pub.mu.Unlock()
}

// Published returns the counters as last published by the goroutine that
// runs the table (every few thousand packets, every live tick and at the
// end): safe to call from any goroutine while the table runs.
func (t *Table) Published() Stats {
	t.pub.mu.Lock()
	defer t.pub.mu.Unlock()
	return t.pub.st
}

// NewTable makes a table that hands finished sessions to emit.
func NewTable(cfg Config, emit Emit) *Table {
	if cfg.Window <= 0 {
		cfg.Window = 500 * time.Millisecond
	}
	if cfg.ContextWindow <= 0 {
		cfg.ContextWindow = 5 * time.Second
	}
	if cfg.EstablishedIdle <= 0 {
		cfg.EstablishedIdle = 5 * time.Minute
	}
	if cfg.EstablishedIdle < cfg.Window {
		cfg.EstablishedIdle = cfg.Window
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	t := &Table{cfg: cfg, window: int64(cfg.Window), emit: emit, idx: newIndex(), seed: newSeed()}
	t.idle = [2]int64{int64(cfg.Window), int64(cfg.EstablishedIdle)}
	t.ctx.init(int64(cfg.ContextWindow))
	if len(cfg.Hosts) > 0 {
		t.hostSet = map[[16]byte]bool{}
		for _, h := range cfg.Hosts {
			t.hostSet[netip.AddrFrom16(h.As16()).As16()] = true
		}
	}
	for _, p := range cfg.Ports {
		t.portSet[p/64] |= 1 << (p % 64)
	}
	return t
}

// Stats returns the counters so far (from the goroutine that runs the table).
func (t *Table) Stats() Stats {
	st := t.stats
	st.Open = t.idx.n
	return st
}

// Open is the number of sessions in the table.
func (t *Table) Open() int { return t.idx.n }

// Now is the packet time of the newest packet seen (Unix ns).
func (t *Table) Now() int64 { return t.now }

// tcpPacket is what the decoder extracts from one packet.
type tcpPacket struct {
	ts         int64
	src, dst   [16]byte
	sport      uint16
	dport      uint16
	flags      uint8 // FIN SYN RST PSH ACK URG as in the TCP header's low 6 bits
	window     uint16
	optLen     uint8
	mss        uint16
	ttl        uint8
	df         bool
	payloadLen int
	v6         bool
}

const (
	flagFIN = 1 << iota
	flagSYN
	flagRST
	flagPSH
	flagACK
	flagURG
)

func (t *Table) wanted(p *tcpPacket) bool {
	if t.hostSet != nil && !t.hostSet[p.src] && !t.hostSet[p.dst] {
		return false
	}
	if len(t.cfg.Ports) > 0 && t.portSet[p.sport/64]&(1<<(p.sport%64)) == 0 && t.portSet[p.dport/64]&(1<<(p.dport%64)) == 0 {
		return false
	}
	return true
}

// add folds one decoded TCP packet into its session.
func (t *Table) add(p *tcpPacket) error {
	if !t.wanted(p) {
		t.stats.Filtered++
		return nil
	}
	t.stats.TCP++
	t.kept = true
	if t.log == nil {
		t.ctx.sweep(p.ts)
	}
	k, fromA := makeKey(p)
	h := k.hash(t.seed)
	s := t.idx.lookup(h, &k)
	if s == nil {
		if t.idx.n >= t.cfg.MaxSessions {
			t.stats.Evicted++
			if err := t.close(t.leastRecent(), true); err != nil {
				return err
			}
		}
		s = t.alloc()
		s.k = k
		s.h = h
		t.idx.insert(s)
		s.initIsA = fromA
		s.first = p.ts
		s.initWin = int32(p.window)
		s.initOpt = int32(p.optLen)
		s.initMSS = int32(p.mss)
		s.initTTL = int32(p.ttl)
		if p.df {
			s.initDF = 1
		}
		s.initFlags = p.flags & 0x3f
		if t.log != nil {
			t.log.open(t, s, p)
		} else {
			s.ctx = t.ctx.open(p.ts, p.src, p.dst, p.sport, p.dport, p.ttl)
		}
	} else {
		t.unlink(s)
	}
	s.last = p.ts
	s.lastSeq = t.seq

	f := p.flags
	s.syn += int32(f >> 1 & 1)
	s.ack += int32(f >> 4 & 1)
	s.fin += int32(f & 1)
	s.rst += int32(f >> 2 & 1)
	s.urg += int32(f >> 5 & 1)
	s.psh += int32(f >> 3 & 1)
	fl := f & 0x3f
	if fromA == s.initIsA {
		if s.synAck && !s.handshake && fl&(flagSYN|flagACK|flagRST) == flagACK && s.initFlags == flagSYN {
			s.handshake = true
		}
		s.finSrc = s.finSrc || fl&flagFIN != 0
		s.srcPkts++
		s.srcBytes += int64(p.payloadLen)
		if fl&(flagSYN|flagACK|flagRST|flagFIN) != 0 || fl == 0 {
			if !s.hasReq {
				s.hasReq = true
				s.startReq = p.ts
			}
			s.endReq = p.ts
		}
	} else {
		if s.answer == 0 {
			switch {
			case fl&(flagSYN|flagACK) == flagSYN|flagACK:
				s.answer = 1
			case fl&flagRST != 0:
				s.answer = 2
			default:
				s.answer = 3
			}
		}
		if fl&(flagSYN|flagACK) == flagSYN|flagACK {
			s.synAck = true
		}
		s.finDst = s.finDst || fl&flagFIN != 0
		s.dstPkts++
		s.dstBytes += int64(p.payloadLen)
		if fl&(flagSYN|flagACK) == flagSYN|flagACK || fl&(flagRST|flagACK) == flagRST|flagACK || fl == 0 {
			if !s.hasResp {
				s.hasResp = true
				s.startResp = p.ts
			}
			s.endResp = p.ts
		}
		if fl&flagRST == 0 && !s.ok {
			s.ok = true
			if t.log != nil {
				t.log.answer(t, s, p.ts)
			} else {
				t.ctx.answered(s.ctx)
			}
		}
	}
	t.pushBack(s)
	return nil
}

// hash mixes the key with a per-table random seed (so that nobody can
// choose packets that collide): a uint64 map key is several times cheaper
// to look up than the 36-byte key itself.
func (k *key) hash(seed uint64) uint64 {
	x := seed
	x = mix(x ^ binary.LittleEndian.Uint64(k.a[0:8]))
	x = mix(x ^ binary.LittleEndian.Uint64(k.a[8:16]))
	x = mix(x ^ binary.LittleEndian.Uint64(k.b[0:8]))
	x = mix(x ^ binary.LittleEndian.Uint64(k.b[8:16]))
	return mix(x ^ uint64(k.pa)<<16 ^ uint64(k.pb))
}

func mix(x uint64) uint64 {
	hi, lo := bits.Mul64(x, 0x9E3779B97F4A7C15)
	return hi ^ lo
}

func newSeed() uint64 {
	var b [8]byte
	crand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

func makeKey(p *tcpPacket) (key, bool) {
	c := compare16(&p.src, &p.dst)
	if c < 0 || c == 0 && p.sport <= p.dport {
		return key{a: p.src, b: p.dst, pa: p.sport, pb: p.dport}, true
	}
	return key{a: p.dst, b: p.src, pa: p.dport, pb: p.sport}, false
}

func compare16(x, y *[16]byte) int {
	for i := 0; i < 16; i++ {
		if x[i] != y[i] {
			if x[i] < y[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Advance expires sessions idle for longer than the window at time now.
// Live capture calls it from a ticker (wall clock less a grace period) so
// that rows leave on time when no packet arrives. It does not move the
// table's packet clock: a packet that arrives later keeps its own timestamp,
// exactly as in a replay of the same capture.
func (t *Table) Advance(now int64) error {
	return t.expire(now)
}

func (t *Table) expire(now int64) error {
	for {
		s := t.nextDue()
		if s == nil || now-s.last <= t.idle[b2i(s.long)] {
			return nil
		}
		if err := t.close(s, false); err != nil {
			return err
		}
	}
}

// Flush writes every open session in the order they would go idle: at the
// end of input, on a signal, or before an error is reported.
func (t *Table) Flush() error {
	for s := t.nextDue(); s != nil; s = t.nextDue() {
		if err := t.close(s, false); err != nil {
			return err
		}
	}
	return nil
}

// nextDue is the open session whose idle timeout ends first (the short
// list's on a tie), or nil.
func (t *Table) nextDue() *session {
	a, b := t.lists[0].head, t.lists[1].head
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.last+t.idle[1] < a.last+t.idle[0]:
		return b
	}
	return a
}

// leastRecent is the open session whose last packet is oldest.
func (t *Table) leastRecent() *session {
	a, b := t.lists[0].head, t.lists[1].head
	if a == nil || b != nil && b.last < a.last {
		return b
	}
	return a
}

// deadline is when s goes idle: its close time in packet time.
func (t *Table) deadline(s *session) int64 { return s.last + t.idle[b2i(s.long)] }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// close writes s, at its deadline or, evicted, early (at the current
// packet).
func (t *Table) close(s *session, evicted bool) error {
	t.unlink(s)
	t.idx.remove(s)
	t.stats.Sessions++
	var err error
	if t.log != nil {
		t.log.close(t, s, evicted)
	} else {
		fillSession(&t.out, s)
		src, dst, sp, dp := initiatorSide(s)
		setContext(&t.out, t.ctx.of(src, dst, sp, dp, s.first, t.deadline(s)))
		err = t.emit(&t.out)
	}
	*s = session{next: t.free, slot: s.slot}
	t.free = s
	return err
}

// initiatorSide returns s's endpoints as src, dst, sport, dport.
func initiatorSide(s *session) (src, dst [16]byte, sport, dport uint16) {
	if s.initIsA {
		return s.k.a, s.k.b, s.k.pa, s.k.pb
	}
	return s.k.b, s.k.a, s.k.pb, s.k.pa
}

// setContext puts the initiator context v into r's ctx_* columns.
func setContext(r *row.Row, v values) {
	r.CtxPairs, r.CtxPorts, r.CtxHosts, r.CtxSport, r.CtxTTLs, r.CtxBurst = v.pairs, v.ports, v.hosts, v.sport, v.ttls, v.burst
	// Six decimals: enough for a fraction of at most 4096 contacts, and
	// rows stay short.
	r.CtxFailed = math.Round(v.failed*1e6) / 1e6
}

// fillSession fills every column of r but the ctx_* ones from s.
func fillSession(r *row.Row, s *session) {
	ext := r.Extra[:0]
	*r = row.Row{Extra: ext}
	src, dst, sp, dp := initiatorSide(s)
	r.SrcIP = addr(src)
	r.DstIP = addr(dst)
	r.SrcPort, r.DstPort = sp, dp
	if s.hasReq {
		r.StartRequest, r.EndRequest = s.startReq, s.endReq
	}
	if s.hasResp {
		r.StartResponse, r.EndResponse = s.startResp, s.endResp
	}
	start := s.first
	if s.hasReq {
		start = s.startReq
	}
	end := s.last
	switch {
	case s.hasResp:
		end = s.endResp
	case s.hasReq:
		end = s.endReq
	}
	if end < start {
		end = start
	}
	r.Duration = float64(end-start) / 1e9
	r.SYN, r.ACK, r.FIN = int(s.syn), int(s.ack), int(s.fin)
	r.RST, r.URG, r.PSH = int(s.rst), int(s.urg), int(s.psh)
	r.SrcPackets, r.DstPackets = int(s.srcPkts), int(s.dstPkts)
	r.Packets = r.SrcPackets + r.DstPackets
	r.SrcBytes, r.DstBytes = int(s.srcBytes), int(s.dstBytes)
	r.InitWindow, r.InitOptLen, r.InitMSS = int(s.initWin), int(s.initOpt), int(s.initMSS)
	r.InitTTL, r.InitDF = int(s.initTTL), int(s.initDF)
	r.InitFlags, r.Answer = int(s.initFlags), int(s.answer)
	if s.handshake {
		r.Handshake = 1
	}
}

// addr turns a 16-byte key address back into an IPv4 or IPv6 address.
func addr(b [16]byte) netip.Addr {
	return netip.AddrFrom16(b).Unmap()
}

func (t *Table) alloc() *session {
	if s := t.free; s != nil {
		t.free = s.next
		s.next = nil
		return s
	}
	t.slots++
	return &session{slot: t.slots - 1}
}

// lru is a list of sessions in order of activity, least recent first.
type lru struct{ head, tail *session }

func (t *Table) unlink(s *session) {
	l := &t.lists[b2i(s.long)]
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

// pushBack puts s, just active, at the end of the list its state calls for.
func (t *Table) pushBack(s *session) {
	s.long = (s.handshake || s.srcBytes > 0 && s.dstBytes > 0) && s.rst == 0 && !(s.finSrc && s.finDst)
	l := &t.lists[b2i(s.long)]
	s.prev = l.tail
	s.next = nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
}

package session

import (
	"context"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"scanwatch/pkg/row"
)

// Group is n session tables ("workers"), each fed its own share of the
// flows, and one context stage where all of an initiator's sessions meet.
// See "Several workers" in doc.go for the design and why.
type Group struct {
	tables []*Table
	m      *merger

	readerOutOfOrder atomic.Uint64 // counted by the reader that splits one source

	// flushRound is set while the reader that splits one source runs; see
	// FlushRound.
	flushRound func() error
}

// FlushRound makes the rows a single table would have written by now
// leave before the reader waits for more input: it deals the packets read
// so far to the workers and returns once every row their clocks close has
// been handed to emit. It must be called from the goroutine reading the
// one source Run splits, that is from within that source's read, before a
// read that may block (row.FlushBeforeRead does this for a pipe). With one
// table, or when no source is being split, it does nothing: the caller
// flushes its own writer then.
func (g *Group) FlushRound() error {
	if g.flushRound == nil {
		return nil
	}
	return g.flushRound()
}

// roundSync is the reader's wait for the rows of a round it dealt before
// blocking on its input. Each worker passes it on with the round's events;
// the context stage, once all have, drains and passes it to the writer,
// which closes done after the rows before it.
type roundSync struct {
	left atomic.Int32 // workers that have not passed it on yet
	done chan struct{}
}

// NewGroup makes a group of n tables (n < 1 is 1) that hand finished
// sessions to emit, from one goroutine, in the order a single table would.
// With n = 1 it is a Table and nothing more. Each table holds at most
// cfg.MaxSessions / n sessions, so the memory bound is the single table's.
func NewGroup(cfg Config, n int, emit Emit) *Group {
	n = max(n, 1)
	g := &Group{}
	if n == 1 {
		g.tables = []*Table{NewTable(cfg, emit)}
		return g
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	wcfg := cfg
	wcfg.MaxSessions = (cfg.MaxSessions + n - 1) / n
	wcfg.Keep = nil
	g.m = newMerger(n, cfg, emit)
	for w := range n {
		t := NewTable(wcfg, nil)
		t.log = &eventLog{worker: w, keep: cfg.Keep != nil, keepAll: cfg.KeepAll, free: g.m.free}
		t.log.b = t.log.newBatch()
		g.tables = append(g.tables, t)
	}
	return g
}

// Workers is the number of tables.
func (g *Group) Workers() int { return len(g.tables) }

// Stats returns the sum of every worker's published counters and each
// worker's, in worker order. Safe to call from any goroutine while the
// group runs (figures lag by at most a few thousand packets or one tick).
func (g *Group) Stats() (total Stats, per []Stats) {
	for _, t := range g.tables {
		st := t.Published()
		per = append(per, st)
		total = total.add(st)
	}
	total.OutOfOrder += g.readerOutOfOrder.Load()
	return total, per
}

// ContextStats are the context stage's counters.
type ContextStats struct {
	// Late counts events that reached the stage after later ones had been
	// applied: packets that arrived more than RunOptions.Grace after their
	// timestamp, live. A replay may give other ctx_* values for their
	// sessions than the live run did.
	Late uint64
	// Initiators is how many initiators have contacts in the window; -1
	// with one worker, which has no context stage.
	Initiators int
}

// ContextStats returns the context stage's published counters.
func (g *Group) ContextStats() ContextStats {
	if g.m == nil {
		return ContextStats{Initiators: -1}
	}
	g.m.pubMu.Lock()
	defer g.m.pubMu.Unlock()
	return g.m.pub
}

// Run reads packets until every source ends, an error, or ctx ends, and
// writes every session still open before it returns. srcs holds one source
// per worker (live fanout sockets, which already split the flows), or one
// source that a reader deals out to the workers by opt.Split, which must
// give both directions of a flow the same value. A group runs once.
func (g *Group) Run(ctx context.Context, srcs []gopacket.PacketDataSource, link layers.LinkType, opt RunOptions) error {
	n := len(g.tables)
	if n == 1 {
		dec, err := NewDecoder(link)
		if err != nil {
			return err
		}
		return g.tables[0].Run(ctx, srcs[0], dec, opt)
	}
	decs := make([]*Decoder, n)
	for w := range decs {
		d, err := NewDecoder(link)
		if err != nil {
			return err
		}
		decs[w] = d
	}
	opt = opt.withDefaults()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped atomic.Bool
	stop := context.AfterFunc(runCtx, func() { stopped.Store(true) })
	defer stop()

	in := make(chan *eventBatch, 16*n)
	for _, t := range g.tables {
		t.log.out = in
	}
	rows := make(chan *rowBatch, 4)
	g.m.rows = rows
	writeDone := make(chan error, 1)
	go func() { writeDone <- g.m.write(rows, cancel) }()
	mergeDone := make(chan error, 1)
	go func() { mergeDone <- g.m.run(in, cancel) }()

	errs := make([]error, n+1)
	var wg sync.WaitGroup
	switch len(srcs) {
	case n:
		for w := range n {
			wg.Go(func() { errs[w] = g.tables[w].work(srcs[w], decs[w], opt, &stopped) })
		}
	case 1:
		feeds := make([]chan *packetBatch, n)
		free := make(chan *packetBatch, 4*n)
		for w := range n {
			feeds[w] = make(chan *packetBatch, 2)
			wg.Go(func() {
				if errs[w] = g.tables[w].workFed(feeds[w], free, decs[w]); errs[w] != nil {
					cancel() // the reader must not wait for this worker's rounds
				}
			})
		}
		errs[n] = g.split(srcs[0], opt, &stopped, runCtx.Done(), feeds, free)
	default:
		panic("session: Group.Run needs one source, or one per worker")
	}
	wg.Wait()
	close(in)
	mergeErr := <-mergeDone
	writeErr := <-writeDone
	if mergeErr != nil {
		return mergeErr
	}
	if writeErr != nil {
		return writeErr
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// work is one worker reading its own source (a fanout socket).
func (t *Table) work(src gopacket.PacketDataSource, dec *Decoder, opt RunOptions, stopped *atomic.Bool) (err error) {
	read := readFunc(src)
	local := uint64(0)
	// A live packet's order among packets of the same time: its worker,
	// then its place in the worker's socket (see doc.go).
	base := uint64(t.log.worker) << 44
	var nextTick time.Time
	defer func() {
		if ferr := t.Flush(); err == nil {
			err = ferr
		}
		t.log.ship(math.MaxInt64, true)
		t.publish()
	}()
	for !stopped.Load() {
		data, ci, rerr := read()
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			if opt.IsTimeout != nil && opt.IsTimeout(rerr) {
				if opt.Live {
					if err := t.tick(opt); err != nil {
						return err
					}
				}
				continue
			}
			if stopped.Load() {
				return nil
			}
			return rerr
		}
		t.seq = base | local
		local++
		if err := t.Packet(data, Microseconds(ci.Timestamp.UnixNano()), dec); err != nil {
			return err
		}
		t.log.keepPacket(t, data, ci.Length)
		// Live, the clock is read on every packet, as Table.Run does: a
		// quiet link must not hold rows back until a batch fills.
		if opt.Live {
			if now := time.Now(); now.After(nextTick) {
				nextTick = now.Add(opt.Tick)
				if err := t.tick(opt); err != nil {
					return err
				}
				continue
			}
		}
		if t.log.full() {
			t.log.ship(t.now, false)
		}
		if local&4095 == 0 {
			t.publish()
		}
	}
	return nil
}

// tick expires sessions by the wall clock less the grace period, as
// Table.Run does live, and tells the context stage that this worker will
// send nothing older.
func (t *Table) tick(opt RunOptions) error {
	at := time.Now().Add(-opt.Grace).UnixNano()
	if err := t.Advance(at); err != nil {
		return err
	}
	t.log.ship(max(t.now, at), false)
	t.publish()
	return nil
}

// packetBatch is a round of packets the reader dealt to one worker.
type packetBatch struct {
	data  []byte
	pkts  []dealtPacket
	clock int64 // the reader's packet time after the round: later packets are no older
	final bool
	sync  *roundSync // the reader waits for this round's rows
}

type dealtPacket struct {
	off, n int32
	length int32 // the packet's length on the wire
	ts     int64
	seq    uint64
}

// dealRound is how many packets the reader deals before every worker gets
// its share and the reader's clock.
const dealRound = 1024

// split reads one source and deals its packets to the workers.
func (g *Group) split(src gopacket.PacketDataSource, opt RunOptions, stopped *atomic.Bool, quit <-chan struct{}, feeds []chan *packetBatch, free chan *packetBatch) error {
	n := len(feeds)
	read := readFunc(src)
	cur := make([]*packetBatch, n)
	get := func() *packetBatch {
		select {
		case b := <-free:
			b.data, b.pkts, b.final, b.sync = b.data[:0], b.pkts[:0], false, nil
			return b
		default:
			return &packetBatch{}
		}
	}
	for w := range cur {
		cur[w] = get()
	}
	now := int64(math.MinInt64)
	deal := func(final bool, sync *roundSync) {
		for w := range cur {
			cur[w].clock, cur[w].final, cur[w].sync = now, final, sync
			feeds[w] <- cur[w]
			if !final {
				cur[w] = get()
			}
		}
	}
	g.flushRound = func() error {
		sync := &roundSync{done: make(chan struct{})}
		sync.left.Store(int32(n))
		deal(false, sync)
		select {
		case <-sync.done:
		case <-quit:
		}
		return nil
	}
	defer func() { g.flushRound = nil }()
	var seq uint64
	var readErr error
	for !stopped.Load() {
		data, ci, err := read()
		if err != nil {
			if err != io.EOF && !stopped.Load() {
				readErr = err
			}
			break
		}
		ts := Microseconds(ci.Timestamp.UnixNano())
		if ts < now {
			// The single table's rule (Table.Packet), applied here once for
			// all workers so that each sees what that table would.
			g.readerOutOfOrder.Add(1)
			ts = now
		}
		now = ts
		b := cur[opt.Split(data)%uint32(n)]
		b.pkts = append(b.pkts, dealtPacket{off: int32(len(b.data)), n: int32(len(data)), length: int32(ci.Length), ts: ts, seq: seq})
		b.data = append(b.data, data...)
		seq++
		if seq%dealRound == 0 {
			deal(false, nil)
		}
	}
	deal(true, nil)
	for _, f := range feeds {
		close(f)
	}
	return readErr
}

// workFed is one worker taking its rounds from the reader.
func (t *Table) workFed(feed <-chan *packetBatch, free chan<- *packetBatch, dec *Decoder) (err error) {
	defer func() {
		for range feed { // a failed worker still lets the reader finish
		}
		if ferr := t.Flush(); err == nil {
			err = ferr
		}
		t.log.ship(math.MaxInt64, true)
		t.publish()
	}()
	for b := range feed {
		for i := range b.pkts {
			p := &b.pkts[i]
			data := b.data[p.off : p.off+p.n]
			t.seq = p.seq
			if err := t.Packet(data, p.ts, dec); err != nil {
				return err
			}
			t.log.keepPacket(t, data, int(p.length))
		}
		if b.clock > math.MinInt64 {
			// Every packet up to the reader's clock has been dealt: close
			// what went idle before it, as the single table would have at
			// its next packet.
			if err := t.Advance(b.clock); err != nil {
				return err
			}
		}
		if b.clock > math.MinInt64 || b.sync != nil {
			t.log.b.sync = b.sync
			t.log.ship(b.clock, false)
		}
		t.publish()
		final := b.final
		select {
		case free <- b:
		default:
		}
		if final {
			return nil
		}
	}
	return nil
}

func readFunc(src gopacket.PacketDataSource) func() ([]byte, gopacket.CaptureInfo, error) {
	if zc, ok := src.(gopacket.ZeroCopyPacketDataSource); ok {
		return zc.ZeroCopyReadPacketData
	}
	return src.ReadPacketData
}

// Event kinds a worker logs for the context stage.
const (
	evEvict  uint8 = iota // a session written early: the table was full
	evOpen                // a session opened: its initiator's contact
	evAnswer              // a session's first answer other than RST
	evKeep                // a packet to save (Config.Keep)
	evClose               // a session written at its close time
)

// event is one thing that happened in a worker, at packet time t. Events
// apply in (t, order) order. order puts, among events of the same time,
// packet events (by the packet's order, then kind) before closes (short
// sessions first, then by the order of their last packet): the order in
// which a single table does them.
type event struct {
	t            int64
	order        uint64
	kind         uint8
	ttl          uint8
	sport, dport uint16
	slot         uint32
	ref          int32 // evClose, evEvict: index in closed; evKeep: in kept
	src, dst     [16]byte
}

const closeOrder = 1 << 63

// packetOrder is the order of an event of the given kind that the packet
// of order seq caused.
func packetOrder(seq uint64, kind uint8) uint64 { return seq<<2 | uint64(kind) }

func (e *event) before(o *event) bool {
	return e.t < o.t || e.t == o.t && e.order < o.order
}

// eventBatch carries a worker's events to the context stage.
type eventBatch struct {
	worker int
	events []event
	closed []session // the sessions written, without their list links
	data   []byte    // the packets to save
	kept   []keptPacket
	clock  int64 // every later event of this worker has t ≥ clock
	final  bool
	sync   *roundSync // passed on from the reader's round
}

type keptPacket struct{ off, n, length int }

// eventLog is a worker's side of the context stage.
type eventLog struct {
	worker        int
	keep, keepAll bool
	b             *eventBatch
	out           chan<- *eventBatch
	free          chan *eventBatch
	clock         int64
}

func (l *eventLog) newBatch() *eventBatch {
	select {
	case b := <-l.free:
		return b
	default:
		return &eventBatch{events: make([]event, 0, 512)}
	}
}

func (l *eventLog) full() bool { return len(l.b.events) >= 512 || len(l.b.data) >= 256<<10 }

func (l *eventLog) open(t *Table, s *session, p *tcpPacket) {
	l.b.events = append(l.b.events, event{t: p.ts, order: packetOrder(t.seq, evOpen), kind: evOpen, slot: s.slot,
		src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, ttl: p.ttl})
}

func (l *eventLog) answer(t *Table, s *session, ts int64) {
	l.b.events = append(l.b.events, event{t: ts, order: packetOrder(t.seq, evAnswer), kind: evAnswer, slot: s.slot})
}

func (l *eventLog) close(t *Table, s *session, evicted bool) {
	rec := *s
	rec.prev, rec.next = nil, nil
	e := event{kind: evClose, slot: s.slot, ref: int32(len(l.b.closed))}
	if evicted {
		e.kind, e.t, e.order = evEvict, t.now, packetOrder(t.seq, evEvict)
	} else {
		e.t, e.order = t.deadline(s), closeOrder|uint64(b2i(s.long))<<62|s.lastSeq<<2
	}
	l.b.closed = append(l.b.closed, rec)
	l.b.events = append(l.b.events, e)
}

// keepPacket logs the packet just read for saving, if Config.Keep wants it.
func (l *eventLog) keepPacket(t *Table, data []byte, length int) {
	if !l.keep || !l.keepAll && !t.kept {
		return
	}
	l.b.kept = append(l.b.kept, keptPacket{off: len(l.b.data), n: len(data), length: length})
	l.b.data = append(l.b.data, data...)
	l.b.events = append(l.b.events, event{t: t.now, order: packetOrder(t.seq, evKeep), kind: evKeep, ref: int32(len(l.b.kept) - 1)})
}

// ship sends the batch with the worker's clock: it promises that every
// event it logs from now on has t ≥ clock.
func (l *eventLog) ship(clock int64, final bool) {
	l.clock = max(l.clock, clock)
	b := l.b
	b.worker, b.clock, b.final = l.worker, l.clock, final
	l.out <- b
	l.b = l.newBatch()
}

// merger is the context stage: it applies the workers' events in (t,
// order) order to one context table, up to the watermark, and hands each
// closed session with its ctx_* values, in that order, to the goroutine
// that fills and writes rows (write), so that the one goroutine every
// session passes through does nothing but the context.
type merger struct {
	cfg    Config
	ctx    contexts
	idle   [2]int64
	emit   Emit
	rows   chan<- *rowBatch
	cur    *rowBatch
	spare  chan *rowBatch
	queues [][]*eventBatch
	pos    []int // next event in queues[w][0]
	clock  []int64
	final  []bool
	links  [][]ctxLink
	free   chan *eventBatch
	last   event // the last event applied (t and order)
	late   uint64
	err    error

	pubMu sync.Mutex
	pub   ContextStats
}

func newMerger(n int, cfg Config, emit Emit) *merger {
	t := NewTable(cfg, nil) // for the defaults
	m := &merger{cfg: t.cfg, idle: t.idle, emit: emit, queues: make([][]*eventBatch, n), pos: make([]int, n),
		clock: make([]int64, n), final: make([]bool, n), links: make([][]ctxLink, n), free: make(chan *eventBatch, 64*n),
		spare: make(chan *rowBatch, 8), cur: &rowBatch{}}
	m.ctx.init(int64(t.cfg.ContextWindow))
	m.last.t = math.MinInt64
	for w := range m.clock {
		m.clock[w] = math.MinInt64
	}
	return m
}

func (m *merger) run(in <-chan *eventBatch, stop func()) error {
	for b := range in {
		w := b.worker
		m.queues[w] = append(m.queues[w], b)
		m.clock[w] = max(m.clock[w], b.clock)
		m.final[w] = m.final[w] || b.final
		sync := b.sync // drain may recycle b
		m.drain(m.watermark())
		if m.err != nil {
			stop()
		}
		if sync != nil && sync.left.Add(-1) == 0 {
			// Every worker has sent its events up to the reader's clock and
			// drain shipped the rows they close: the writer signals after
			// them.
			m.rows <- &rowBatch{sync: sync}
		}
	}
	m.drain(math.MaxInt64)
	close(m.rows)
	return m.err
}

// rowBatch is closed sessions with their context, in the order their rows
// are written.
type rowBatch struct {
	sessions []session
	ctx      []values
	sync     *roundSync // closed once the rows before it are emitted
}

// ship hands the closed sessions so far to write.
func (m *merger) ship() {
	if len(m.cur.sessions) == 0 {
		return
	}
	m.rows <- m.cur
	select {
	case m.cur = <-m.spare:
		m.cur.sessions, m.cur.ctx, m.cur.sync = m.cur.sessions[:0], m.cur.ctx[:0], nil
	default:
		m.cur = &rowBatch{}
	}
}

// write fills and emits the rows of the batches the merger ships. After
// an error of emit (a closed pipe) it stops the run and only drains.
func (m *merger) write(rows <-chan *rowBatch, stop func()) error {
	var r row.Row
	var err error
	for b := range rows {
		for i := 0; i < len(b.sessions) && err == nil; i++ {
			fillSession(&r, &b.sessions[i])
			setContext(&r, b.ctx[i])
			if err = m.emit(&r); err != nil {
				stop()
			}
		}
		if b.sync != nil {
			close(b.sync.done)
		}
		select {
		case m.spare <- b:
		default:
		}
	}
	return err
}

// watermark is the least clock of the workers still running: no event
// older than it can still come.
func (m *merger) watermark() int64 {
	wm := int64(math.MaxInt64)
	for w, c := range m.clock {
		if !m.final[w] {
			wm = min(wm, c)
		}
	}
	return wm
}

// drain applies, in order, every queued event older than wm (all of them
// when wm is MaxInt64).
func (m *merger) drain(wm int64) {
	for {
		best := -1
		var head *event
		for w := range m.queues {
			q := m.queues[w]
			for len(q) > 0 && m.pos[w] >= len(q[0].events) {
				m.recycle(q[0])
				q = q[1:]
				m.pos[w] = 0
			}
			m.queues[w] = q
			if len(q) == 0 {
				continue
			}
			if e := &q[0].events[m.pos[w]]; head == nil || e.before(head) {
				best, head = w, e
			}
		}
		if head == nil || wm != math.MaxInt64 && head.t >= wm {
			break
		}
		m.apply(best, head, m.queues[best][0])
		m.pos[best]++
	}
	// Every drain ends with its rows on their way: live, a row leaves as
	// soon as the watermark passes its close.
	m.ship()
	m.pubMu.Lock()
	m.pub = ContextStats{Late: m.late, Initiators: len(m.ctx.m)}
	m.pubMu.Unlock()
}

func (m *merger) recycle(b *eventBatch) {
	b.events, b.closed, b.data, b.kept, b.final, b.sync = b.events[:0], b.closed[:0], b.data[:0], b.kept[:0], false, nil
	select {
	case m.free <- b:
	default:
	}
}

func (m *merger) link(w int, slot uint32) *ctxLink {
	l := m.links[w]
	if int(slot) >= len(l) {
		l = append(l, make([]ctxLink, int(slot)+1-len(l))...)
		m.links[w] = l
	}
	return &l[slot]
}

func (m *merger) apply(w int, e *event, b *eventBatch) {
	if e.before(&m.last) {
		m.late++
	} else {
		m.last.t, m.last.order = e.t, e.order
	}
	switch e.kind {
	case evOpen:
		m.ctx.sweep(e.t)
		*m.link(w, e.slot) = m.ctx.open(e.t, e.src, e.dst, e.sport, e.dport, e.ttl)
	case evAnswer:
		m.ctx.answered(*m.link(w, e.slot))
	case evKeep:
		if m.err == nil {
			k := b.kept[e.ref]
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, e.t), CaptureLength: k.n, Length: k.length}
			m.err = m.cfg.Keep(b.data[k.off:k.off+k.n], ci)
		}
	case evClose, evEvict:
		s := &b.closed[e.ref]
		*m.link(w, e.slot) = ctxLink{}
		src, dst, sp, dp := initiatorSide(s)
		m.cur.sessions = append(m.cur.sessions, *s)
		m.cur.ctx = append(m.cur.ctx, m.ctx.of(src, dst, sp, dp, s.first, s.last+m.idle[b2i(s.long)]))
		if len(m.cur.sessions) == 512 {
			m.ship()
		}
	}
}

package session

// fanoutRing is the most entries one initiator keeps: fanout saturates there.
// nmap's fastest loopback scans open a few thousand sessions per second.
const fanoutRing = 4096

// maxInitiators bounds the per-initiator state; past it new initiators get
// fanout 0 until the sweep frees room (a random-source flood must not grow
// memory without bound).
const maxInitiators = 65536

type dstKey struct {
	ip   [16]byte
	port uint16
}

type fanEntry struct {
	ts  int64
	dst dstKey
	ok  bool
}

// initiator is one source's recent session openings, oldest first, in a
// ring of entries [head, tail) by sequence number.
type initiator struct {
	ring       []fanEntry
	head, tail uint64
	okCount    int
	distinct   map[dstKey]int32
}

type fanout struct {
	window    int64
	m         map[[16]byte]*initiator
	lastSweep int64
}

func (f *fanout) init(window int64) {
	f.window = window
	f.m = map[[16]byte]*initiator{}
}

func (it *initiator) at(seq uint64) *fanEntry { return &it.ring[seq%uint64(len(it.ring))] }

func (it *initiator) popOldest() {
	e := it.at(it.head)
	if e.ok {
		it.okCount--
	}
	if c := it.distinct[e.dst] - 1; c > 0 {
		it.distinct[e.dst] = c
	} else {
		delete(it.distinct, e.dst)
	}
	it.head++
}

func (it *initiator) prune(now, window int64) {
	for it.head < it.tail && now-it.at(it.head).ts > window {
		it.popOldest()
	}
}

// open records session s, started by packet p, and sets its fanout fields
// from the initiator's openings in the preceding window.
func (f *fanout) open(s *session, p *tcpPacket) {
	it := f.m[p.src]
	if it == nil {
		if len(f.m) >= maxInitiators {
			return
		}
		it = &initiator{ring: make([]fanEntry, 8), distinct: map[dstKey]int32{}}
		f.m[p.src] = it
	}
	it.prune(p.ts, f.window)
	if n := it.tail - it.head; n > 0 {
		s.fanout = int32(len(it.distinct))
		s.fanoutFailed = float64(int(n)-it.okCount) / float64(n)
	}
	n := int(it.tail - it.head)
	if n == len(it.ring) {
		if n >= fanoutRing {
			it.popOldest()
		} else {
			grown := make([]fanEntry, 2*len(it.ring))
			for seq := it.head; seq < it.tail; seq++ {
				grown[seq%uint64(len(grown))] = *it.at(seq)
			}
			it.ring = grown
		}
	}
	d := dstKey{ip: p.dst, port: p.dport}
	*it.at(it.tail) = fanEntry{ts: p.ts, dst: d}
	it.distinct[d]++
	s.fan, s.fanSeq = it, it.tail
	it.tail++
}

// answered credits s's entry, if still in its initiator's window.
func (f *fanout) answered(s *session) {
	it := s.fan
	if it == nil || s.fanSeq < it.head {
		return
	}
	if e := it.at(s.fanSeq); !e.ok {
		e.ok = true
		it.okCount++
	}
}

// sweep drops initiators idle for a whole window, once per window.
func (f *fanout) sweep(now int64) {
	if now-f.lastSweep < f.window {
		return
	}
	f.lastSweep = now
	for ip, it := range f.m {
		it.prune(now, f.window)
		if it.head == it.tail {
			delete(f.m, ip)
		}
	}
}

package session

import "time"

// The initiator's context (the ctx_* columns): its first contacts, that is
// the distinct (dst_ip, dst_port) it opened sessions to within the context
// window, each with whether it was ever answered by anything but RST.
//
// Why first contacts and not sessions: a scanner that is also a busy client
// (a curl loop, a keep-alive client) opens many sessions to few services;
// counted per session, its own traffic dilutes its scan to nothing (the
// fanout_failed column this replaces did exactly that). Counted per distinct
// service, the loop is one success beside hundreds of refused ports. This is
// the contact notion of Threshold Random Walk (Jung et al., 2004), taken per
// (host, port) because a port scan probes ports, not only hosts.
//
// The context is taken when a session is written, over the window ending at
// the session's own close time T = last packet + idle window, and with the
// answers seen by then: by T every contact that started before the session
// ended has had at least the idle window to be answered, so a browser's burst
// of connections still in flight does not count as refused. State only ever
// moves on packet time (pruning to T - window is monotone in T, and closes
// happen in the same order live and in a replay), so a replay gives the live
// run's values.

// ctxRing is the most first contacts one initiator keeps: the context
// saturates there. nmap's fastest loopback scans open a few thousand
// sessions per second.
const ctxRing = 4096

// maxInitiators bounds the per-initiator state; past it new initiators get
// an empty context until the sweep frees room (a random-source flood must not
// grow memory without bound).
const maxInitiators = 65536

type pairKey struct {
	ip   [16]byte
	port uint16
}

type contact struct {
	ts    int64
	pair  pairKey
	sport uint16
	ttl   uint8
	ok    bool
}

// initiator is one source's first contacts, oldest first, in a ring of
// entries [head, tail) by sequence number, with counts by dst, port, source
// port and TTL over the same entries.
type initiator struct {
	ring       []contact
	head, tail uint64
	ok         int
	pairs      map[pairKey]uint64 // the pair's entry
	dsts       map[[16]byte]int32
	ports      map[uint16]int32
	sports     map[uint16]int32
	ttls       map[uint8]int32
}

type contexts struct {
	window    int64
	m         map[[16]byte]*initiator
	lastSweep int64
}

func (c *contexts) init(window int64) {
	c.window = window
	c.m = map[[16]byte]*initiator{}
}

func (it *initiator) at(seq uint64) *contact { return &it.ring[seq%uint64(len(it.ring))] }

func dec[K comparable](m map[K]int32, k K) {
	if n := m[k] - 1; n > 0 {
		m[k] = n
	} else {
		delete(m, k)
	}
}

func (it *initiator) popOldest() {
	e := it.at(it.head)
	if e.ok {
		it.ok--
	}
	delete(it.pairs, e.pair)
	dec(it.dsts, e.pair.ip)
	dec(it.ports, e.pair.port)
	dec(it.sports, e.sport)
	dec(it.ttls, e.ttl)
	it.head++
}

// prune drops the contacts that started before from.
func (it *initiator) prune(from int64) {
	for it.head < it.tail && it.at(it.head).ts < from {
		it.popOldest()
	}
}

// ctxLink ties a session to its pair's entry in the initiator's context,
// so that an answer can be credited while the entry is in the window.
type ctxLink struct {
	it  *initiator
	seq uint64
}

// open returns the link of a session that src opened at packet time ts to
// (dst, dport) from sport with TTL ttl, adding the pair's entry if it is a
// first contact within the window.
func (c *contexts) open(ts int64, src, dst [16]byte, sport, dport uint16, ttl uint8) ctxLink {
	it := c.m[src]
	if it == nil {
		if len(c.m) >= maxInitiators {
			return ctxLink{}
		}
		it = &initiator{ring: make([]contact, 8), pairs: map[pairKey]uint64{}, dsts: map[[16]byte]int32{},
			ports: map[uint16]int32{}, sports: map[uint16]int32{}, ttls: map[uint8]int32{}}
		c.m[src] = it
	}
	it.prune(ts - c.window)
	pk := pairKey{ip: dst, port: dport}
	if seq, ok := it.pairs[pk]; ok {
		return ctxLink{it, seq}
	}
	n := int(it.tail - it.head)
	if n == len(it.ring) {
		if n >= ctxRing {
			it.popOldest()
		} else {
			grown := make([]contact, 2*len(it.ring))
			for seq := it.head; seq < it.tail; seq++ {
				grown[seq%uint64(len(grown))] = *it.at(seq)
			}
			it.ring = grown
		}
	}
	*it.at(it.tail) = contact{ts: ts, pair: pk, sport: sport, ttl: ttl}
	it.pairs[pk] = it.tail
	it.dsts[pk.ip]++
	it.ports[pk.port]++
	it.sports[sport]++
	it.ttls[ttl]++
	it.tail++
	return ctxLink{it, it.tail - 1}
}

// answered credits the linked pair, if its entry is still in the window.
func (c *contexts) answered(l ctxLink) {
	it := l.it
	if it == nil || l.seq < it.head || l.seq >= it.tail {
		return
	}
	if e := it.at(l.seq); !e.ok {
		e.ok = true
		it.ok++
	}
}

// values are a session's ctx_* columns.
type values struct {
	pairs, ports, hosts, sport, ttls, burst int
	failed                                  float64
}

// burstSpan is how close to a session's start ctx_burst counts first
// contacts: nmap at its default timings opens dozens of probes within a few
// milliseconds, a client's refused or failed connections come a few a
// second, a browser's page a handful at once.
const burstSpan = int64(500 * time.Millisecond)

// of returns the context of the session from src to (dst, dport) from
// sport, which started at packet time first and is written at t.
func (c *contexts) of(src, dst [16]byte, sport, dport uint16, first, t int64) values {
	it := c.m[src]
	if it == nil {
		return values{}
	}
	it.prune(t - c.window)
	n := int(it.tail - it.head)
	if n == 0 {
		return values{}
	}
	return values{
		pairs:  n,
		failed: float64(n-it.ok) / float64(n),
		ports:  int(it.dsts[dst]),
		hosts:  int(it.ports[dport]),
		sport:  int(it.sports[sport]),
		ttls:   len(it.ttls),
		burst:  int(it.search(first+burstSpan+1) - it.search(first-burstSpan)),
	}
}

// search returns the first sequence number in [head, tail) whose contact
// started at or after ts (tail if none): contacts are in packet-time order.
func (it *initiator) search(ts int64) uint64 {
	lo, hi := it.head, it.tail
	for lo < hi {
		mid := lo + (hi-lo)/2
		if it.at(mid).ts < ts {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// sweep drops initiators with no contact left in the window, once per
// window. It runs on packet time only (never from a live ticker), so that
// live runs and replays prune alike.
func (c *contexts) sweep(now int64) {
	if now-c.lastSweep < c.window {
		return
	}
	c.lastSweep = now
	for ip, it := range c.m {
		it.prune(now - c.window)
		if it.head == it.tail {
			delete(c.m, ip)
		}
	}
}

package session

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
)

// RunOptions tell Run how the source behaves.
type RunOptions struct {
	// Live makes Run also expire idle sessions by the wall clock, so rows
	// leave within about Tick+Grace of their window ending even when no
	// packet arrives. Kernel capture timestamps come from the same clock.
	Live bool
	// Tick is how often live expiry runs (default 25 ms).
	Tick time.Duration
	// Grace is how far behind the wall clock live expiry stays, so that a
	// packet still queued in the kernel cannot arrive for a session already
	// written (default 50 ms). Replay never needs it.
	Grace time.Duration
	// IsTimeout reports a read that returned no packet because the source's
	// poll timeout passed (live sources); Run then just ticks.
	IsTimeout func(error) bool
	// Split names the worker of a packet when a Group deals one source out
	// to several workers (value modulo workers). It must give both
	// directions of a flow the same value.
	Split func(data []byte) uint32
}

func (o RunOptions) withDefaults() RunOptions {
	if o.Tick <= 0 {
		o.Tick = 25 * time.Millisecond
	}
	if o.Grace <= 0 {
		o.Grace = 50 * time.Millisecond
	}
	return o
}

// Run reads packets from src until EOF, an error, or ctx ends, and writes
// every session still open before it returns. On a read error after some
// packets, the complete sessions are written and the error is returned.
func (t *Table) Run(ctx context.Context, src gopacket.PacketDataSource, dec *Decoder, opt RunOptions) error {
	opt = opt.withDefaults()
	var stopped atomic.Bool
	stop := context.AfterFunc(ctx, func() { stopped.Store(true) })
	defer stop()
	defer t.publish()
	read := readFunc(src)
	var nextTick time.Time
	for n := uint(1); !stopped.Load(); n++ {
		data, ci, err := read()
		if err != nil {
			if err == io.EOF {
				break
			}
			if opt.IsTimeout != nil && opt.IsTimeout(err) {
				if opt.Live {
					if err := t.Advance(time.Now().Add(-opt.Grace).UnixNano()); err != nil {
						return err
					}
					t.publish()
				}
				continue
			}
			if stopped.Load() {
				break // the read was interrupted by closing the source
			}
			if ferr := t.Flush(); ferr != nil {
				return ferr
			}
			return err
		}
		ts := Microseconds(ci.Timestamp.UnixNano())
		if err := t.Packet(data, ts, dec); err != nil {
			return err
		}
		if n&4095 == 0 {
			t.publish()
		}
		if t.cfg.Keep != nil && (t.kept || t.cfg.KeepAll) {
			ci.Timestamp = time.Unix(0, ts)
			if err := t.cfg.Keep(data, ci); err != nil {
				return err
			}
		}
		if opt.Live {
			if now := time.Now(); now.After(nextTick) {
				nextTick = now.Add(opt.Tick)
				if err := t.Advance(now.Add(-opt.Grace).UnixNano()); err != nil {
					return err
				}
				t.publish()
			}
		}
	}
	return t.Flush()
}

// Packet decodes one packet captured at ts (Unix ns) and folds it in.
func (t *Table) Packet(data []byte, ts int64, dec *Decoder) error {
	t.stats.Packets++
	t.kept = false
	if ts < t.now {
		// Capture timestamps may step back (clock adjustments, multi-queue
		// NICs); treat such a packet as arriving now so that idle times
		// never go negative.
		t.stats.OutOfOrder++
		ts = t.now
	}
	t.now = ts
	// Every packet moves the clock and closes what went idle before it,
	// TCP or not: a table's open sessions then never end before its clock,
	// which a Group's context stage relies on.
	if err := t.expire(ts); err != nil {
		return err
	}
	res := dec.decode(data, ts)
	switch dec.ipVersion {
	case 4:
		t.stats.IPv4++
	case 6:
		t.stats.IPv6++
	}
	switch res {
	case decodedTCP:
		return t.add(&dec.pkt)
	case decodedOther:
		t.stats.NonTCP++
	default:
		t.stats.Malformed++
	}
	return nil
}

// Microseconds truncates a timestamp (Unix ns) to whole microseconds. All
// times are kept at µs, the resolution of classic pcap files and of the
// rows, so that a live run (whose kernel timestamps have ns) and the replay
// of its pcap give the same rows.
func Microseconds(ns int64) int64 {
	r := ns % 1000
	if r < 0 {
		r += 1000
	}
	return ns - r
}

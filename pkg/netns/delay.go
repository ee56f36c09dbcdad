package netns

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Delay configures the delay line of NewDelayed.
type Delay struct {
	// OneWay is how long each frame is held, per direction; a round trip
	// takes twice as long. 0 with no Jitter makes a plain forwarder: each
	// frame is written as soon as it is read, with no queue.
	OneWay time.Duration
	// Jitter spreads each frame's hold uniformly over
	// [OneWay-Jitter, OneWay+Jitter], clamped at 0; order is kept anyway.
	Jitter time.Duration
	// Seed seeds the jitter draws (one PCG stream per direction).
	Seed uint64
	// QueueLimit is how many frames may wait per direction; frames beyond
	// it are dropped and counted. 0 means DefaultQueueLimit.
	QueueLimit int
}

// DefaultQueueLimit is the per-direction queue of a Delay with QueueLimit 0.
const DefaultQueueLimit = 100000

// TAPQueue is the transmit queue of NewDelayed's TAP devices, in frames:
// the kernel holds up to this many frames for the line while it is busy,
// and drops the rest (DirStats.TAPDropped). The kernel's default, 500,
// overflows in bursts of TCP slow start at ~100,000 frames/s.
const TAPQueue = 10000

// DelayStats counts what a delay line has done so far.
type DelayStats struct {
	Delay           Delay    // as configured, QueueLimit filled in
	ScannerToTarget DirStats // frames read from the scanner's TAP
	TargetToScanner DirStats // frames read from the target's TAP
}

// DirStats counts one direction of a delay line.
type DirStats struct {
	Frames      uint64        // frames delivered
	Bytes       uint64        // bytes delivered (Ethernet frames, no FCS)
	Dropped     uint64        // frames dropped because the line's queue was full
	TAPDropped  uint64        // frames the kernel dropped because the TAP's queue was full
	WriteErrors uint64        // frames lost because the write to the TAP failed
	ReadErrors  uint64        // failed reads from the TAP (not frames)
	MaxQueue    int           // most frames waiting at once
	MeanLate    time.Duration // mean delivery time after the frame's due time
	MaxLate     time.Duration // worst delivery time after the frame's due time
}

// NewDelayed creates a pair like New, with the same names and addresses,
// but joined by two TAP devices (one in each namespace, distinct MAC
// addresses) and a delay line in this process that holds every frame for
// d.OneWay ± d.Jitter; see the package documentation for its contract.
// Close stops the line. id keeps concurrent pairs apart (0–255).
func NewDelayed(ctx context.Context, id int, d Delay) (*Pair, error) {
	if d.OneWay < 0 || d.Jitter < 0 || d.QueueLimit < 0 {
		return nil, fmt.Errorf("netns: negative delay, jitter or queue limit in %+v", d)
	}
	if id < 0 || id > 255 {
		return nil, fmt.Errorf("netns: pair id %d outside 0–255", id)
	}
	if d.QueueLimit == 0 {
		d.QueueLimit = DefaultQueueLimit
	}
	p := newPair(id)
	if err := p.run(ctx, [][]string{{"netns", "add", p.Scanner}, {"netns", "add", p.Target}}); err != nil {
		p.Close()
		return nil, err
	}
	// Each TAP is made inside its namespace: it never exists out here.
	var fds [2]int
	for i, name := range []string{p.ScannerIf, p.TargetIf} {
		fd, err := openTAP([]string{p.Scanner, p.Target}[i], name)
		if err != nil {
			if i == 1 {
				closeFD(fds[0])
			}
			p.Close()
			return nil, fmt.Errorf("netns: TAP %s: %w", name, err)
		}
		fds[i] = fd
	}
	line, err := startLine(fds, d)
	if err != nil {
		closeFD(fds[0])
		closeFD(fds[1])
		p.Close()
		return nil, err
	}
	p.line = line
	steps := [][]string{
		{"-n", p.Scanner, "link", "set", p.ScannerIf, "address", fmt.Sprintf("02:5c:00:%02x:00:01", id)},
		{"-n", p.Target, "link", "set", p.TargetIf, "address", fmt.Sprintf("02:5c:00:%02x:00:02", id)},
		{"-n", p.Scanner, "link", "set", p.ScannerIf, "txqueuelen", strconv.Itoa(TAPQueue)},
		{"-n", p.Target, "link", "set", p.TargetIf, "txqueuelen", strconv.Itoa(TAPQueue)},
	}
	err = p.run(ctx, steps)
	if err == nil {
		err = line.watch([2]string{p.Scanner, p.Target}, [2]string{p.ScannerIf, p.TargetIf})
	}
	if err == nil {
		err = p.run(ctx, p.addrSteps())
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// DelayStats reports what the delay line has forwarded and dropped so far
// (also after Close), or false for a pair from New.
func (p *Pair) DelayStats() (DelayStats, bool) {
	if p.line == nil {
		return DelayStats{}, false
	}
	return p.line.stats(), true
}

// String sums the line up for logs and manifests.
func (s DelayStats) String() string {
	dir := func(d DirStats) string {
		return fmt.Sprintf("%d frames, %d dropped (queue), %d dropped (TAP), mean late %s, max late %s",
			d.Frames, d.Dropped, d.TAPDropped, d.MeanLate.Round(time.Microsecond), d.MaxLate.Round(time.Microsecond))
	}
	return fmt.Sprintf("one way %s ± %s; scanner → target: %s; target → scanner: %s",
		s.Delay.OneWay, s.Delay.Jitter, dir(s.ScannerToTarget), dir(s.TargetToScanner))
}

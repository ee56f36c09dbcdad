package netns

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// openTAP creates TAP device name inside namespace ns, without packet
// information headers, and returns its non-blocking file descriptor. The
// device never exists anywhere else, and goes away when the descriptor is
// closed.
func openTAP(ns, name string) (fd int, err error) {
	err = Do(ns, func() error {
		// A tun descriptor makes its device in the namespace it was opened in.
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, err
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		// IFF_TUN_EXCL: fail rather than attach to a device of that name.
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_TUN_EXCL)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF: %w", err)
	}
	return fd, nil
}

func closeFD(fd int) { unix.Close(fd) }

// maxFrame is the read buffer: TAP frames without offloads are at most
// MTU+14 bytes, but a raised MTU must not truncate them.
const maxFrame = 65536 + 64

// smallFrame is the size of pooled frame buffers; larger frames get their own.
const smallFrame = 2048

// frame is one Ethernet frame waiting in the line.
type frame struct {
	b   []byte
	due time.Time
}

var framePool = sync.Pool{New: func() any { return &frame{b: make([]byte, 0, smallFrame)} }}

// delayLine copies frames between fds[0] (scanner side) and fds[1] (target
// side). Each direction has a reader goroutine, which stamps each frame
// with its due time as it reads it and queues it, and a writer goroutine,
// which sleeps until the due time of the frame at the head of the queue and
// writes it. Due times never decrease within a direction, so the queue is
// FIFO and so is delivery. With nothing to hold (direct) the readers write
// each frame themselves and there are no queues or writers.
type delayLine struct {
	cfg  Delay
	fds  [2]int
	stop int // eventfd, readable once close has begun
	done chan struct{}
	quit atomic.Bool
	wg   sync.WaitGroup
	dirs [2]*lineDir

	closeOnce sync.Once
	closeErr  error

	// TAP drop counters, read from each namespace's /proc/net/dev.
	devMu    sync.Mutex
	devs     [2]string
	netdev   [2]*os.File // nil until watch, and after close
	devDrops [2]uint64   // last values read
}

// lineDir is one direction: frames read from in are written to out.
type lineDir struct {
	in, out int
	q       chan *frame
	rng     *rand.Rand // reader goroutine only
	lastDue time.Time  // reader goroutine only

	frames, bytes, dropped, writeErrs, readErrs atomic.Uint64
	lateSum, lateMax, maxQueue                  atomic.Int64
}

// startLine starts the line on two open, non-blocking, frame-per-read file
// descriptors. It owns them from then on: close closes them.
func startLine(fds [2]int, d Delay) (*delayLine, error) {
	stop, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netns: eventfd: %w", err)
	}
	l := &delayLine{cfg: d, fds: fds, stop: stop, done: make(chan struct{})}
	for i := range l.dirs {
		l.dirs[i] = &lineDir{in: fds[i], out: fds[1-i], rng: rand.New(rand.NewPCG(d.Seed, uint64(i)+1))}
		if !l.direct() {
			l.dirs[i].q = make(chan *frame, d.QueueLimit)
		}
	}
	for _, dir := range l.dirs {
		l.wg.Add(1)
		go l.read(dir)
		if !l.direct() {
			l.wg.Add(1)
			go l.write(dir)
		}
	}
	return l, nil
}

// close stops the goroutines, waits for them and closes the descriptors.
func (l *delayLine) close() error {
	l.closeOnce.Do(func() {
		l.quit.Store(true)
		close(l.done)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		if _, err := unix.Write(l.stop, one[:]); err != nil {
			l.closeErr = fmt.Errorf("netns: stopping the delay line: %w", err)
		}
		l.wg.Wait()
		l.devMu.Lock()
		for i, f := range l.netdev {
			if f != nil {
				l.readDrops(i) // the last count, before the TAP goes
				f.Close()
				l.netdev[i] = nil // it holds the namespace alive
			}
		}
		l.devMu.Unlock()
		for _, fd := range append(l.fds[:], l.stop) {
			if err := unix.Close(fd); err != nil && l.closeErr == nil {
				l.closeErr = fmt.Errorf("netns: closing the delay line: %w", err)
			}
		}
	})
	return l.closeErr
}

// watch opens /proc/net/dev inside the namespaces of the two TAP
// devices, so that stats can report the frames the kernel dropped at them.
func (l *delayLine) watch(ns, devs [2]string) error {
	l.devMu.Lock()
	defer l.devMu.Unlock()
	l.devs = devs
	for i := range ns {
		var f *os.File
		err := Do(ns[i], func() (err error) { f, err = os.Open("/proc/thread-self/net/dev"); return err })
		if err != nil {
			return fmt.Errorf("netns: /proc/net/dev of %s: %w", ns[i], err)
		}
		l.netdev[i] = f
	}
	return nil
}

// readDrops updates devDrops[i] from the transmit drop counter of TAP i:
// frames the kernel had for the line but could not queue. devMu is held.
func (l *delayLine) readDrops(i int) {
	b := make([]byte, 0, 4096)
	for {
		n, err := l.netdev[i].ReadAt(b[len(b):cap(b)], int64(len(b)))
		b = b[:len(b)+n]
		if err != nil {
			break
		}
		b = slices.Grow(b, 4096)
	}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != l.devs[i] {
			continue
		}
		// receive: bytes packets errs drop fifo frame compressed multicast,
		// then transmit: bytes packets errs drop ...
		if f := strings.Fields(rest); len(f) > 11 {
			if v, err := strconv.ParseUint(f[11], 10, 64); err == nil {
				l.devDrops[i] = v
			}
		}
	}
}

// direct reports whether frames are held at all: without OneWay or
// Jitter each reader writes its frames itself and there are no writers
// and no queues.
func (l *delayLine) direct() bool { return l.cfg.OneWay == 0 && l.cfg.Jitter == 0 }

// hold draws the hold time of the next frame.
func (l *delayLine) hold(d *lineDir) time.Duration {
	h := l.cfg.OneWay
	if j := l.cfg.Jitter; j > 0 {
		h += time.Duration(d.rng.Int64N(2*int64(j)+1)) - j
	}
	return max(h, 0)
}

// read reads frames until close, stamps them and queues them.
func (l *delayLine) read(d *lineDir) {
	defer l.wg.Done()
	buf := make([]byte, maxFrame)
	pfd := []unix.PollFd{{Fd: int32(d.in), Events: unix.POLLIN}, {Fd: int32(l.stop), Events: unix.POLLIN}}
	out := []unix.PollFd{{Fd: int32(d.out), Events: unix.POLLOUT}, {Fd: int32(l.stop), Events: unix.POLLIN}}
	for !l.quit.Load() {
		n, err := unix.Read(d.in, buf)
		switch {
		case err == unix.EAGAIN:
			if !l.wait(pfd, -1) {
				return
			}
			continue
		case err == unix.EINTR:
			continue
		case err != nil || n <= 0:
			// Not expected from a TAP; do not spin on it.
			d.readErrs.Add(1)
			if !l.wait(pfd[1:], 10) {
				return
			}
			continue
		}
		now := time.Now()
		due := now.Add(l.hold(d))
		if due.Before(d.lastDue) {
			due = d.lastDue // FIFO: never ahead of the previous frame
		}
		d.lastDue = due
		var f *frame
		if n <= smallFrame {
			f = framePool.Get().(*frame)
			f.b = append(f.b[:0], buf[:n]...)
		} else {
			f = &frame{b: append([]byte(nil), buf[:n]...)}
		}
		f.due = due
		if l.direct() {
			// Nothing to hold: write it now, from here, and save the
			// handoff to a writer thread (a few tens of µs).
			if !l.put(d, f, out) {
				return
			}
			putFrame(f)
			continue
		}
		select {
		case d.q <- f:
			if q := int64(len(d.q)); q > d.maxQueue.Load() {
				d.maxQueue.Store(q) // only this goroutine stores
			}
		default:
			d.dropped.Add(1)
			putFrame(f)
		}
	}
}

// wait polls pfd (whose last entry is the stop eventfd) for up to ms
// milliseconds (-1: no limit). It reports false once the line is stopping.
func (l *delayLine) wait(pfd []unix.PollFd, ms int) bool {
	for i := range pfd {
		pfd[i].Revents = 0
	}
	_, err := unix.Poll(pfd, ms)
	if err != nil && err != unix.EINTR {
		// Poll on two valid descriptors does not fail; back off anyway.
		time.Sleep(time.Millisecond)
	}
	return pfd[len(pfd)-1].Revents == 0 && !l.quit.Load()
}

// write delivers queued frames at their due times, until close.
func (l *delayLine) write(d *lineDir) {
	defer l.wg.Done()
	lineThread()
	pfd := []unix.PollFd{{Fd: int32(d.out), Events: unix.POLLOUT}, {Fd: int32(l.stop), Events: unix.POLLIN}}
	for {
		var f *frame
		select {
		case f = <-d.q:
		case <-l.done:
			return
		}
		if !l.sleepUntil(f.due) {
			return
		}
		if !l.put(d, f, pfd) {
			return
		}
		putFrame(f)
	}
}

// sleepUntil sleeps until t in steps of at most 5 ms, so that close is
// not held up. It uses nanosleep rather than a Go timer: the runtime's
// timers may fire up to a millisecond late, nanosleep tens of microseconds.
func (l *delayLine) sleepUntil(t time.Time) bool {
	for {
		if l.quit.Load() {
			return false
		}
		r := time.Until(t)
		if r <= 0 {
			return true
		}
		ts := unix.NsecToTimespec(int64(min(r, 5*time.Millisecond)))
		unix.Nanosleep(&ts, nil) // EINTR: the loop works out the rest
	}
}

// put writes one frame to d.out. A TAP accepts every write at once; if one
// would block all the same, put waits for room up to a second.
// It reports false once the line is stopping.
func (l *delayLine) put(d *lineDir, f *frame, pfd []unix.PollFd) bool {
	now := time.Now()
	late, deadline := max(int64(now.Sub(f.due)), 0), now.Add(time.Second)
	for {
		_, err := unix.Write(d.out, f.b)
		switch {
		case err == nil:
			d.frames.Add(1)
			d.bytes.Add(uint64(len(f.b)))
			d.lateSum.Add(late)
			if late > d.lateMax.Load() {
				d.lateMax.Store(late) // only this goroutine stores
			}
			return true
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && time.Now().Before(deadline):
			if !l.wait(pfd, 100) {
				return false
			}
			continue
		}
		d.writeErrs.Add(1)
		return !l.quit.Load()
	}
}

func putFrame(f *frame) {
	if cap(f.b) == smallFrame {
		f.b = f.b[:0]
		framePool.Put(f)
	}
}

func (l *delayLine) stats() DelayStats {
	s := DelayStats{Delay: l.cfg}
	l.devMu.Lock()
	for i, f := range l.netdev {
		if f != nil {
			l.readDrops(i)
		}
	}
	drops := l.devDrops
	l.devMu.Unlock()
	for i, out := range []*DirStats{&s.ScannerToTarget, &s.TargetToScanner} {
		d := l.dirs[i]
		*out = DirStats{
			Frames: d.frames.Load(), Bytes: d.bytes.Load(), Dropped: d.dropped.Load(),
			WriteErrors: d.writeErrs.Load(), ReadErrors: d.readErrs.Load(),
			MaxQueue: int(d.maxQueue.Load()), MaxLate: time.Duration(d.lateMax.Load()),
			TAPDropped: drops[i],
		}
		if out.Frames > 0 {
			out.MeanLate = time.Duration(d.lateSum.Load() / int64(out.Frames))
		}
	}
	return s
}

// lineThread gives the calling goroutine a thread of its own with a 1 µs
// timer slack (instead of 50 µs), for nanosleep. The goroutine never
// unlocks the thread, so the thread dies with it and the slack stays
// private.
func lineThread() {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
}

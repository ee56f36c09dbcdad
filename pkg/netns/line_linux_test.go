package netns

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests run the delay line on Unix socket pairs instead of TAP
// devices (both deliver one frame per read), so they need no root and no
// network at all.

// testLine starts a line whose scanner side is fed through s and whose
// target side comes out at t (and the other way round).
func testLine(t *testing.T, d Delay) (l *delayLine, s, tg int) {
	t.Helper()
	if d.QueueLimit == 0 {
		d.QueueLimit = DefaultQueueLimit
	}
	var inner [2]int
	var outer [2]int
	for i := range 2 {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.SetNonblock(fds[1], true); err != nil {
			t.Fatal(err)
		}
		// The test's end: reads give up after 2 s rather than hang.
		tv := unix.Timeval{Sec: 2}
		if err := unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(err)
		}
		outer[i], inner[i] = fds[0], fds[1]
		t.Cleanup(func() { unix.Close(fds[0]) })
	}
	l, err := startLine(inner, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.close() })
	return l, outer[0], outer[1]
}

type arrival struct {
	seq uint64
	at  time.Time
}

// receive reads n frames (or until a read times out) from fd.
func receive(fd, n int) <-chan []arrival {
	ch := make(chan []arrival, 1)
	go func() {
		var got []arrival
		buf := make([]byte, 4096)
		for len(got) < n {
			m, err := unix.Read(fd, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil || m < 8 {
				break
			}
			got = append(got, arrival{binary.BigEndian.Uint64(buf), time.Now()})
		}
		ch <- got
	}()
	return ch
}

// send writes n frames of size bytes numbered 0..n-1, gap apart, and
// returns when each was written.
func send(t *testing.T, fd, n, size int, gap time.Duration) []time.Time {
	t.Helper()
	sent := make([]time.Time, n)
	b := make([]byte, size)
	for i := range n {
		binary.BigEndian.PutUint64(b, uint64(i))
		sent[i] = time.Now()
		if _, err := unix.Write(fd, b); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	return sent
}

func TestLineHoldsEachFrameItsDrawnTime(t *testing.T) {
	d := Delay{OneWay: 4 * time.Millisecond, Jitter: 3 * time.Millisecond, Seed: 7}
	_, s, tg := testLine(t, d)
	const n = 60
	// Frames 15 ms apart: no frame's draw ever puts it behind the previous
	// one, so each is held exactly its own draw, which we can replay.
	ch := receive(tg, n)
	sent := send(t, s, n, 100, 15*time.Millisecond)
	got := <-ch
	if len(got) != n {
		t.Fatalf("%d of %d frames arrived", len(got), n)
	}
	rng := rand.New(rand.NewPCG(d.Seed, 1))
	var lo, hi time.Duration = time.Hour, 0
	late := 0
	for i, a := range got {
		if a.seq != uint64(i) {
			t.Fatalf("frame %d arrived as number %d", i, a.seq)
		}
		want := d.OneWay + time.Duration(rng.Int64N(2*int64(d.Jitter)+1)) - d.Jitter
		took := a.at.Sub(sent[i])
		if took < want {
			t.Errorf("frame %d held %v, drew %v", i, took, want)
		}
		if took > want+2*time.Millisecond {
			late++
		}
		lo, hi = min(lo, took), max(hi, took)
	}
	// A busy machine may delay a few deliveries; most must be on time.
	if late > n/10 {
		t.Errorf("%d of %d frames more than 2 ms after their draw", late, n)
	}
	if lo > d.OneWay-d.Jitter/2 || hi < d.OneWay+d.Jitter/2 {
		t.Errorf("holds %v..%v do not spread over %v±%v", lo, hi, d.OneWay, d.Jitter)
	}
	t.Logf("holds %v..%v", lo, hi)
}

func TestLineKeepsOrderUnderJitter(t *testing.T) {
	// Jitter far above the frame spacing: every draw would reorder, none may.
	d := Delay{OneWay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 1}
	l, s, tg := testLine(t, d)
	const n = 3000
	for _, dir := range []struct{ in, out int }{{s, tg}, {tg, s}} {
		ch := receive(dir.out, n)
		sent := send(t, dir.in, n, 200, 0)
		got := <-ch
		if len(got) != n {
			t.Fatalf("%d of %d frames arrived", len(got), n)
		}
		for i, a := range got {
			if a.seq != uint64(i) {
				t.Fatalf("frame %d arrived as number %d", i, a.seq)
			}
			if took := a.at.Sub(sent[i]); took < 0 {
				t.Fatalf("frame %d took %v", i, took)
			}
		}
	}
	// The counters move just after each write: the last frame may be read
	// here a moment before it is counted.
	st := l.stats()
	for end := time.Now().Add(time.Second); time.Now().Before(end) &&
		(st.ScannerToTarget.Frames < n || st.TargetToScanner.Frames < n); st = l.stats() {
		time.Sleep(time.Millisecond)
	}
	for _, ds := range []DirStats{st.ScannerToTarget, st.TargetToScanner} {
		if ds.Frames != n || ds.Bytes != n*200 || ds.Dropped != 0 || ds.WriteErrors != 0 {
			t.Errorf("stats %+v, want %d frames of 200 bytes", ds, n)
		}
	}
	t.Logf("%+v", st)
}

func TestLineZeroDelayForwards(t *testing.T) {
	l, s, tg := testLine(t, Delay{})
	const n = 2000
	ch := receive(tg, n)
	start := time.Now()
	send(t, s, n, 1500, 0)
	got := <-ch
	took := time.Since(start)
	if len(got) != n {
		t.Fatalf("%d of %d frames arrived", len(got), n)
	}
	for i, a := range got {
		if a.seq != uint64(i) {
			t.Fatalf("frame %d arrived as number %d", i, a.seq)
		}
	}
	t.Logf("%d frames in %v; %+v", n, took, l.stats().ScannerToTarget)
}

func TestLineDropsBeyondQueueLimit(t *testing.T) {
	l, s, tg := testLine(t, Delay{OneWay: 300 * time.Millisecond, QueueLimit: 10})
	const n = 100
	ch := receive(tg, n)
	send(t, s, n, 64, 0) // far faster than 300 ms
	got := <-ch          // ends at the read timeout: fewer than n arrive
	st := l.stats().ScannerToTarget
	if st.Dropped == 0 || st.Frames+st.Dropped != n || int(st.Frames) != len(got) {
		t.Fatalf("%d arrived, stats %+v: want frames+dropped = %d, some dropped", len(got), st, n)
	}
	if st.MaxQueue > 10 {
		t.Errorf("queue reached %d frames, limit 10", st.MaxQueue)
	}
	for i := 1; i < len(got); i++ {
		if got[i].seq <= got[i-1].seq {
			t.Fatalf("frame %d after frame %d", got[i].seq, got[i-1].seq)
		}
	}
	t.Logf("%d delivered, %d dropped", st.Frames, st.Dropped)
}

func TestLineCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	l, s, _ := testLine(t, Delay{OneWay: time.Minute})
	send(t, s, 50, 64, 0) // still queued when close comes
	time.Sleep(10 * time.Millisecond)
	start := time.Now()
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("close took %v", took)
	}
	if err := l.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	// The line's goroutines have returned when close does; give any other
	// goroutine of the test binary a moment to settle before counting.
	for end := time.Now().Add(time.Second); runtime.NumGoroutine() > before && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	for _, fd := range append(l.fds[:], l.stop) {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("fd %d still open (%v)", fd, err)
		}
	}
}

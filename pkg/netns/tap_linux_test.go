package netns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server listens on addr inside ns and runs handle on each connection
// until the test ends; Cleanup waits for the handlers.
func server(t *testing.T, ns, addr string, handle func(net.Conn)) {
	t.Helper()
	var ln net.Listener
	if err := Do(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// handshakes times n TCP connects from ns to addr, after one untimed
// connect that also resolves the neighbour (ARP or ND).
func handshakes(ns, addr string, n int) (first time.Duration, took []time.Duration, err error) {
	err = Do(ns, func() error {
		for i := range n + 1 {
			start := time.Now()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			d := time.Since(start)
			if err != nil {
				return err
			}
			c.Close()
			if i == 0 {
				first = d
			} else {
				took = append(took, d)
			}
			time.Sleep(20 * time.Millisecond) // connects spaced out, bounded in count
		}
		return nil
	})
	return first, took, err
}

// checkHandshakes wants every handshake to take at least lo: the line
// may be late, never early. It wants most of them under hi, but not all:
// on a small shared machine a busy CPU now and then delays the line's
// threads or the endpoints by several milliseconds. None may take a second
// more (that would be a SYN retransmitted after a lost frame).
func checkHandshakes(t *testing.T, addr string, took []time.Duration, lo, hi time.Duration) {
	t.Helper()
	over := 0
	for _, d := range took {
		switch {
		case d < lo:
			t.Errorf("%s: handshake took %v, less than %v", addr, d, lo)
		case d > lo+900*time.Millisecond:
			t.Errorf("%s: handshake took %v: a frame was lost", addr, d)
		case d > hi:
			over++
		}
	}
	if over > len(took)/5 {
		t.Errorf("%s: %d of %d handshakes over %v: %s", addr, over, len(took), hi, describe(took))
	} else if over > 0 {
		t.Logf("%s: %d of %d handshakes over %v (allowed: up to a fifth)", addr, over, len(took), hi)
	}
}

func describe(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	return fmt.Sprintf("min %s p50 %s p90 %s max %s ms (n=%d)", r(s[0]), r(s[len(s)/2]), r(s[len(s)*9/10]), r(s[len(s)-1]), len(s))
}

func needDelayed(t *testing.T) {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip(why)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("TAP devices need /dev/net/tun")
	}
}

func newDelayed(t *testing.T, ctx context.Context, id int, d Delay) *Pair {
	t.Helper()
	p, err := NewDelayed(ctx, id, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestDelayedHandshakeRTT(t *testing.T) {
	needDelayed(t)
	for i, oneWay := range []time.Duration{0, 500 * time.Microsecond, 10 * time.Millisecond, 75 * time.Millisecond} {
		t.Run(oneWay.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p := newDelayed(t, ctx, 240+i, Delay{OneWay: oneWay})
			for _, target := range []string{p.TargetV4, p.TargetV6} {
				addr := net.JoinHostPort(target, "7")
				server(t, p.Target, addr, func(net.Conn) {})
				n := 20
				if strings.Contains(target, ":") {
					n = 5
				}
				first, took, err := handshakes(p.Scanner, addr, n)
				if err != nil {
					t.Fatal(err)
				}
				rtt := 2 * oneWay
				checkHandshakes(t, addr, took, rtt, rtt+5*time.Millisecond+rtt/2)
				t.Logf("RTT %v, %s: first connect %.2f ms (with neighbour resolution), then %s",
					rtt, addr, float64(first)/1e6, describe(took))
			}
			st, _ := p.DelayStats()
			t.Logf("line: %+v", st)
		})
	}
}

// netstat reads the TCP extension counters of the namespace ns.
func netstat(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	var b []byte
	if err := Do(ns, func() (err error) { b, err = os.ReadFile("/proc/thread-self/net/netstat"); return err }); err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		ks, vs := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := 1; j < len(ks) && j < len(vs); j++ {
			v, _ := strconv.ParseInt(vs[j], 10, 64)
			m[strings.TrimSuffix(ks[0], ":")+ks[j]] = v
		}
	}
	return m
}

func TestDelayedJitterKeepsOrder(t *testing.T) {
	needDelayed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := Delay{OneWay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 42}
	p := newDelayed(t, ctx, 244, d)

	addr := net.JoinHostPort(p.TargetV4, "7")
	server(t, p.Target, addr, func(net.Conn) {})
	_, took, err := handshakes(p.Scanner, addr, 30)
	if err != nil {
		t.Fatal(err)
	}
	checkHandshakes(t, addr, took, 2*(d.OneWay-d.Jitter), 2*(d.OneWay+d.Jitter)+5*time.Millisecond)
	if spread := slices.Max(took) - slices.Min(took); spread < d.Jitter {
		t.Errorf("handshakes spread only %v with ±%v jitter per direction", spread, d.Jitter)
	}
	t.Logf("RTT 20 ms ± 2×5 ms: handshakes %s", describe(took))

	// 1 MB across the jittered line: intact, and the receiving kernel never
	// had to queue a segment out of order (TcpExtTCPOFOQueue).
	const size = 1 << 20
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(data)
	got := make(chan [32]byte, 1)
	sink := net.JoinHostPort(p.TargetV4, "9")
	server(t, p.Target, sink, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		io.Copy(h, io.LimitReader(c, size))
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		got <- sum
	})
	before, sbefore := netstat(t, p.Target), netstat(t, p.Scanner)
	start := time.Now()
	if err := Do(p.Scanner, func() error {
		c, err := net.DialTimeout("tcp", sink, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		_, err = io.Copy(c, bytes.NewReader(data))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if sum := <-got; sum != want {
		t.Fatal("1 MB arrived altered")
	}
	elapsed := time.Since(start)
	after, safter := netstat(t, p.Target), netstat(t, p.Scanner)
	for _, k := range []string{"TcpExtTCPOFOQueue"} {
		if n := after[k] - before[k]; n != 0 {
			t.Errorf("%s: %d segments queued out of order at the receiver", k, n)
		}
	}
	var reorder []string
	for _, k := range []string{"TcpExtTCPSACKReorder", "TcpExtTCPTSReorder", "TcpExtTCPRenoReorder", "TcpExtTCPLostRetransmit", "TcpExtTCPSackRecovery", "TcpExtTCPFastRetrans", "TcpExtTCPTimeouts"} {
		reorder = append(reorder, fmt.Sprintf("%s=%d", strings.TrimPrefix(k, "TcpExt"), safter[k]-sbefore[k]))
	}
	st, _ := p.DelayStats()
	if st.ScannerToTarget.Dropped+st.TargetToScanner.Dropped != 0 {
		t.Errorf("line dropped frames: %+v", st)
	}
	t.Logf("1 MB intact in %v; sender: %s; line: %+v", elapsed, strings.Join(reorder, " "), st)
}

func TestDelayedNmap(t *testing.T) {
	needDelayed(t)
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Skip("needs nmap (apt-get install nmap)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := newDelayed(t, ctx, 245, Delay{OneWay: 10 * time.Millisecond})
	server(t, p.Target, net.JoinHostPort(p.TargetV4, "80"), func(net.Conn) {})
	closed := regexp.MustCompile(`Not shown: 199 closed tcp ports`)
	for _, scan := range []string{"-sS", "-sT"} {
		start := time.Now()
		out, err := Command(ctx, p.Scanner, "nmap", scan, "-Pn", "-n", "-p", "1-200", p.TargetV4).CombinedOutput()
		if err != nil {
			t.Fatalf("nmap %s: %v\n%s", scan, err, out)
		}
		if !strings.Contains(string(out), "80/tcp open") || !closed.Match(out) {
			t.Errorf("nmap %s did not see port 80 open and 199 closed:\n%s", scan, out)
		}
		t.Logf("nmap %s -p 1-200 across RTT 20 ms: %v", scan, time.Since(start).Round(time.Millisecond))
	}
	st, _ := p.DelayStats()
	t.Logf("line: %+v", st)
}

func TestDelayedCloseLeavesNothing(t *testing.T) {
	needDelayed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := runtime.NumGoroutine()
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	fdsBefore := fds()
	p, err := NewDelayed(ctx, 246, Delay{OneWay: 50 * time.Millisecond, Jitter: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := Do(p.Target, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(p.TargetV4, "7"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Close while frames are still in the line: a connect in flight.
	go Do(p.Scanner, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	time.Sleep(30 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, ok := p.DelayStats(); !ok {
		t.Error("no DelayStats after Close")
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), p.Scanner) || strings.Contains(string(out), p.Target) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
	if out, _ := exec.Command("ip", "-o", "link").Output(); strings.Contains(string(out), p.ScannerIf) || strings.Contains(string(out), p.TargetIf) {
		t.Errorf("TAP devices left behind:\n%s", out)
	}
	// The dialing goroutine ends within its 1 s timeout; the line's own
	// goroutines have ended when Close returned.
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	if after := fds(); after > fdsBefore {
		var names []string
		e, _ := os.ReadDir("/proc/self/fd")
		for _, f := range e {
			l, _ := os.Readlink("/proc/self/fd/" + f.Name())
			names = append(names, f.Name()+"→"+l)
		}
		t.Errorf("%d open files before, %d after Close: %v", fdsBefore, after, names)
	}
}

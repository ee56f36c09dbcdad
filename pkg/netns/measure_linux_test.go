package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDelayedMeasure prints the figures behind the delay line's claims:
// handshake RTT distributions, and the frame rates it sustains under an
// nmap -T5 scan and a TCP bulk transfer. It asserts nothing beyond the
// traffic working; run it with SCANWATCH_DELAY_MEASURE=1 (root).
func TestDelayedMeasure(t *testing.T) {
	if os.Getenv("SCANWATCH_DELAY_MEASURE") == "" {
		t.Skip("set SCANWATCH_DELAY_MEASURE=1 to measure the delay line")
	}
	needDelayed(t)
	for i, d := range []Delay{{OneWay: 500 * time.Microsecond}, {OneWay: 10 * time.Millisecond},
		{OneWay: 75 * time.Millisecond}, {OneWay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		p := newDelayed(t, ctx, 230+i, d)
		addr := net.JoinHostPort(p.TargetV4, "7")
		server(t, p.Target, addr, func(net.Conn) {})
		_, took, err := handshakes(p.Scanner, addr, 100)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		st, _ := p.DelayStats()
		t.Logf("%v±%v: handshakes %s; line late mean %v/%v max %v/%v", d.OneWay, d.Jitter, describe(took),
			st.ScannerToTarget.MeanLate, st.TargetToScanner.MeanLate, st.ScannerToTarget.MaxLate, st.TargetToScanner.MaxLate)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newDelayed(t, ctx, 235, Delay{OneWay: 10 * time.Millisecond})
	server(t, p.Target, net.JoinHostPort(p.TargetV4, "80"), func(net.Conn) {})
	rate := func(name string, run func() error) {
		t.Helper()
		before, _ := p.DelayStats()
		var mu sync.Mutex
		peak := 0.0
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			last, _ := p.DelayStats()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				s, _ := p.DelayStats()
				f := float64(s.ScannerToTarget.Frames+s.TargetToScanner.Frames-last.ScannerToTarget.Frames-last.TargetToScanner.Frames) / 0.1
				mu.Lock()
				peak = max(peak, f)
				mu.Unlock()
				last = s
			}
		})
		start := time.Now()
		err := run()
		el := time.Since(start)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		after, _ := p.DelayStats()
		s2t := after.ScannerToTarget.Frames - before.ScannerToTarget.Frames
		t2s := after.TargetToScanner.Frames - before.TargetToScanner.Frames
		t.Logf("%s: %v; frames %d→ %d←, mean %.0f frames/s, peak %.0f frames/s (100 ms windows); "+
			"line drops %d/%d, TAP queue drops %d/%d; since start: max queue %d/%d, late mean %v/%v max %v/%v",
			name, el.Round(time.Millisecond), s2t, t2s, float64(s2t+t2s)/el.Seconds(), peak,
			after.ScannerToTarget.Dropped-before.ScannerToTarget.Dropped, after.TargetToScanner.Dropped-before.TargetToScanner.Dropped,
			after.ScannerToTarget.TAPDropped-before.ScannerToTarget.TAPDropped, after.TargetToScanner.TAPDropped-before.TargetToScanner.TAPDropped, after.ScannerToTarget.MaxQueue, after.TargetToScanner.MaxQueue,
			after.ScannerToTarget.MeanLate, after.TargetToScanner.MeanLate, after.ScannerToTarget.MaxLate, after.TargetToScanner.MaxLate)
	}
	for _, scan := range []string{"-sS", "-sT"} {
		rate("nmap "+scan+" -T5 -p 1-10000", func() error {
			out, err := Command(ctx, p.Scanner, "nmap", scan, "-T5", "-Pn", "-n", "-p", "1-10000", p.TargetV4).CombinedOutput()
			if err == nil && (!strings.Contains(string(out), "80/tcp open") || !strings.Contains(string(out), "Not shown: 9999 closed")) {
				err = fmt.Errorf("unexpected result:\n%s", out)
			}
			return err
		})
	}
	// HTTP: 300 requests/s for 3 s, each on a new connection (the harder
	// case: handshake, request, close), from 32 workers.
	var ln net.Listener
	if err := Do(p.Target, func() (err error) { ln, err = net.Listen("tcp", net.JoinHostPort(p.TargetV4, "8080")); return err }); err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })}
	go hs.Serve(ln)
	defer hs.Close()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = Do(p.Scanner, func() error { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
			return c, err
		}}}
	var lat []time.Duration
	var failed int
	rate("HTTP 300 req/s for 3 s, new connection each", func() error {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		next := make(chan time.Time)
		for range 32 {
			wg.Go(func() {
				for at := range next {
					time.Sleep(time.Until(at))
					t0 := time.Now()
					resp, err := client.Get("http://" + net.JoinHostPort(p.TargetV4, "8080") + "/")
					if err == nil {
						_, err = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					mu.Lock()
					if err != nil {
						failed++
					} else {
						lat = append(lat, time.Since(t0))
					}
					mu.Unlock()
				}
			})
		}
		for i := range 900 {
			next <- start.Add(time.Duration(i) * time.Second / 300)
		}
		close(next)
		wg.Wait()
		return nil
	})
	t.Logf("HTTP: %d ok, %d failed; request times %s", len(lat), failed, describe(lat))

	// Bulk: at most 3 s or 1 GB, whichever ends first.
	sink := net.JoinHostPort(p.TargetV4, "9")
	server(t, p.Target, sink, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
	})
	var sent int64
	rate("TCP bulk 3 s", func() error {
		return Do(p.Scanner, func() error {
			c, err := net.DialTimeout("tcp", sink, 5*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			end := time.Now().Add(3 * time.Second)
			c.SetDeadline(end.Add(5 * time.Second))
			for time.Now().Before(end) && sent < 1<<30 {
				n, err := c.Write(buf)
				sent += int64(n)
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	t.Logf("bulk: %.1f MB sent in 3 s (%.0f Mbit/s)", float64(sent)/1e6, float64(sent)*8/3e6)
}

package session

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
)

// keySplit deals packets by their session key: both directions agree. The
// live split (capture.FlowHash, the kernel's fanout program) is another
// function with the same property; which worker a flow lands on must not
// change any row.
func keySplit(link layers.LinkType) func([]byte) uint32 {
	dec, err := NewDecoder(link)
	if err != nil {
		panic(err)
	}
	return func(data []byte) uint32 {
		if dec.decode(data, 0) != decodedTCP {
			return uint32(len(data))
		}
		k, _ := makeKey(&dec.pkt)
		return uint32(k.hash(7) >> 32)
	}
}

// sessionize runs src through a group of n workers and returns its CSV.
func sessionize(t *testing.T, open func() *capture.Source, n int, cfg Config) (string, Stats) {
	t.Helper()
	src := open()
	defer src.Close()
	var out bytes.Buffer
	w, err := row.NewWriter(&out, "csv", row.SessionSchema(false), row.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGroup(cfg, n, w.Write)
	err = g.Run(context.Background(), []gopacket.PacketDataSource{src}, src.Link, RunOptions{Split: keySplit(src.Link)})
	if err != nil && !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("%d workers: %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := g.Stats()
	return out.String(), st
}

// TestGroupWritesWhatOneTableWrites: on every capture the repository holds
// (real nmap and client traffic, public captures of many link types, IPv6,
// retransmissions, out-of-order stamps), 2 and 3 workers write the same
// rows as one table, byte for byte and in the same order, ctx_* included.
func TestGroupWritesWhatOneTableWrites(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/pcap/*.pcap*")
	more, _ := filepath.Glob("../../datasets/public/*/*.pcap*")
	files = append(files, more...)
	if testing.Short() && len(files) > 6 {
		files = files[:6]
	}
	for _, f := range files {
		if strings.Contains(f, "truncated") {
			continue
		}
		open := func() *capture.Source {
			src, err := capture.OpenFile(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			return src
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, wst := sessionize(t, open, 1, Config{})
			for _, n := range []int{2, 3} {
				got, gst := sessionize(t, open, n, Config{})
				if got != want {
					t.Errorf("%d workers differ from one table:\n%s", n, firstDiff(want, got))
				}
				if gst.Packets != wst.Packets || gst.Sessions != wst.Sessions || gst.TCP != wst.TCP || gst.OutOfOrder != wst.OutOfOrder {
					t.Errorf("%d workers: stats %+v, one table %+v", n, gst, wst)
				}
			}
		})
	}
}

// TestGroupSameMicrosecond: many initiators whose sessions open, answer
// and close in the same microseconds, some with timestamps that step
// back, dealt to workers at random: the rows equal one table's.
func TestGroupSameMicrosecond(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var pkts []pkt
	at := time.Duration(0)
	for i := 0; i < 3000; i++ {
		if rng.IntN(3) == 0 {
			at += time.Duration(rng.IntN(400)) * us
		}
		if rng.IntN(50) == 0 {
			at += 700 * ms
		}
		a := "10.0.0." + string(rune('1'+rng.IntN(4)))
		b := "10.0.1." + string(rune('1'+rng.IntN(4)))
		sp, dp := uint16(40000+rng.IntN(6)), uint16(1+rng.IntN(8))
		back := time.Duration(0)
		if rng.IntN(40) == 0 {
			back = 2 * ms
		}
		switch rng.IntN(4) {
		case 0:
			pkts = append(pkts, pkt{at: at - back, src: a, dst: b, sp: sp, dp: dp, flags: "S", ttl: uint8(30 + rng.IntN(3))})
		case 1:
			pkts = append(pkts, pkt{at: at, src: b, dst: a, sp: dp, dp: sp, flags: "SA"})
		case 2:
			pkts = append(pkts, pkt{at: at, src: b, dst: a, sp: dp, dp: sp, flags: "RA"})
		default:
			pkts = append(pkts, pkt{at: at, src: a, dst: b, sp: sp, dp: dp, flags: "A", payload: 10})
		}
	}
	path := filepath.Join(t.TempDir(), "ties.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := capture.NewCopy(f, 65535, layers.LinkTypeEthernet, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		data := p.bytes(t)
		cp.Write(data, gopacket.CaptureInfo{Timestamp: t0.Add(p.at), CaptureLength: len(data), Length: len(data)})
	}
	cp.Flush()
	f.Close()
	open := func() *capture.Source {
		src, err := capture.OpenFile(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	cfg := Config{ContextWindow: 300 * time.Millisecond}
	want, _ := sessionize(t, open, 1, cfg)
	if strings.Count(want, "\n") < 500 {
		t.Fatalf("only %d rows", strings.Count(want, "\n"))
	}
	for _, n := range []int{2, 4} {
		if got, _ := sessionize(t, open, n, cfg); got != want {
			t.Errorf("%d workers differ from one table:\n%s", n, firstDiff(want, got))
		}
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(wl) && i < len(gl) && wl[i] == gl[i] {
		i++
	}
	return fmt.Sprintf("%d lines against %d; from line %d on:\nwant %q\ngot  %q", len(wl), len(gl), i+1, at(wl, i), at(gl, i))
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

// Command mkpcap writes a large synthetic capture for benchmarks and flood
// tests: it never sends a packet, it only writes a file. Traffic is a mix of
// nmap-like SYN probes (two packets a session) and HTTP-like sessions (ten
// packets), or, with -flood, SYNs from random source ports to one target.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	n := flag.Int("n", 1_000_000, "packets to write")
	out := flag.String("o", "", "output pcap file")
	flood := flag.Bool("flood", false, "random-source-port SYN flood to 198.18.0.2:80 (no replies)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "mkpcap: -o FILE is required")
		os.Exit(2)
	}
	if err := write(*out, *n, *flood, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "mkpcap:", err)
		os.Exit(1)
	}
}

type gen struct {
	w   *pcapgo.Writer
	buf gopacket.SerializeBuffer
	ts  time.Time
	n   int
	max int
}

func (g *gen) packet(src, dst net.IP, sp, dp uint16, flags string, payload int) error {
	if g.n >= g.max {
		return nil
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Window: 1024, Seq: 7}
	for _, c := range flags {
		switch c {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		case 'P':
			tcp.PSH = true
		}
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(g.buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip, tcp, gopacket.Payload(make([]byte, payload))); err != nil {
		return err
	}
	g.ts = g.ts.Add(3 * time.Microsecond)
	g.n++
	data := g.buf.Bytes()
	return g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.ts, CaptureLength: len(data), Length: len(data)}, data)
}

func write(path string, n int, flood bool, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	g := &gen{w: w, buf: gopacket.NewSerializeBuffer(), ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), max: n}
	rng := rand.New(rand.NewPCG(seed, seed))
	target := net.IP{198, 18, 0, 2}
	for g.n < n {
		if flood {
			src := net.IP{198, 18, 1, 1}
			if err := g.packet(src, target, uint16(1024+rng.IntN(64511)), 80, "S", 0); err != nil {
				return err
			}
			continue
		}
		client := net.IP{198, 18, byte(1 + rng.IntN(4)), byte(1 + rng.IntN(250))}
		sp := uint16(1024 + rng.IntN(64511))
		if rng.IntN(2) == 0 { // a SYN probe to a closed port
			dp := uint16(1 + rng.IntN(5000))
			if err := g.packet(client, target, sp, dp, "S", 0); err != nil {
				return err
			}
			if err := g.packet(target, client, dp, sp, "RA", 0); err != nil {
				return err
			}
			continue
		}
		steps := []struct {
			fromClient bool
			flags      string
			payload    int
		}{{true, "S", 0}, {false, "SA", 0}, {true, "A", 0}, {true, "PA", 80}, {false, "A", 0},
			{false, "PA", 1200}, {true, "A", 0}, {true, "FA", 0}, {false, "FA", 0}, {true, "A", 0}}
		for _, s := range steps {
			var err error
			if s.fromClient {
				err = g.packet(client, target, sp, 80, s.flags, s.payload)
			} else {
				err = g.packet(target, client, 80, sp, s.flags, s.payload)
			}
			if err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

package corpus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
	"scanwatch/pkg/session"
	"scanwatch/pkg/truth"
)

// Composition puts a scan into another capture: the scan's packets, shifted
// in time and rewritten so that its scanner is a busy client of the base
// capture, merged in time order with the base's packets. It makes "a scan
// hidden behind a busy host" out of traffic nobody shaped for it.
type Composition struct {
	Base    *Capture
	Scan    *Capture
	Scanner netip.Addr // the scanner in Scan
	Host    netip.Addr // the busy client of Base that takes its place
	At      float64    // where the scan starts, as a fraction of Base's time span
}

type packet struct {
	ts   time.Time
	data []byte // an IP packet
}

// Write writes the composed capture to w as a raw-IP pcap (every link
// layer removed, so that captures of any link type mix) and returns the
// ground truth of the scan in it: the host, the scan's ports and its
// targets (rewritten to addresses of the host's /24 that Base does not
// use, so that the host's own traffic keeps label 0).
func (c Composition) Write(w io.Writer) (truth.Scanner, error) {
	base, err := readIP(c.Base.Path)
	if err != nil {
		return truth.Scanner{}, err
	}
	scan, err := readIP(c.Scan.Path)
	if err != nil {
		return truth.Scanner{}, err
	}
	if len(base) == 0 || len(scan) == 0 {
		return truth.Scanner{}, fmt.Errorf("compose: %s or %s has no IP packets", c.Base.Name, c.Scan.Name)
	}
	used := map[netip.Addr]bool{}
	for _, p := range base {
		if s, d, ok := addrs(p.data); ok {
			used[s], used[d] = true, true
		}
	}
	// Targets of the scan move into the host's /24, beside it.
	targets := map[netip.Addr]netip.Addr{}
	next := c.Host.As4()
	next[3] = 200
	newTarget := func() (netip.Addr, error) {
		for ; next[3] < 255; next[3]++ {
			a := netip.AddrFrom4(next)
			if !used[a] && a != c.Host {
				next[3]++
				return a, nil
			}
		}
		return netip.Addr{}, fmt.Errorf("compose: no free address beside %s", c.Host)
	}
	first, last := base[0].ts, base[0].ts
	for _, p := range base {
		if p.ts.Before(first) {
			first = p.ts
		}
		if p.ts.After(last) {
			last = p.ts
		}
	}
	shift := first.Add(time.Duration(c.At * float64(last.Sub(first)))).Sub(scan[0].ts)
	var out []packet
	var ports []uint16
	seenPort := map[uint16]bool{}
	for _, p := range scan {
		ip4 := &layers.IPv4{}
		tcp := &layers.TCP{}
		var payload gopacket.Payload
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, ip4, tcp, &payload)
		var decoded []gopacket.LayerType
		if err := parser.DecodeLayers(p.data, &decoded); err != nil || len(decoded) < 2 {
			continue // the scan's other packets (ARP, ICMP, IPv6) stay out
		}
		src, _ := netip.AddrFromSlice(ip4.SrcIP)
		dst, _ := netip.AddrFromSlice(ip4.DstIP)
		var target netip.Addr
		switch c.Scanner {
		case src:
			target = dst
		case dst:
			target = src
		default:
			continue // not the scan's traffic
		}
		moved, ok := targets[target]
		if !ok {
			if moved, err = newTarget(); err != nil {
				return truth.Scanner{}, err
			}
			targets[target] = moved
		}
		if src == c.Scanner {
			ip4.SrcIP, ip4.DstIP = c.Host.AsSlice(), moved.AsSlice()
			if !seenPort[uint16(tcp.DstPort)] {
				seenPort[uint16(tcp.DstPort)] = true
				ports = append(ports, uint16(tcp.DstPort))
			}
		} else {
			ip4.SrcIP, ip4.DstIP = moved.AsSlice(), c.Host.AsSlice()
		}
		tcp.SetNetworkLayerForChecksum(ip4)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip4, tcp, payload); err != nil {
			return truth.Scanner{}, fmt.Errorf("compose: %v", err)
		}
		out = append(out, packet{ts: p.ts.Add(shift), data: buf.Bytes()})
	}
	if len(ports) == 0 {
		return truth.Scanner{}, fmt.Errorf("compose: no TCP packet of %s in %s", c.Scanner, c.Scan.Name)
	}
	all := append(base, out...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].ts.Before(all[j].ts) })
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(262144, layers.LinkTypeRaw); err != nil {
		return truth.Scanner{}, err
	}
	for _, p := range all {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data)}
		if err := pw.WritePacket(ci, p.data); err != nil {
			return truth.Scanner{}, err
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	var hosts []string
	for _, a := range targets {
		hosts = append(hosts, a.String())
	}
	sort.Strings(hosts)
	var techs []string
	for _, s := range c.Scan.Scanners {
		if s.Address == c.Scanner.String() {
			techs = s.Techniques
		}
	}
	return truth.Scanner{
		Address: c.Host.String(), Ports: portRanges(ports), Hosts: hosts, Techniques: techs, AlsoClient: true,
		Tool: "composed", Notes: fmt.Sprintf("%s's scan from %s put on %s, a busy client of %s, at %.0f%% of its time span",
			c.Scan.Name, c.Scanner, c.Host, c.Base.Name, 100*c.At),
	}, bw.Flush()
}

// readIP reads a capture's packets without their link layer.
func readIP(path string) ([]packet, error) {
	src, err := capture.OpenFile(path, nil)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out []packet
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		p := gopacket.NewPacket(data, src.Link, gopacket.Default)
		nl := p.NetworkLayer()
		if nl == nil {
			continue
		}
		ip := make([]byte, 0, len(nl.LayerContents())+len(nl.LayerPayload()))
		ip = append(append(ip, nl.LayerContents()...), nl.LayerPayload()...)
		out = append(out, packet{ts: ci.Timestamp, data: ip})
	}
}

func addrs(ip []byte) (src, dst netip.Addr, ok bool) {
	switch {
	case len(ip) >= 20 && ip[0]>>4 == 4:
		return netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), true
	case len(ip) >= 40 && ip[0]>>4 == 6:
		return netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), true
	}
	return src, dst, false
}

// portRanges writes sorted ports as "1-3,8,10-12".
func portRanges(ports []uint16) string {
	s := ""
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		if s != "" {
			s += ","
		}
		if i == j {
			s += fmt.Sprint(ports[i])
		} else {
			s += fmt.Sprintf("%d-%d", ports[i], ports[j])
		}
		i = j + 1
	}
	return s
}

// BusiestClient is the IPv4 initiator with the most sessions in c.
func BusiestClient(ctx context.Context, c *Capture) (netip.Addr, int, error) {
	n := map[netip.Addr]int{}
	err := Rows(ctx, c, session.Config{}, func(r *row.Row, _ int) error {
		if r.SrcIP.Is4() {
			n[r.SrcIP]++
		}
		return nil
	})
	var best netip.Addr
	for a, k := range n {
		if k > n[best] || k == n[best] && a.Less(best) {
			best = a
		}
	}
	return best, n[best], err
}

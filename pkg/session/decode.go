package session

import (
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Decoder is the hot path: a preallocated DecodingLayerParser with a reused
// decoded slice, so that decoding a packet allocates nothing.
type Decoder struct {
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	lo      layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6ext  layers.IPv6ExtensionSkipper
	tcp     layers.TCP
	pkt     tcpPacket
	raw     bool // raw-IP link: IPv6 packets are decoded by hand
	fast    bool // Ethernet link: try fastEthernetIPv4TCP first
	// ipVersion is the IP version of the packet last decoded (4 or 6), or 0
	// when it had no IP header that decoded.
	ipVersion uint8
}

// NewDecoder returns a decoder for captures of the given link type.
func NewDecoder(link layers.LinkType) (*Decoder, error) {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	var first gopacket.LayerType
	switch link {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeLinuxSLL2:
		first = layers.LayerTypeLinuxSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		first = layers.LayerTypeIPv6
	case 12: // DLT_RAW on some systems: IPv4 or IPv6, told apart below
		first = layers.LayerTypeIPv4
	default:
		return nil, &UnsupportedLinkError{Link: link}
	}
	d.parser = gopacket.NewDecodingLayerParser(first)
	// The sparse container indexes decoders by layer type in a slice: no
	// map lookup per layer.
	d.parser.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.lo, &d.ip4, &d.ip6, &d.ip6ext, &d.tcp} {
		d.parser.AddDecodingLayer(l)
	}
	d.parser.IgnoreUnsupported = true
	d.fast = link == layers.LinkTypeEthernet
	d.raw = first == layers.LayerTypeIPv4 && (link == layers.LinkTypeRaw || link == 12)
	return d, nil
}

// UnsupportedLinkError names a capture link type the decoder cannot read.
type UnsupportedLinkError struct{ Link layers.LinkType }

func (e *UnsupportedLinkError) Error() string {
	return "unsupported link type " + e.Link.String() + " (want Ethernet, Linux SLL/SLL2, loopback or raw IP)"
}

type decodeResult uint8

const (
	decodedTCP decodeResult = iota
	decodedOther
	decodedMalformed
)

// decode fills d.pkt from one packet.
func (d *Decoder) decode(data []byte, ts int64) decodeResult {
	if d.fast && d.fastEthernetIPv4TCP(data, ts) {
		d.ipVersion = 4
		return decodedTCP
	}
	d.ipVersion = 0
	d.decoded = d.decoded[:0]
	if d.raw && len(data) > 0 && data[0]>>4 == 6 {
		// Raw-IP link types carry both versions.
		if err := d.ip6.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return decodedMalformed
		}
		d.ipVersion = 6
		return d.fromIPv6Payload(ts)
	}
	err := d.parser.DecodeLayers(data, &d.decoded)
	var haveTCP, have4, have6 bool
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeTCP:
			haveTCP = true
		case layers.LayerTypeIPv4:
			have4 = true
		case layers.LayerTypeIPv6:
			have6 = true
		}
	}
	if have4 {
		d.ipVersion = 4
	} else if have6 {
		d.ipVersion = 6
	}
	if !haveTCP {
		if err != nil {
			return decodedMalformed
		}
		return decodedOther
	}
	p := &d.pkt
	*p = tcpPacket{ts: ts}
	t := &d.tcp
	hdr := int(t.DataOffset) * 4
	switch {
	case have4:
		ip := &d.ip4
		if ip.FragOffset != 0 {
			return decodedOther // a later fragment: no TCP header
		}
		p.src = v4in16(ip.SrcIP)
		p.dst = v4in16(ip.DstIP)
		p.ttl = ip.TTL
		p.df = ip.Flags&layers.IPv4DontFragment != 0
		p.payloadLen = int(ip.Length) - int(ip.IHL)*4 - hdr
	case have6:
		ip := &d.ip6
		copy(p.src[:], ip.SrcIP.To16())
		copy(p.dst[:], ip.DstIP.To16())
		p.v6 = true
		p.ttl = ip.HopLimit
		// Extension headers lie between the fixed header and TCP's; both
		// slices share the packet's backing array, so capacities give offsets.
		ext := cap(ip.Contents) - cap(t.Contents) - 40
		p.payloadLen = int(ip.Length) - ext - hdr
	default:
		return decodedMalformed
	}
	if p.payloadLen < 0 {
		p.payloadLen = 0
	}
	d.fillTCP()
	return decodedTCP
}

// fromIPv6Payload finishes decoding a raw IPv6 packet by hand, since the
// parser was built to start at IPv4.
func (d *Decoder) fromIPv6Payload(ts int64) decodeResult {
	ip := &d.ip6
	payload := ip.Payload
	next := ip.NextHeader
	if ip.HopByHop != nil { // gopacket decodes hop-by-hop as part of IPv6
		next = ip.HopByHop.NextHeader
	}
	for next != layers.IPProtocolTCP {
		if next != layers.IPProtocolIPv6HopByHop && next != layers.IPProtocolIPv6Routing &&
			next != layers.IPProtocolIPv6Destination {
			return decodedOther
		}
		if err := d.ip6ext.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return decodedMalformed
		}
		next = d.ip6ext.NextHeader
		payload = d.ip6ext.Payload
	}
	if err := d.tcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		return decodedMalformed
	}
	p := &d.pkt
	*p = tcpPacket{ts: ts, v6: true, ttl: ip.HopLimit}
	copy(p.src[:], ip.SrcIP.To16())
	copy(p.dst[:], ip.DstIP.To16())
	ext := cap(ip.Contents) - cap(d.tcp.Contents) - 40
	p.payloadLen = max(int(ip.Length)-ext-int(d.tcp.DataOffset)*4, 0)
	d.fillTCP()
	return decodedTCP
}

func (d *Decoder) fillTCP() {
	t := &d.tcp
	p := &d.pkt
	p.sport, p.dport = uint16(t.SrcPort), uint16(t.DstPort)
	var f uint8
	if t.FIN {
		f |= flagFIN
	}
	if t.SYN {
		f |= flagSYN
	}
	if t.RST {
		f |= flagRST
	}
	if t.PSH {
		f |= flagPSH
	}
	if t.ACK {
		f |= flagACK
	}
	if t.URG {
		f |= flagURG
	}
	p.flags = f
	p.window = t.Window
	if ol := int(t.DataOffset)*4 - 20; ol > 0 {
		p.optLen = uint8(ol)
	}
	for i := range t.Options {
		o := &t.Options[i]
		if o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2 {
			p.mss = uint16(o.OptionData[0])<<8 | uint16(o.OptionData[1])
		}
	}
}

func v4in16(ip net.IP) [16]byte {
	var b [16]byte
	b[10], b[11] = 0xff, 0xff
	copy(b[12:], ip.To4())
	return b
}

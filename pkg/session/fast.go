package session

import "encoding/binary"

// fastEthernetIPv4TCP decodes the common packet — Ethernet, IPv4 without
// options or fragmentation, TCP — by hand, and reports false for anything
// else, which then goes through the DecodingLayerParser. It exists for
// speed (the parser was a quarter of pcapsess's time) and must agree with
// the parser on every packet it accepts: FuzzFastPathAgrees checks that.
func (d *Decoder) fastEthernetIPv4TCP(data []byte, ts int64) bool {
	if len(data) < 14+20+20 || data[12] != 0x08 || data[13] != 0x00 {
		return false
	}
	ip := data[14:]
	if ip[0] != 0x45 || ip[9] != 6 { // version 4, IHL 5; protocol TCP
		return false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	flagsFrag := binary.BigEndian.Uint16(ip[6:8])
	if total < 40 || total > len(ip) || flagsFrag&0x3fff != 0 { // MF set or offset ≠ 0
		return false
	}
	tcp := ip[20:total]
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return false
	}
	p := &d.pkt
	*p = tcpPacket{ts: ts}
	p.src[10], p.src[11] = 0xff, 0xff
	copy(p.src[12:], ip[12:16])
	p.dst[10], p.dst[11] = 0xff, 0xff
	copy(p.dst[12:], ip[16:20])
	p.ttl = ip[8]
	p.df = flagsFrag&0x4000 != 0
	p.payloadLen = total - 20 - doff
	p.sport = binary.BigEndian.Uint16(tcp[0:2])
	p.dport = binary.BigEndian.Uint16(tcp[2:4])
	p.flags = tcp[13] & 0x3f
	p.window = binary.BigEndian.Uint16(tcp[14:16])
	if doff > 20 {
		p.optLen = uint8(doff - 20)
		opts := tcp[20:doff]
		for len(opts) > 0 {
			switch opts[0] {
			case 0: // end of list
				return true
			case 1: // no-op
				opts = opts[1:]
				continue
			case 30: // multipath TCP: leave its rules to the parser
				return false
			}
			if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
				return true // malformed: the parser stops here too
			}
			if opts[0] == 2 && opts[1] == 4 {
				p.mss = binary.BigEndian.Uint16(opts[2:4])
			}
			opts = opts[opts[1]:]
		}
	}
	return true
}

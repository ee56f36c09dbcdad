package alert

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// ProtoTCP is TCP's IP protocol number, the only protocol scanwatch sees.
const ProtoTCP = 6

// CommunityID is the Community ID flow hash, version 1 (the published spec:
// github.com/corelight/community-id-spec), of a port-based flow: "1:" and
// the base64 of a SHA-1 over the seed, both addresses, the protocol, a zero
// byte and both ports, all in network order, the endpoints ordered so that
// both directions of a flow hash alike. Zeek, Suricata, Arkime and most
// SIEMs compute it, so an alert joins their records of the same session.
// ICMP's port mapping is not implemented: scanwatch sees only TCP.
func CommunityID(seed uint16, proto uint8, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) string {
	sa, da := src.Unmap().AsSlice(), dst.Unmap().AsSlice()
	if c := bytes.Compare(sa, da); c > 0 || (c == 0 && sport > dport) {
		sa, da, sport, dport = da, sa, dport, sport
	}
	b := make([]byte, 0, 2+16+16+2+4)
	b = binary.BigEndian.AppendUint16(b, seed)
	b = append(b, sa...)
	b = append(b, da...)
	b = append(b, proto, 0)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	sum := sha1.Sum(b)
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

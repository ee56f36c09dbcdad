package alert

import (
	"crypto/sha1"
	"encoding/binary"
	"strconv"
)

// Signature IDs, one per technique family, in the range Suricata leaves to
// local rules (the README's table). A family is what a SOC tunes or
// suppresses as one: the probes of FIN, NULL and XMAS scans all rely on RFC
// 793's rule for closed ports and look alike to a firewall.
const (
	SIDConnect = 9100010 // connect (-sT): full handshakes from the kernel
	SIDSYN     = 9100011 // SYN (-sS): half-open, raw packets
	SIDStealth = 9100012 // FIN, NULL, XMAS (-sF, -sN, -sX): RFC 793 probes
	SIDACK     = 9100013 // ACK/Window (-sA, -sW): firewall rule mapping
	SIDMaimon  = 9100014 // Maimon (-sM): FIN/ACK probes
	SIDMixed   = 9100019 // several families in one episode, or none told apart
)

// families maps each technique bit to its signature ID.
var families = [numTechs]int{SIDConnect, SIDSYN, SIDStealth, SIDStealth, SIDStealth, SIDACK, SIDMaimon}

// SignatureID is the record's signature_id: its episode's technique
// family, SIDMixed when the techniques span families (a connect scan
// followed by a NULL scan from the same address) or none is known. It can
// change between an episode's start and end records when a new family
// joins.
func (e *Event) SignatureID() int {
	sid := 0
	for _, t := range e.Techniques {
		for i := range numTechs {
			if t.Tech&(1<<i) == 0 {
				continue
			}
			if sid != 0 && sid != families[i] {
				return SIDMixed
			}
			sid = families[i]
		}
	}
	if sid == 0 {
		return SIDMixed
	}
	return sid
}

// Severity is the record's alert.severity on Suricata's scale (1 high, 2
// medium, 3 low), from how much the scan covered and how it was made:
//
//	1  ≥ 1000 ports, or ≥ 16 targets (a sweep), or crafted probes over ≥ 100 ports
//	2  ≥ 100 ports, ≥ 2 targets, crafted probes (any technique but connect,
//	   which needs raw packets: root on the scanner), or open ports found
//	3  otherwise: connect() probes of < 100 ports of one target, none found open
//
// Like signature_id it is the episode's so far, so it can rise between
// the start and the end record.
func (e *Event) Severity() int {
	crafted := false
	for _, t := range e.Techniques {
		if t.Tech != Other && t.Tech&^Connect != 0 {
			crafted = true
		}
	}
	switch {
	case e.PortCount >= 1000, e.TargetCount >= 16, crafted && e.PortCount >= 100:
		return 1
	case e.PortCount >= 100, e.TargetCount >= 2, crafted, e.OpenPortCount > 0:
		return 2
	}
	return 3
}

// Sensor names where the records come from: the EVE host (the sensor's
// name; scanalert's --sensor, default the hostname) and in_iface (the
// interface pcapsess captured on, scanalert's --in-iface; empty for a
// capture file, and then left out).
type Sensor struct {
	Host    string
	InIface string
}

// CommunityID of the record's first anomalous session.
func (e *Event) CommunityID() string {
	f := e.FirstFlow
	return CommunityID(0, ProtoTCP, f.Src.Addr(), f.Src.Port(), f.Dst.Addr(), f.Dst.Port())
}

// FlowID names the first anomalous session as a number, where Suricata
// puts its flow table's id: the first 53 bits (exact in any JSON reader)
// of a SHA-1 over its Community ID and its start in µs. The same session
// gets the same flow_id in a live run and in the replay of its capture.
func (e *Event) FlowID() int64 {
	h := sha1.New()
	h.Write([]byte(e.CommunityID()))
	h.Write(strconv.AppendInt(nil, e.FirstFlow.Start/1000, 10))
	return int64(binary.BigEndian.Uint64(h.Sum(nil)) >> 11)
}

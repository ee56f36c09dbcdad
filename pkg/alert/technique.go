package alert

import (
	"strings"

	"scanwatch/pkg/row"
)

// Tech is a set of nmap scan techniques. A session's flag counts are summed
// over both directions (the harvester's contract), so some patterns fit more than
// one technique: a NULL probe answered by RST/ACK sums to ACK=1 RST=1, exactly
// like an ACK probe answered by a bare RST. Classify then returns both, and
// the Detector resolves the set over a whole episode (see Resolve).
type Tech uint8

// The techniques, one bit each, in report order.
const (
	Connect   Tech = 1 << iota // -sT: the kernel's connect()
	SYN                        // -sS: raw SYN, half-open
	FIN                        // -sF
	NULL                       // -sN
	XMAS                       // -sX: FIN+PSH+URG
	ACKWindow                  // -sA / -sW: bare ACK (identical on the wire)
	Maimon                     // -sM: FIN+ACK

	numTechs = 7
	// Other is the empty set: the flags fit no scan probe (for example a
	// complete HTTP exchange that the model called anomalous).
	Other Tech = 0
)

var techNames = [numTechs]string{"connect", "SYN", "FIN", "NULL", "XMAS", "ACK/Window", "Maimon"}
var techOptions = [numTechs]string{"-sT", "-sS", "-sF", "-sN", "-sX", "-sA/-sW", "-sM"}

// Single reports whether the set names exactly one technique.
func (t Tech) Single() bool { return t != 0 && t&(t-1) == 0 }

// String names the set: "SYN", "NULL or ACK/Window", "other" for the empty set.
func (t Tech) String() string {
	if t == Other {
		return "other"
	}
	var parts []string
	for i := range numTechs {
		if t&(1<<i) != 0 {
			parts = append(parts, techNames[i])
		}
	}
	return strings.Join(parts, " or ")
}

// Options is the nmap option(s) of the set, "-sS" or "-sN|-sA/-sW".
func (t Tech) Options() string {
	var parts []string
	for i := range numTechs {
		if t&(1<<i) != 0 {
			parts = append(parts, techOptions[i])
		}
	}
	return strings.Join(parts, "|")
}

// Classify maps one session to the nmap techniques its packets fit.
//
// Flag columns count packets carrying each flag, summed over both directions
// (S=SYN A=ACK F=FIN R=RST U=URG P=PSH; "-" = 0, "+" = at least one). The
// patterns below were read off real nmap 7.93 scans of 127.0.0.1 captured with
// tcpdump (testdata/capture/nmap-*.pcap; the .csv beside each is what
// pcapsess -r makes of it):
//
//	S   A   F   R   U/P   packets on the wire                         technique
//	1   1   -   1   -     SYN → RST/ACK (closed port)                 SYN or connect *
//	1+  -   -   -   -     SYN, unanswered (filtered)                  SYN or connect *
//	2+  1   -   0-1 -     SYN → SYN/ACK → RST from initiator (open)   SYN
//	2+  2+  -   1+  -     SYN → SYN/ACK → ACK → RST/ACK (open)        connect
//	2+  2+  +   1+  P     same, the service sent a banner and FIN     connect ***
//	                      first (src_bytes = 0, evidence only)
//	2+  2+  2   -   *     handshake, then FIN both ways, no byte      connect ****
//	                      from the initiator (evidence only)
//	-   -   +   -   -     FIN, unanswered (open|filtered)             FIN
//	-   1+  +   1+  -     FIN → RST/ACK (closed), or FIN/ACK → RST    FIN or Maimon **
//	-   1+  +   -   -     FIN/ACK, unanswered                         Maimon
//	-   -   -   -   -     no flags, unanswered (open|filtered)        NULL
//	-   1+  -   1+  -     no flags → RST/ACK, or ACK → RST            NULL or ACK/Window **
//	-   1+  -   -   -     ACK, unanswered (filtered)                  ACK/Window
//	-   *   +   *   U+P+  FIN/PSH/URG (→ RST/ACK if closed)           XMAS
//	anything else (handshake with data, FIN close, lone RST ...)      other
//
// * Rows with evidence columns (packets > 0) settle SYN against connect from
// the initiator's first SYN: nmap's raw SYN carries at most the MSS option
// (init_options_len ≤ 4, window 1024, random TTL, no DF), the kernel's
// connect() SYN always carries SACK/timestamps/window scale (≥ 12 bytes of
// options; 20 on Linux). That evidence wins over the flag counts for every
// SYN pattern.
//
// ** A probe answered by a reset: RFC 793 makes the reset carry ACK exactly
// when the probe did not, so the summed ACK=1 is either the responder's
// (RST/ACK: the probe was FIN or NULL) or the initiator's (bare RST: FIN/ACK
// or ACK). pcapsess records response times only for responder packets with
// SYN+ACK, RST+ACK or no flag, so on rows with evidence a response time
// means RST/ACK, and none despite dst_packets > 0 means a bare RST. Harvester rows
// keep the ambiguous set.
//
// *** nmap-sT-banner.pcap: -sT against a service that greets first.
//
// **** Not nmap (which resets), but a connect() scanner that closes its
// probes politely: the Windows worm of cisco-smb.pcap (datasets/public)
// sweeps port 445 so. Only sessions the model called anomalous are
// classified at all; a browser's unused speculative connections have the
// same flags and are its to tell apart.
//
// -sA and -sW send identical probes and cannot be told apart.
func Classify(r *row.Row) Tech {
	s, a, f, rst, u, p := r.SYN, r.ACK, r.FIN, r.RST, r.URG, r.PSH
	switch {
	case s > 0:
		evidence := r.Packets > 0
		if u > 0 {
			return Other
		}
		if f > 0 || p > 0 {
			// A service that speaks first (SSH, SMTP banners) answers a
			// connect() probe with data and a FIN before nmap's reset:
			// still a probe if the initiator sent no byte and reset.
			if evidence && r.SrcBytes == 0 && rst >= 1 && s >= 2 {
				return Connect
			}
			// A connect() scanner that closes politely (FIN, no reset)
			// after a completed handshake, having sent no byte.
			if evidence && r.SrcBytes == 0 && r.Handshake == 1 && rst == 0 {
				return Connect
			}
			return Other
		}
		var t Tech
		switch {
		case a == 0 && rst == 0:
			t = SYN | Connect
		case s == 1 && a == 1 && rst >= 1:
			t = SYN | Connect
		case s >= 2 && a == 1 && rst <= 1:
			t = SYN
		case s >= 2 && a >= 2 && rst >= 1:
			t = Connect
		default:
			return Other
		}
		if evidence { // the first SYN tells
			if r.InitOptLen <= 4 {
				return SYN
			}
			return Connect
		}
		return t
	case f > 0 && u > 0 && p > 0:
		return XMAS
	case u > 0 || p > 0:
		return Other
	case f > 0:
		return byACK(r, a, rst, FIN, Maimon)
	default:
		return byACK(r, a, rst, NULL, ACKWindow)
	}
}

// byACK tells a probe without SYN (FIN or NULL flags) from its twin that
// also sets ACK (Maimon, ACK/Window) by the session's ACK and RST counts:
// no ACK and no RST is the bare probe, ACK without RST the twin, and both
// are told apart by the response (byResponse).
func byACK(r *row.Row, a, rst int, bare, withACK Tech) Tech {
	switch {
	case a == 0 && rst == 0:
		return bare
	case a >= 1 && rst >= 1:
		return byResponse(r, bare, withACK)
	case a >= 1:
		return withACK
	}
	return Other
}

// byResponse settles a reset-answered probe: noACK if the reset carried ACK
// (a response time was recorded), withACK if it was a bare reset; both when
// the row has no evidence columns.
func byResponse(r *row.Row, noACK, withACK Tech) Tech {
	if r.Packets == 0 || r.DstPackets == 0 {
		return noACK | withACK
	}
	if r.StartResponse != 0 {
		return noACK
	}
	return withACK
}

// Resolve settles ambiguous sets over an episode: counts[set] is the number
// of sessions classified as set. An ambiguous set whose members include
// exactly one technique that was also seen unambiguously is folded into it
// (a FIN scan that hit one open port shows "FIN" there and "FIN or Maimon"
// on every closed one: it was a FIN scan). Sets that cannot be settled stay
// as they are. The result lists single techniques in report order, then the
// unresolved sets, then "other"; zero counts are left out.
func Resolve(counts *[1 << numTechs]int) []TechCount {
	merged := *counts
	for set := 1; set < len(merged); set++ {
		t := Tech(set)
		if t.Single() || merged[set] == 0 {
			continue
		}
		var seen Tech
		n := 0
		for i := range numTechs {
			m := Tech(1 << i)
			if t&m != 0 && counts[m] > 0 {
				seen = m
				n++
			}
		}
		if n == 1 {
			merged[seen] += merged[set]
			merged[set] = 0
		}
	}
	var out []TechCount
	for i := range numTechs {
		if c := merged[1<<i]; c > 0 {
			out = append(out, TechCount{Tech: Tech(1 << i), Sessions: c})
		}
	}
	for set := 1; set < len(merged); set++ {
		if !Tech(set).Single() && merged[set] > 0 {
			out = append(out, TechCount{Tech: Tech(set), Sessions: merged[set]})
		}
	}
	if merged[0] > 0 {
		out = append(out, TechCount{Tech: Other, Sessions: merged[0]})
	}
	return out
}

// TechCount is how many anomalous sessions of an episode fit a technique set.
type TechCount struct {
	Tech     Tech
	Sessions int
}

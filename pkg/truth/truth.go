// Package truth is the ground truth of labelled captures: which initiators
// scanned, with which techniques, and the label of every session row that
// follows from that. One rule labels rows everywhere: live while a data set
// is captured (package capturerun), and later from the saved capture, for
// training and for `just eval`.
//
// A row is a scan (label 1) when its initiator is a scanner's address and,
// if the scanner names ports, its dst_port is one of them, and if it names
// hosts, its dst_ip is one of them: a scanner that is also a client keeps
// its client traffic (to other ports or hosts) labelled 0.
package truth

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"scanwatch/pkg/row"
)

// Scanner is one scanning initiator of a capture.
type Scanner struct {
	Address string `json:"address"`
	// Ports are the dst ports its scan probed ("1-1000,8080"); empty means
	// every session it initiated is part of the scan.
	Ports string `json:"ports,omitempty"`
	// Hosts are the dst addresses its scan probed; empty means any.
	Hosts      []string `json:"hosts,omitempty"`
	Techniques []string `json:"techniques"` // as package alert names them: SYN, connect, FIN, NULL, XMAS, ACK/Window, Maimon, other
	Tool       string   `json:"tool,omitempty"`
	Targets    string   `json:"targets,omitempty"`
	AlsoClient bool     `json:"also_client,omitempty"` // it makes ordinary connections in the same capture too
	Notes      string   `json:"notes,omitempty"`
}

// Rules label rows by a capture's scanners.
type Rules struct {
	scanners []compiled
}

type compiled struct {
	addr  netip.Addr
	all   bool
	ports *[1024]uint64
	hosts []netip.Addr
}

// Compile checks scanners and prepares them for Label.
func Compile(scanners []Scanner) (*Rules, error) {
	r := &Rules{}
	for _, s := range scanners {
		a, err := netip.ParseAddr(s.Address)
		if err != nil {
			return nil, fmt.Errorf("scanner address %q: %v", s.Address, err)
		}
		c := compiled{addr: a.Unmap(), all: s.Ports == ""}
		if !c.all {
			if c.ports, err = parsePorts(s.Ports); err != nil {
				return nil, fmt.Errorf("scanner %s: ports %q: %v", s.Address, s.Ports, err)
			}
		}
		for _, h := range s.Hosts {
			a, err := netip.ParseAddr(h)
			if err != nil {
				return nil, fmt.Errorf("scanner %s: host %q: %v", s.Address, h, err)
			}
			c.hosts = append(c.hosts, a.Unmap())
		}
		r.scanners = append(r.scanners, c)
	}
	return r, nil
}

// Label returns the row's label and the index of the scanner it belongs
// to (-1 for label 0).
func (r *Rules) Label(x *row.Row) (label, scanner int) {
	src := x.SrcIP.Unmap()
	for i, c := range r.scanners {
		if src == c.addr && (c.all || c.ports[x.DstPort/64]&(1<<(x.DstPort%64)) != 0) &&
			(len(c.hosts) == 0 || slices.Contains(c.hosts, x.DstIP.Unmap())) {
			return 1, i
		}
	}
	return 0, -1
}

// IsScanner reports whether a is one of the scanners' addresses.
func (r *Rules) IsScanner(a netip.Addr) bool {
	a = a.Unmap()
	for _, c := range r.scanners {
		if c.addr == a {
			return true
		}
	}
	return false
}

func parsePorts(s string) (*[1024]uint64, error) {
	var set [1024]uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q is not a port", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a port range", part)
			}
		}
		for p := a; p <= b; p++ {
			set[p/64] |= 1 << (p % 64)
		}
	}
	return &set, nil
}

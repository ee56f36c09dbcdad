package trafficgen

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi uint16 }

// PortSet is an ordered list of ranges as the user wrote them.
type PortSet []PortRange

// ParsePorts parses "0-2500", "80", "1-1024,8080,9000-9010". Port 0 is
// allowed (nmap scans it when asked, and the harvester did). Ranges must not be
// reversed and every number must be within 0..65535.
func ParsePorts(s string) (PortSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("port list is empty")
	}
	var set PortSet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("port list %q: empty item", s)
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("port list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return nil, fmt.Errorf("port list %q: %w", s, err)
			}
			if b < a {
				return nil, fmt.Errorf("port list %q: range %q is reversed", s, part)
			}
		}
		set = append(set, PortRange{a, b})
	}
	return set, nil
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n > 65535 {
		return 0, fmt.Errorf("port %d is out of range 0-65535", n)
	}
	return uint16(n), nil
}

// Len is the number of ports, counting duplicates.
func (ps PortSet) Len() int {
	n := 0
	for _, r := range ps {
		n += int(r.Hi) - int(r.Lo) + 1
	}
	return n
}

// At returns the i-th port (0 ≤ i < Len) in list order.
func (ps PortSet) At(i int) uint16 {
	for _, r := range ps {
		n := int(r.Hi) - int(r.Lo) + 1
		if i < n {
			return uint16(int(r.Lo) + i)
		}
		i -= n
	}
	panic(fmt.Sprintf("trafficgen: port index %d out of range", i))
}

// Contains reports whether p is in the set.
func (ps PortSet) Contains(p uint16) bool {
	for _, r := range ps {
		if r.Lo <= p && p <= r.Hi {
			return true
		}
	}
	return false
}

// String formats the set the way nmap's -p takes it.
func (ps PortSet) String() string {
	var b strings.Builder
	for i, r := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r.Lo)))
		if r.Hi != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.Hi)))
		}
	}
	return b.String()
}

// PortSetOf turns a port list into a PortSet for printing.
func PortSetOf(ports []uint16) PortSet {
	var ps PortSet
	for _, p := range ports {
		ps = append(ps, PortRange{p, p})
	}
	return ps
}

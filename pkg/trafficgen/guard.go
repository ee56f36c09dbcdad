package trafficgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// GuardHelp explains the target guard; the CLI prints it in --help.
const GuardHelp = `Targets are loopback only (127.0.0.0/8, ::1): trafficgen sends real scans and
real connections, and the only network it may touch is this machine's own.
--allow-target ADDR lifts the guard for exactly that address, and only for
network-namespace test hosts (198.18.0.0/15, fd00::/8) that sit on a subnet of
a local interface (a veth pair), so that nothing leaves the machine through a
gateway. Hostnames are looked up in /etc/hosts only (no DNS query leaves the
machine) and every address they resolve to must pass.`

var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	// The benchmark and unique-local ranges test namespaces use.
	testNets = []netip.Prefix{
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("fd00::/8"),
	}
)

// ErrTargetRefused is wrapped by every refusal of the target guard.
var ErrTargetRefused = errors.New("target refused")

// Guard decides which addresses trafficgen may send to.
type Guard struct {
	// Allow holds addresses named with --allow-target.
	Allow []netip.Addr
	// Lookup resolves hostnames; nil means net.DefaultResolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// LocalPrefixes lists the prefixes of local interface addresses; nil
	// means ask the kernel (net.InterfaceAddrs).
	LocalPrefixes func() ([]netip.Prefix, error)
}

// ParseAllow parses --allow-target values; each must be an IP address inside
// a test-namespace range.
func ParseAllow(values []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, v := range values {
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("--allow-target %q: not an IP address (name the address exactly)", v)
		}
		a = a.Unmap()
		if !isLoopback(a) && !inTestNets(a) {
			return nil, fmt.Errorf("--allow-target %s: %w: only network-namespace test hosts in 198.18.0.0/15 or fd00::/8 may be allowed", a, ErrTargetRefused)
		}
		out = append(out, a)
	}
	return out, nil
}

func isLoopback(a netip.Addr) bool {
	a = a.Unmap()
	return loopback4.Contains(a) || a == netip.IPv6Loopback()
}

func inTestNets(a netip.Addr) bool {
	for _, p := range testNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Check resolves target and returns the address to use, or an error wrapping
// ErrTargetRefused. A hostname is refused if any address it resolves to is
// refused: a name that maps to loopback today and elsewhere tomorrow must
// not slip through.
func (g Guard) Check(ctx context.Context, target string) (netip.Addr, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return netip.Addr{}, fmt.Errorf("target is empty")
	}
	host := strings.TrimSuffix(strings.TrimPrefix(target, "["), "]")
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("target %s: %w: zoned addresses are not supported", target, ErrTargetRefused)
		}
		addrs = []netip.Addr{a.Unmap()}
	} else {
		lookup := g.Lookup
		if lookup == nil {
			lookup = hostsOnly.LookupNetIP6or4
		}
		got, err := lookup(ctx, host)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("target %s: cannot resolve: %w", target, err)
		}
		if len(got) == 0 {
			return netip.Addr{}, fmt.Errorf("target %s: resolves to no address", target)
		}
		for _, a := range got {
			addrs = append(addrs, a.Unmap())
		}
	}
	for _, a := range addrs {
		if err := g.checkAddr(a); err != nil {
			if len(addrs) > 1 || a.String() != host {
				return netip.Addr{}, fmt.Errorf("target %s resolves to %s: %w", target, a, err)
			}
			return netip.Addr{}, err
		}
	}
	// Prefer IPv4: nmap needs -6 for IPv6 and most servers listen on v4.
	for _, a := range addrs {
		if a.Is4() {
			return a, nil
		}
	}
	return addrs[0], nil
}

func (g Guard) checkAddr(a netip.Addr) error {
	if isLoopback(a) {
		return nil
	}
	allowed := false
	for _, x := range g.Allow {
		if x == a {
			allowed = true
		}
	}
	if !inTestNets(a) {
		return fmt.Errorf("target %s: %w: only loopback (127.0.0.0/8, ::1) and named network-namespace test hosts (198.18.0.0/15, fd00::/8) may be targets", a, ErrTargetRefused)
	}
	if !allowed {
		return fmt.Errorf("target %s: %w: a network-namespace test host must be named with --allow-target %s", a, ErrTargetRefused, a)
	}
	prefixes := g.LocalPrefixes
	if prefixes == nil {
		prefixes = interfacePrefixes
	}
	ps, err := prefixes()
	if err != nil {
		return fmt.Errorf("target %s: listing local interfaces: %w", a, err)
	}
	for _, p := range ps {
		if p.Bits() < p.Addr().BitLen() && p.Masked().Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("target %s is unreachable: no local interface is on its subnet (create the namespace's veth pair first; trafficgen will not send through a gateway)", a)
}

// hostsOnly resolves from /etc/hosts and never sends a DNS query: a lookup
// is a packet too, and the network rule allows none off the machine.
var hostsOnly = hostsResolver{&net.Resolver{
	PreferGo: true,
	Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("trafficgen resolves names from /etc/hosts only (no DNS)")
	},
}}

type hostsResolver struct{ r *net.Resolver }

func (h hostsResolver) LookupNetIP6or4(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := h.r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("%q is not in /etc/hosts (trafficgen sends no DNS queries; give an address)", host)
	}
	return addrs, nil
}

func interfacePrefixes() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// ParseSource parses a --source address: it must be local to the target's
// side. For a loopback target it must itself be loopback (any 127.0.0.0/8
// address works on Linux without an alias); otherwise any address is left to
// the kernel, which refuses to bind a non-local one.
func ParseSource(s string, target netip.Addr) (netip.Addr, error) {
	if strings.TrimSpace(s) == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("source %q: not an IP address", s)
	}
	a = a.Unmap()
	if isLoopback(target) && !isLoopback(a) {
		return netip.Addr{}, fmt.Errorf("source %s: a loopback target needs a loopback source (127.0.0.0/8 or ::1)", a)
	}
	if a.Is4() != target.Is4() {
		return netip.Addr{}, fmt.Errorf("source %s and target %s are different address families", a, target)
	}
	return a, nil
}

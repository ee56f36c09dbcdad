package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
)

// Star is one hub namespace joined to several site namespaces, a veth
// pair each: the sites are the links of a network, each watched by its own
// sensor, and the hub is the outside from which hosts reach them (clients,
// and scanners sweeping hosts behind different sensors). Site k's link is
// 198.19.(8*id+k).0/24: the hub's end .1, the site's end .2, and the site's
// further hosts .100 and up. Source networks that the hub holds on its
// loopback (AddSources) are 198.19.(8*id+4...7).0/24, routed back from
// every site through its link: one address can scan all sites, and many
// addresses of one /24 can share a scan. Nothing is routed anywhere else.
type Star struct {
	Hub   string
	Sites []Site
	id    int
	nets  int // source networks AddSources made
}

// Site is one link of a Star.
type Site struct {
	NS            string     // the site's namespace
	HubIf, SiteIf string     // the veth ends, in the hub and in the site
	HubAddr, Addr netip.Addr // the link's two ends (/24)
	Hosts         []netip.Addr
}

// MaxStarSites is how many sites a Star can have; MaxStarID the largest id.
const (
	MaxStarSites = 4
	MaxStarID    = 31
)

// NewStar creates the hub and n sites (id keeps concurrent stars apart,
// 0..MaxStarID), each site with hosts addresses beside its link end.
func NewStar(ctx context.Context, id, n, hosts int) (*Star, error) {
	if id < 0 || id > MaxStarID || n < 1 || n > MaxStarSites || hosts < 0 || hosts > 100 {
		return nil, fmt.Errorf("netns: star %d with %d sites of %d hosts: out of range", id, n, hosts)
	}
	tag := fmt.Sprintf("sw%d_%d", os.Getpid()%10000, id)
	s := &Star{Hub: tag + "h", id: id}
	steps := [][]string{{"netns", "add", s.Hub}, {"-n", s.Hub, "link", "set", "lo", "up"}}
	for k := range n {
		net := 8*id + k
		site := Site{NS: fmt.Sprintf("%ss%d", tag, k), HubIf: fmt.Sprintf("v%sh%d", tag, k), SiteIf: fmt.Sprintf("v%ss%d", tag, k),
			HubAddr: netip.AddrFrom4([4]byte{198, 19, byte(net), 1}), Addr: netip.AddrFrom4([4]byte{198, 19, byte(net), 2})}
		steps = append(steps,
			[]string{"netns", "add", site.NS},
			[]string{"link", "add", site.HubIf, "netns", s.Hub, "type", "veth", "peer", "name", site.SiteIf, "netns", site.NS},
			[]string{"-n", s.Hub, "addr", "add", site.HubAddr.String() + "/24", "dev", site.HubIf},
			[]string{"-n", site.NS, "addr", "add", site.Addr.String() + "/24", "dev", site.SiteIf},
			[]string{"-n", s.Hub, "link", "set", site.HubIf, "up"},
			[]string{"-n", site.NS, "link", "set", site.SiteIf, "up"},
			[]string{"-n", site.NS, "link", "set", "lo", "up"})
		for h := range hosts {
			a := netip.AddrFrom4([4]byte{198, 19, byte(net), byte(100 + h)})
			site.Hosts = append(site.Hosts, a)
			steps = append(steps, []string{"-n", site.NS, "addr", "add", a.String() + "/24", "dev", site.SiteIf})
		}
		s.Sites = append(s.Sites, site)
	}
	if err := run(ctx, steps); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// AddSources puts n addresses (.10, .11, ...) of a new /24 on the hub's
// loopback, routed back from every site through its link, and returns
// them: a scanner that reaches every site from one address (n = 1), or a
// network whose many addresses share a scan. Up to four such networks.
func (s *Star) AddSources(ctx context.Context, n int) ([]netip.Addr, error) {
	if s.nets == 4 || n < 1 || n > 200 {
		return nil, fmt.Errorf("netns: no room for %d more sources in star %d", n, s.id)
	}
	net := 8*s.id + 4 + s.nets
	s.nets++
	prefix := fmt.Sprintf("198.19.%d.0/24", net)
	var steps [][]string
	var out []netip.Addr
	for i := range n {
		a := netip.AddrFrom4([4]byte{198, 19, byte(net), byte(10 + i)})
		out = append(out, a)
		steps = append(steps, []string{"-n", s.Hub, "addr", "add", a.String() + "/32", "dev", "lo"})
	}
	for _, site := range s.Sites {
		steps = append(steps, []string{"-n", site.NS, "route", "add", prefix, "via", site.HubAddr.String()})
	}
	return out, run(ctx, steps)
}

// Close deletes every namespace of the star (and with them the links).
func (s *Star) Close() error {
	names := []string{s.Hub}
	for _, site := range s.Sites {
		names = append(names, site.NS)
	}
	return deleteNamespaces(names...)
}

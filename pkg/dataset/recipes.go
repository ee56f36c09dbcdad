package dataset

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"scanwatch/pkg/capturerun"
)

// AllTechniques are nmap's eight TCP scan techniques.
var AllTechniques = []string{"sT", "sS", "sF", "sN", "sX", "sA", "sW", "sM"}

// Mixed is the recipe of the data sets that train and test the detector on
// one network (issue "Right on real networks"):
//
//   - every technique alone, from an address that does nothing else;
//   - every technique from a host that is at the same time a busy client
//     (a curl loop, keep-alive HTTP and an interactive echo session, 50
//     actions/s), on ports its client traffic never uses;
//   - small scans of a few dozen ports, alone and from a busy client;
//   - six techniques one after another from one host, alone and busy;
//   - sweeps: a few ports over many hosts (SYN and connect), and over hosts
//     that never answer where the network has them;
//   - a crowd of clients with two scanners among them;
//   - ordinary clients on their own: busy keep-alive, a curl loop, slow 1/s
//     clients, refused connections at 4/s, interactive sessions, parallel
//     bursts, speculative connections closed unused, TCP health checks,
//     and (where there are
//     silent hosts) a client whose attempts to a few unreachable hosts time
//     out, as a browser's do without a working IPv6 route;
//   - slow raw scans, one probe a second.
//
// perTech is how many ports each scan covers.
func Mixed(ctx context.Context, l capturerun.Launcher, perTech, timing int) (Recipe, error) {
	var err error
	src := func() netip.Addr {
		if err != nil {
			return netip.Addr{}
		}
		var a []netip.Addr
		a, err = l.Sources(ctx, 1)
		if err != nil {
			return netip.Addr{}
		}
		return a[0]
	}
	ports := func(from, n int) string { return fmt.Sprintf("%d-%d", from, from+n-1) }
	scan := func(s netip.Addr, tech, p string, start time.Duration) Actor {
		return Actor{Source: s, Start: start, Technique: tech, Ports: p, Timing: timing, MaxRetries: 1}
	}
	client := func(s netip.Addr, mix string, rate float64, conc int, d time.Duration, seed uint64) Actor {
		return Actor{Source: s, Mix: mix, Rate: rate, Concurrency: conc, Duration: d, Seed: seed}
	}
	const busyMix = "exchange=4,keepalive=4,echo=1"
	var list []Scenario
	for _, t := range AllTechniques {
		list = append(list, Scenario{Name: "alone-" + t, Actors: []Actor{scan(src(), t, ports(1, perTech), 0)}})
	}
	for i, t := range AllTechniques {
		b := src()
		list = append(list, Scenario{Name: "busy-" + t, Actors: []Actor{
			client(b, busyMix, 50, 4, 12*time.Second, uint64(10+i)),
			scan(b, t, ports(1, perTech), 2*time.Second),
		}})
	}
	// Small scans: a few dozen ports, over in milliseconds (the e2e test's
	// size), alone and from a busy client; a connect scan of 10 ports.
	for _, sm := range []struct {
		name, tech, ports string
		busy              bool
	}{
		{"small-sT-10", "sT", "40100-40109", false},
		{"small-sT", "sT", "40100-40130", false},
		{"small-sS", "sS", "40100-40130", false},
		{"busy-small-sT", "sT", "40100-40130", true},
	} {
		a := src()
		actors := []Actor{scan(a, sm.tech, sm.ports, 0)}
		if sm.busy {
			actors[0].Start = 2 * time.Second
			actors = append(actors, client(a, busyMix, 50, 4, 6*time.Second, 70))
		}
		list = append(list, Scenario{Name: sm.name, Actors: actors})
	}
	// One host running technique after technique, 3 s apart, on ports of
	// its own each (a service contacted again within the context window is
	// no first contact): alone, and while it is a busy client.
	for _, busy := range []bool{false, true} {
		a := src()
		var actors []Actor
		for i, t := range []string{"sS", "sT", "sX", "sF", "sN", "sA"} {
			actors = append(actors, scan(a, t, ports(1+60*i, 60), time.Duration(i)*3*time.Second))
		}
		name := "sequence"
		if busy {
			name = "busy-sequence"
			actors = append(actors, client(a, busyMix, 50, 4, 18*time.Second, 71))
		}
		list = append(list, Scenario{Name: name, Actors: actors})
	}
	hosts, herr := l.Hosts(ctx, 24)
	if herr != nil {
		return Recipe{}, herr
	}
	// Ordinary clients talk to many hosts, as browsers do: the target and
	// the first twelve other hosts, which serve as the target does.
	web := func(a Actor) Actor { a.Also = hosts[:12]; return a }
	for _, t := range []string{"sS", "sT"} {
		a := scan(src(), t, "21,22,80,443,445,3389", 0)
		a.Target, a.Also = hosts[0], hosts[1:]
		list = append(list, Scenario{Name: "sweep-" + t, Actors: []Actor{a}})
	}
	if silent := l.Silent(); len(silent) > 0 {
		a := scan(src(), "sS", "22,80,443", 0)
		a.Target, a.Also = silent[0], silent[1:]
		list = append(list, Scenario{Name: "sweep-silent-sS", Actors: []Actor{a}})
		// A client whose connections to unreachable hosts time out, in
		// bursts over all of them (a browser trying every address of a name
		// without a working route) every 2 s, beside its ordinary traffic.
		c := src()
		actors := []Actor{client(c, busyMix, 10, 2, 12*time.Second, 50)}
		for i, h := range silent {
			a := client(c, "closed=1", 0.5, 1, 6*time.Second, uint64(51+i))
			a.Target, a.Ports, a.Timeout, a.Start = h, "80,443", 300*time.Millisecond, time.Duration(i)*100*time.Millisecond
			actors = append(actors, a)
		}
		list = append(list, Scenario{Name: "normal-unreachable", Actors: actors})
	}
	half := perTech / 2
	list = append(list, Scenario{Name: "crowd", Actors: []Actor{
		client(src(), "keepalive=1", 30, 2, 12*time.Second, 30),
		client(src(), "exchange=3,closed=1", 10, 2, 12*time.Second, 31),
		client(src(), "echo=1", 5, 2, 12*time.Second, 32),
		scan(src(), "sS", ports(1, half), 2*time.Second),
		scan(src(), "sT", ports(1+half, half), 3*time.Second),
	}})
	list = append(list,
		Scenario{Name: "normal-keepalive", Actors: []Actor{web(client(src(), "keepalive=1", 40, 4, 10*time.Second, 40))}},
		Scenario{Name: "normal-curl", Actors: []Actor{web(client(src(), "exchange=1", 20, 2, 10*time.Second, 41))}},
		// The harvester's client at 1/s and 4/s: GETs to random ports of a
		// range where almost nothing listens, so mostly refused.
		Scenario{Name: "normal-slow", Actors: []Actor{
			web(client(src(), "exchange=2,keepalive=1", 1, 1, 20*time.Second, 42)),
			client(src(), "sweep=55,keepalive=25,exchange=12,closed=8", 1, 1, 20*time.Second, 47),
		}},
		Scenario{Name: "normal-refused", Actors: []Actor{
			client(src(), "sweep=9,closed=1", 4, 1, 15*time.Second, 43),
			client(src(), "closed=1,exchange=1", 4, 1, 15*time.Second, 44),
		}},
		Scenario{Name: "normal-echo", Actors: []Actor{web(client(src(), "echo=1", 5, 2, 10*time.Second, 45))}},
		Scenario{Name: "normal-burst", Actors: []Actor{web(client(src(), "exchange=3,keepalive=1", 60, 8, 8*time.Second, 46))}},
		// A browser's speculative connections: opened, then closed unused.
		Scenario{Name: "normal-preconnect", Actors: []Actor{web(client(src(), "preconnect=3,exchange=2,keepalive=1", 15, 6, 10*time.Second, 48))}},
		// TCP health checks (connect, close at once) of the served ports
		// at 3/s, beside a client of the same services.
		Scenario{Name: "normal-healthcheck", Actors: []Actor{
			client(src(), "check=1", 3, 1, 12*time.Second, 49),
			client(src(), "check=1,exchange=1,keepalive=1", 10, 2, 12*time.Second, 60),
		}},
	)
	var slow []Actor
	for i, t := range []string{"sS", "sF", "sX", "sN"} {
		a := scan(src(), t, ports(1+15*i, 15), 0)
		a.ScanDelay = time.Second
		slow = append(slow, a)
	}
	list = append(list, Scenario{Name: "slow", Actors: slow})
	return Recipe{Scenarios: list, Hosts: hosts}, err
}

// Recipe is a list of scenarios and the hosts beside the target that serve
// as it does (their servers run for the whole data set).
type Recipe struct {
	Scenarios []Scenario
	Hosts     []netip.Addr
}

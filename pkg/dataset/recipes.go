package dataset

import (
	"fmt"
	"net/netip"
	"time"
)

// AllTechniques are nmap's eight TCP scan techniques.
var AllTechniques = []string{"sT", "sS", "sF", "sN", "sX", "sA", "sW", "sM"}

// Mixed is the recipe of the data sets that train and test the detector on
// one network (issue "Right on real networks"): every technique alone; every
// technique from a host that is at the same time a busy client (a curl loop,
// keep-alive HTTP and an interactive echo session, 50 actions/s); a crowd of
// clients with two scanners among them; ordinary clients on their own (busy
// keep-alive, a curl loop, a slow 1/s client, refused connections at 4/s,
// interactive sessions, parallel bursts); and slow raw scans, one probe a
// second.
//
// perTech is how many ports each scan covers. With loopback set, every actor
// has its own 127.0.70.x address (and busy scanners share theirs with a
// client); otherwise every actor uses the scanner side's one address, so
// every scan runs from a host that is busy whenever a client runs beside it.
func Mixed(perTech int, timing int, loopback bool) []Scenario {
	next := 10
	addr := func() netip.Addr {
		if !loopback {
			return netip.Addr{}
		}
		next++
		return netip.AddrFrom4([4]byte{127, 0, 70, byte(next)})
	}
	ports := func(from, n int) string { return fmt.Sprintf("%d-%d", from, from+n-1) }
	scan := func(src netip.Addr, tech, p string, start time.Duration) Actor {
		return Actor{Source: src, Start: start, Technique: tech, Ports: p, Timing: timing, MaxRetries: 1}
	}
	client := func(src netip.Addr, mix string, rate float64, conc int, d time.Duration, seed uint64) Actor {
		return Actor{Source: src, Mix: mix, Rate: rate, Concurrency: conc, Duration: d, Seed: seed}
	}
	const busyMix = "exchange=4,keepalive=4,echo=1"
	var list []Scenario
	for _, t := range AllTechniques {
		list = append(list, Scenario{Name: "alone-" + t, Actors: []Actor{scan(addr(), t, ports(1, perTech), 0)}})
	}
	for i, t := range AllTechniques {
		b := addr()
		list = append(list, Scenario{Name: "busy-" + t, Actors: []Actor{
			client(b, busyMix, 50, 4, 12*time.Second, uint64(10+i)),
			scan(b, t, ports(1, perTech), 2*time.Second),
		}})
	}
	half := perTech / 2
	list = append(list, Scenario{Name: "crowd", Actors: []Actor{
		client(addr(), "keepalive=1", 30, 2, 12*time.Second, 30),
		client(addr(), "exchange=3,closed=1", 10, 2, 12*time.Second, 31),
		client(addr(), "echo=1", 5, 2, 12*time.Second, 32),
		scan(addr(), "sS", ports(1, half), 2*time.Second),
		scan(addr(), "sT", ports(1+half, half), 3*time.Second),
	}})
	list = append(list,
		Scenario{Name: "normal-keepalive", Actors: []Actor{client(addr(), "keepalive=1", 40, 4, 10*time.Second, 40)}},
		Scenario{Name: "normal-curl", Actors: []Actor{client(addr(), "exchange=1", 20, 2, 10*time.Second, 41)}},
		Scenario{Name: "normal-slow", Actors: []Actor{client(addr(), "exchange=2,keepalive=1", 1, 1, 20*time.Second, 42)}},
		Scenario{Name: "normal-refused", Actors: []Actor{
			client(addr(), "closed=1", 4, 1, 15*time.Second, 43),
			client(addr(), "closed=1,exchange=1", 4, 1, 15*time.Second, 44),
		}},
		Scenario{Name: "normal-echo", Actors: []Actor{client(addr(), "echo=1", 5, 2, 10*time.Second, 45)}},
		Scenario{Name: "normal-burst", Actors: []Actor{client(addr(), "exchange=3,keepalive=1", 60, 8, 8*time.Second, 46)}},
	)
	var slow []Actor
	for i, t := range []string{"sS", "sF", "sX", "sN"} {
		a := scan(addr(), t, ports(1+15*i, 15), 0)
		a.ScanDelay = time.Second
		slow = append(slow, a)
	}
	return append(list, Scenario{Name: "slow", Actors: slow})
}

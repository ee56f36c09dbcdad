package trafficgen

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestRunNormal drives real clients against trafficgen's own servers on
// loopback: the requests succeed, come from the chosen source address, and
// the run stops at Count.
func TestRunNormal(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	src := netip.MustParseAddr("127.0.0.2")
	srv, err := Serve(lo, []uint16{0, 0})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	served := srv.Ports()
	// The sweep range is the served ports plus one port we know is closed
	// (a listener opened and closed again).
	closed := freePort(t)
	ports := PortSet{{served[0], served[0]}, {served[1], served[1]}, {closed, closed}}
	st, err := RunNormal(context.Background(), NormalOptions{
		Target: lo, Source: src, Ports: ports, Serve: served,
		Count: 300, Duration: time.Minute, Concurrency: 4, Timeout: 5 * time.Second, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st)
	if st.Total() != 300 {
		t.Errorf("ran %d actions, want exactly --count 300", st.Total())
	}
	if st.Failed != 0 {
		t.Errorf("%d actions failed, last: %v", st.Failed, st.LastErr)
	}
	if st.Refused == 0 || st.OK == 0 {
		t.Errorf("want both answered and refused actions: %s", st)
	}
	for _, a := range []Action{ActionSweep, ActionKeepAlive, ActionExchange, ActionClosed} {
		if st.ByKind[a] == 0 {
			t.Errorf("no %s actions: %s", a, st)
		}
	}
	reqs := srv.Requests()
	if reqs[src] == 0 || len(reqs) != 1 {
		t.Errorf("requests by client address = %v, want all from %s", reqs, src)
	}
}

func TestRunNormalDurationBound(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	closed := freePort(t)
	st, err := RunNormal(context.Background(), NormalOptions{
		Target: lo, Ports: PortSet{{closed, closed}}, Count: 1_000_000, Rate: 50,
		Duration: 300 * time.Millisecond, Concurrency: 2, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 50/s for 0.3 s: about 16 actions, far from the count.
	if n := st.Total(); n == 0 || n > 1000 {
		t.Errorf("duration-bounded run did %d actions", n)
	}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	s, err := Serve(netip.MustParseAddr("127.0.0.1"), []uint16{0})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Ports()[0]
	s.Close()
	return p
}

// TestMixAndEcho: a client with its own mix of actions, echo sessions
// included, against the HTTP and echo servers.
func TestMixAndEcho(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	srv, err := Serve(lo, []uint16{0})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	echo, err := srv.Echo(lo, 0)
	if err != nil {
		t.Fatal(err)
	}
	mix, err := ParseMix("echo=2,exchange=1,preconnect=1")
	if err != nil {
		t.Fatal(err)
	}
	if mix.String() != "exchange=1,echo=2,preconnect=1" {
		t.Errorf("mix %q", mix)
	}
	closed := freePort(t)
	st, err := RunNormal(context.Background(), NormalOptions{
		Target: lo, Ports: PortSet{{closed, closed}}, Serve: srv.Ports(), Echo: echo, Mix: mix,
		Count: 60, Duration: time.Minute, Concurrency: 4, Timeout: 5 * time.Second, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Total() != 60 || st.OK != 60 || st.ByKind[ActionEcho] < 20 || st.ByKind[ActionExchange] < 5 || st.ByKind[ActionPreconnect] < 5 || st.ByKind[ActionSweep] != 0 {
		t.Errorf("mix run: %s (last error %v)", st, st.LastErr)
	}
	for _, bad := range []string{"", "echo", "echo=-1", "flood=1", "echo=0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
	if _, err := RunNormal(context.Background(), NormalOptions{Target: lo, Ports: PortSet{{closed, closed}}, Mix: mix,
		Count: 1, Duration: time.Second, Concurrency: 1}); err == nil {
		t.Error("an echo mix without an echo port ran")
	}
}

package trafficgen

import (
	"context"
	"strings"
	"testing"
)

// TestHostsOnlyResolver checks that names come from /etc/hosts and that a
// name not there fails without a DNS query (the resolver's Dial refuses).
func TestHostsOnlyResolver(t *testing.T) {
	g := Guard{}
	a, err := g.Check(context.Background(), "localhost")
	if err != nil || !isLoopback(a) {
		t.Errorf("localhost = %v, %v", a, err)
	}
	_, err = g.Check(context.Background(), "no-such-host.invalid")
	if err == nil || !strings.Contains(err.Error(), "/etc/hosts") {
		t.Errorf("no-such-host.invalid: err = %v", err)
	}
}

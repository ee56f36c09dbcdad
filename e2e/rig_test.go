package e2e

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"testing"

	"scanwatch/pkg/netns"
)

// netnsRig is what the namespace tests share: the tools built, a veth pair
// of network namespaces, and trafficgen's HTTP (18080) and echo (18090)
// servers on the target, all removed when the test ends.
type netnsRig struct {
	ctx    context.Context
	bins   Bins
	p      *netns.Pair
	target string   // the target's address
	allow  []string // trafficgen's --allow-target for it
}

// newNetnsRig makes the rig on pair id idBase+rand(50), or skips the test
// where it cannot run.
func newNetnsRig(t *testing.T, ctx context.Context, idBase int) *netnsRig {
	t.Helper()
	requireLive(t)
	if why := netns.Available(); why != "" {
		t.Skip(why)
	}
	bins, err := Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := netns.New(ctx, idBase+rand.IntN(50))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	r := &netnsRig{ctx: ctx, bins: bins, p: p, target: p.TargetV4, allow: []string{"--allow-target", p.TargetV4}}
	srv := r.in(p.Target, append([]string{bins.Trafficgen, "serve", "--target", r.target, "--ports", "18080", "--echo", "18090"}, r.allow...)...)
	srvIn, err := srv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvIn.Close(); srv.Wait() })
	return r
}

// in is a command run inside namespace ns (ip netns exec execs it).
func (r *netnsRig) in(ns string, args ...string) *exec.Cmd {
	return exec.CommandContext(r.ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// client starts trafficgen (normal) in the scanner namespace.
func (r *netnsRig) client(t *testing.T, args ...string) *Background {
	t.Helper()
	b, err := StartBackground("ip", append([]string{"netns", "exec", r.p.Scanner, r.bins.Trafficgen}, append(args, r.allow...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

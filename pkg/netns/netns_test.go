package netns

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestPairIsolatedAndConnected(t *testing.T) {
	if why := Available(); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, 250)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), p.Scanner) {
			t.Errorf("namespace %s left behind", p.Scanner)
		}
	}()
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Skip("needs nmap (apt-get install nmap)")
	}
	// A connect() to a closed port across the link is refused (RST), which
	// nmap reports as "closed": the link works both ways.
	for _, dst := range []string{p.TargetV4, p.TargetV6} {
		args := []string{"-sT", "-Pn", "-n", "-p", "9", dst}
		if strings.Contains(dst, ":") {
			args = append(args, "-6")
		}
		out, err := Command(ctx, p.Scanner, "nmap", args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "9/tcp closed") {
			t.Fatalf("nmap %s across the veth: %v\n%s", dst, err, out)
		}
	}
	routes, err := Command(ctx, p.Scanner, "ip", "route", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(routes), "default") {
		t.Errorf("scanner namespace has a default route:\n%s", routes)
	}
}

package trafficgen

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePorts(t *testing.T) {
	good := map[string]struct {
		n   int
		str string
	}{
		"0-2500":         {2501, "0-2500"},
		"80":             {1, "80"},
		" 1-3, 8080 ,22": {5, "1-3,8080,22"},
		"65535":          {1, "65535"},
	}
	for in, want := range good {
		ps, err := ParsePorts(in)
		if err != nil {
			t.Errorf("ParsePorts(%q): %v", in, err)
			continue
		}
		if ps.Len() != want.n || ps.String() != want.str {
			t.Errorf("ParsePorts(%q) = %v (len %d), want %s (len %d)", in, ps, ps.Len(), want.str, want.n)
		}
	}
	bad := map[string]string{
		"":        "empty",
		"10-5":    "reversed",
		"70000":   "out of range",
		"a-b":     "not a port number",
		"1,,2":    "empty item",
		"-5":      "not a port number",
		"1-65536": "out of range",
	}
	for in, msg := range bad {
		_, err := ParsePorts(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParsePorts(%q) error = %v, want one containing %q", in, err, msg)
		}
	}
	ps, _ := ParsePorts("5-7,100")
	var got []uint16
	for i := range ps.Len() {
		got = append(got, ps.At(i))
	}
	if !reflect.DeepEqual(got, []uint16{5, 6, 7, 100}) {
		t.Errorf("At over 5-7,100 = %v", got)
	}
}

func TestParseTechniques(t *testing.T) {
	ts, err := ParseTechniques("sT,-sS,fin,NULL,xmas,sT")
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, x := range ts {
		flags = append(flags, x.Flag)
	}
	if strings.Join(flags, " ") != "-sT -sS -sF -sN -sX" {
		t.Errorf("flags = %v", flags)
	}
	if _, err := ParseTechniques("sT,sU"); err == nil || !strings.Contains(err.Error(), `unknown technique "sU"`) {
		t.Errorf("sU: err = %v", err)
	}
}

func fakeLookup(m map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, h string) ([]netip.Addr, error) {
		ss, ok := m[h]
		if !ok {
			return nil, fmt.Errorf("lookup %s: no such host", h)
		}
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	}
}

func TestGuard(t *testing.T) {
	veth := func() ([]netip.Prefix, error) {
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("198.18.0.1/30"), netip.MustParsePrefix("fd00::1/64")}, nil
	}
	allow, err := ParseAllow([]string{"198.18.0.2", "fd00::2", "198.18.5.5"})
	if err != nil {
		t.Fatal(err)
	}
	g := Guard{
		Allow:         allow,
		LocalPrefixes: veth,
		Lookup: fakeLookup(map[string][]string{
			"localhost": {"127.0.0.1", "::1"},
			"evil":      {"127.0.0.1", "93.184.216.34"},
			"elsewhere": {"10.1.2.3"},
			"ns":        {"198.18.0.2"},
		}),
	}
	ok := map[string]string{
		"127.0.0.1":        "127.0.0.1",
		"127.9.8.7":        "127.9.8.7",
		"::1":              "::1",
		"[::1]":            "::1",
		"::ffff:127.0.0.1": "127.0.0.1",
		"localhost":        "127.0.0.1",
		"198.18.0.2":       "198.18.0.2",
		"fd00::2":          "fd00::2",
		"ns":               "198.18.0.2",
	}
	for in, want := range ok {
		a, err := g.Check(context.Background(), in)
		if err != nil || a.String() != want {
			t.Errorf("Check(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	refused := []string{"10.0.0.1", "8.8.8.8", "198.18.0.3", "2001:db8::1", "evil", "elsewhere", "192.168.1.1"}
	for _, in := range refused {
		if _, err := g.Check(context.Background(), in); !errors.Is(err, ErrTargetRefused) {
			t.Errorf("Check(%q) err = %v, want ErrTargetRefused", in, err)
		}
	}
	// Allowed by name but not on a local subnet: would leave through a gateway.
	if _, err := g.Check(context.Background(), "198.18.5.5"); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("198.18.5.5 off-link: err = %v", err)
	}
	if _, err := g.Check(context.Background(), "nosuch"); err == nil || !strings.Contains(err.Error(), "cannot resolve") {
		t.Errorf("nosuch: err = %v", err)
	}
	for _, bad := range []string{"8.8.8.8", "10.0.0.1", "example.com"} {
		if _, err := ParseAllow([]string{bad}); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
}

func TestParseSource(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	if a, err := ParseSource("127.0.0.3", lo); err != nil || a.String() != "127.0.0.3" {
		t.Errorf("127.0.0.3: %v %v", a, err)
	}
	for _, bad := range []string{"10.0.0.1", "::1", "x"} {
		if _, err := ParseSource(bad, lo); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		}
	}
}

func TestScanArgs(t *testing.T) {
	syn, _ := TechniqueByName("syn")
	ports, _ := ParsePorts("0-2500")
	o := ScanOptions{
		Target: netip.MustParseAddr("127.0.0.1"), Technique: syn, Ports: ports, Timing: 4,
		ScanDelay: 1500 * time.Millisecond, MaxRetries: 1, Source: netip.MustParseAddr("127.0.0.3"), SourcePort: 5353,
	}
	want := "nmap -sS -Pn -n -p 0-2500 -T4 --scan-delay 1500ms --max-retries 1 -S 127.0.0.3 -e lo -g 5353 127.0.0.1"
	if got := o.CommandLine(); got != want {
		t.Errorf("CommandLine\n got %s\nwant %s", got, want)
	}
	o6 := ScanOptions{Target: netip.IPv6Loopback(), Technique: syn, Ports: ports, Timing: -1}
	if got := strings.Join(o6.Args(), " "); got != "-sS -Pn -n -p 0-2500 -6 --max-retries 0 ::1" {
		t.Errorf("v6 args = %s", got)
	}
}

func planConfig(t *testing.T) PlanConfig {
	ts, err := ParseTechniques(DefaultTechniques)
	if err != nil {
		t.Fatal(err)
	}
	span, _ := ParsePorts("0-2500")
	normal, _ := ParsePorts("1-12000")
	return PlanConfig{Techniques: ts, ScanSpan: span, ScanPortsMin: 24, ScanPortsMax: 60, NormalPorts: normal, Serve: []uint16{18080, 18081}}
}

func TestPlanDeterministic(t *testing.T) {
	cfg := planConfig(t)
	a, err := Plan(42, 2000, 0.10, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(42, 2000, 0.10, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different plans")
	}
	c, _ := Plan(43, 2000, 0.10, cfg)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same plan")
	}
	// A prefix of a longer plan is the shorter plan: steps do not depend on
	// how many follow.
	short, _ := Plan(42, 100, 0.10, cfg)
	if !reflect.DeepEqual(short, a[:100]) {
		t.Error("Plan(42, 100) is not a prefix of Plan(42, 2000)")
	}
	scans, techs, actions := 0, map[string]int{}, map[Action]int{}
	for i, s := range a {
		if s.Index != i {
			t.Fatalf("step %d has index %d", i, s.Index)
		}
		switch s.Kind {
		case KindScan:
			scans++
			techs[s.Technique.Short()]++
			n := s.Ports.Len()
			if n < 24 || n > 60 {
				t.Errorf("step %d scans %d ports", i, n)
			}
			for _, r := range s.Ports {
				if r.Hi > 2500 {
					t.Errorf("step %d scans outside the span: %v", i, s.Ports)
				}
			}
		case KindNormal:
			actions[s.Normal.Action]++
			if s.Normal.Action == ActionSweep && (s.Normal.Port < 1 || s.Normal.Port > 12000) {
				t.Errorf("step %d sweeps port %d", i, s.Normal.Port)
			}
		default:
			t.Fatalf("step %d kind %q", i, s.Kind)
		}
	}
	// 2000 Bernoulli(0.1) draws: mean 200, sd ≈ 13.4; ±5 sd.
	if scans < 133 || scans > 267 {
		t.Errorf("%d scans in 2000 steps at p=0.1", scans)
	}
	if len(techs) != 5 {
		t.Errorf("techniques used: %v", techs)
	}
	if len(actions) != 4 {
		t.Errorf("normal actions used: %v", actions)
	}
	if none, _ := Plan(1, 500, 0, cfg); countKind(none, KindScan) != 0 {
		t.Error("p=0 planned scans")
	}
	if all, _ := Plan(1, 500, 1, cfg); countKind(all, KindScan) != 500 {
		t.Error("p=1 planned normal steps")
	}
}

func countKind(plan []Step, kind string) int {
	n := 0
	for _, s := range plan {
		if s.Kind == kind {
			n++
		}
	}
	return n
}

func TestPlanErrors(t *testing.T) {
	cfg := planConfig(t)
	for _, p := range []float64{-0.1, 1.5} {
		if _, err := Plan(1, 10, p, cfg); err == nil {
			t.Errorf("p=%g accepted", p)
		}
	}
	cfg.ScanPortsMin = 0
	if _, err := Plan(1, 10, 0.1, cfg); err == nil {
		t.Error("empty scan window accepted")
	}
}

func TestPlanNormalDeterministic(t *testing.T) {
	ports, _ := ParsePorts("1-12000")
	for i := range 50 {
		a, b := PlanNormal(7, i, ports, []uint16{80}), PlanNormal(7, i, ports, []uint16{80})
		if a != b {
			t.Fatalf("PlanNormal(7, %d) not deterministic", i)
		}
	}
}

func TestPreflight(t *testing.T) {
	if _, err := preflight("/nonexistent/nmap", nil, 0); err == nil || !strings.Contains(err.Error(), "apt-get install nmap") {
		t.Errorf("missing nmap: err = %v", err)
	}
	sh := "sh" // any binary on PATH stands in for nmap here; nothing is run
	connect, _ := ParseTechniques("sT")
	raw, _ := ParseTechniques("sT,sF")
	if _, err := preflight(sh, connect, 1000); err != nil {
		t.Errorf("connect scan as non-root: %v", err)
	}
	if _, err := preflight(sh, raw, 1000); err == nil || !strings.Contains(err.Error(), "needs root") || !strings.Contains(err.Error(), "sF") {
		t.Errorf("raw scan as non-root: err = %v", err)
	}
	if _, err := preflight(sh, raw, 0); err != nil {
		t.Errorf("raw scan as root: %v", err)
	}
}

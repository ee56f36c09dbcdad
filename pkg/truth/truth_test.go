package truth

import (
	"net/netip"
	"testing"

	"scanwatch/pkg/row"
)

func TestLabel(t *testing.T) {
	r, err := Compile([]Scanner{
		{Address: "10.0.0.5", Ports: "1-1000,8443"}, // also a client of port 8080
		{Address: "10.0.0.6"},
		{Address: "10.0.0.8", Hosts: []string{"10.0.9.1", "10.0.9.2"}}, // a client of other hosts too
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  string
		port uint16
		want int
	}{
		{"10.0.0.5", 22, 1}, {"10.0.0.5", 8443, 1}, {"10.0.0.5", 8080, 0},
		{"10.0.0.6", 8080, 1}, {"10.0.0.7", 22, 0}, {"::ffff:10.0.0.6", 1, 1},
	} {
		x := row.Row{SrcIP: netip.MustParseAddr(c.src), DstIP: netip.MustParseAddr("10.0.9.1"), DstPort: c.port}
		if got, _ := r.Label(&x); got != c.want {
			t.Errorf("%s -> %d: label %d, want %d", c.src, c.port, got, c.want)
		}
	}
	for dst, want := range map[string]int{"10.0.9.2": 1, "10.0.9.3": 0} {
		x := row.Row{SrcIP: netip.MustParseAddr("10.0.0.8"), DstIP: netip.MustParseAddr(dst), DstPort: 443}
		if got, _ := r.Label(&x); got != want {
			t.Errorf("10.0.0.8 -> %s: label %d, want %d", dst, got, want)
		}
	}
	for _, bad := range []Scanner{{Address: "x"}, {Address: "10.0.0.1", Ports: "5-1"}, {Address: "10.0.0.1", Ports: "70000"}, {Address: "10.0.0.1", Hosts: []string{"x"}}} {
		if _, err := Compile([]Scanner{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

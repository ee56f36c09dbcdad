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
		x := row.Row{SrcIP: netip.MustParseAddr(c.src), DstPort: c.port}
		if got, _ := r.Label(&x); got != c.want {
			t.Errorf("%s -> %d: label %d, want %d", c.src, c.port, got, c.want)
		}
	}
	for _, bad := range []Scanner{{Address: "x"}, {Address: "10.0.0.1", Ports: "5-1"}, {Address: "10.0.0.1", Ports: "70000"}} {
		if _, err := Compile([]Scanner{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

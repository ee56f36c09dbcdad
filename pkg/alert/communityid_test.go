package alert

import (
	"net/netip"
	"testing"
)

// The published test vectors of the Community ID spec,
// github.com/corelight/community-id-spec, baseline/baseline_deflt.json
// (seed 0) and baseline/baseline_seed1.json (seed 1) at commit c4ec2bc: its
// port-based flows (TCP 6, UDP 17, SCTP 132), each in both directions.
func TestCommunityIDSpecVectors(t *testing.T) {
	cases := []struct {
		proto        uint8
		saddr, daddr string
		sport, dport uint16
		seed0, seed1 string
	}{
		{6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25,
			"1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
		{6, "128.232.110.120", "66.35.250.204", 34855, 80,
			"1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
		{17, "192.168.1.52", "8.8.8.8", 54585, 53,
			"1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
		{132, "192.168.170.8", "192.168.170.56", 7, 7,
			"1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
	}
	for _, c := range cases {
		s, d := netip.MustParseAddr(c.saddr), netip.MustParseAddr(c.daddr)
		for seed, want := range map[uint16]string{0: c.seed0, 1: c.seed1} {
			if got := CommunityID(seed, c.proto, s, c.sport, d, c.dport); got != want {
				t.Errorf("%d %s:%d → %s:%d seed %d: %s, want %s", c.proto, s, c.sport, d, c.dport, seed, got, want)
			}
			if got := CommunityID(seed, c.proto, d, c.dport, s, c.sport); got != want {
				t.Errorf("%d %s:%d → %s:%d seed %d (reversed): %s, want %s", c.proto, d, c.dport, s, c.sport, seed, got, want)
			}
		}
	}
	// The Zeek plugin's own test: 1.2.3.4:1122 → 5.6.7.8:3344 over TCP.
	if got := CommunityID(0, ProtoTCP, netip.MustParseAddr("1.2.3.4"), 1122, netip.MustParseAddr("5.6.7.8"), 3344); got != "1:wCb3OG7yAFWelaUydu0D+125CLM=" {
		t.Errorf("zeek's vector: %s", got)
	}
}

package capture

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// TestFlowHashIsTheFanoutProgram runs the kernel's fanout program (with
// loads relative to an Ethernet header instead of the kernel's network
// header offset) in the x/net/bpf VM beside FlowHash, on IPv4 and IPv6
// packets with and without TCP, fragments, odd header lengths, truncated
// packets and garbage: the two agree on every one, and both directions of
// a flow hash alike.
func TestFlowHashIsTheFanoutProgram(t *testing.T) {
	vm, err := bpf.NewVM(fanoutProgram(14))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(fanoutProgram(skfNetOff)); err != nil {
		t.Fatal(err)
	}
	hash := FlowHash(layers.LinkTypeEthernet)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		p := randomFrame(rng)
		got, err := vm.Run(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := hash(p); uint32(got) != want {
			t.Fatalf("packet % x: program %d, FlowHash %d", p, got, want)
		}
		if r := reverse(p); r != nil && hash(r) != hash(p) {
			t.Fatalf("packet % x and its reverse hash apart", p)
		}
	}
}

func randomFrame(rng *rand.Rand) []byte {
	p := make([]byte, 14, 128)
	switch rng.IntN(10) {
	case 0: // garbage of any length
		return append(p[:0], randBytes(rng, rng.IntN(80))...)
	case 1, 2, 3, 4, 5:
		binary.BigEndian.PutUint16(p[12:], 0x0800)
		ip := randBytes(rng, 20+4*rng.IntN(3))
		ip[0] = 0x40 | byte(len(ip)/4)
		if rng.IntN(8) == 0 {
			ip[0] = 0x40 | byte(rng.IntN(16))
		}
		ip[9] = []byte{6, 6, 6, 17, 1}[rng.IntN(5)]
		ip[6], ip[7] = 0, 0
		if rng.IntN(5) == 0 {
			ip[6], ip[7] = byte(rng.IntN(256)), byte(rng.IntN(256))
		}
		p = append(p, ip...)
	default:
		binary.BigEndian.PutUint16(p[12:], 0x86dd)
		ip := randBytes(rng, 40)
		ip[0] = 0x60
		ip[6] = []byte{6, 6, 17, 0, 43}[rng.IntN(5)]
		p = append(p, ip...)
	}
	p = append(p, randBytes(rng, 20)...)
	return p[:rng.IntN(len(p)+1)]
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// reverse swaps addresses and ports of a whole TCP packet, or returns nil.
func reverse(p []byte) []byte {
	r := append([]byte(nil), p...)
	if len(r) < 14+1 {
		return nil
	}
	ip := r[14:]
	var a, b, n, tcp int
	switch ip[0] >> 4 {
	case 4:
		a, b, n, tcp = 12, 16, 4, int(ip[0]&0xf)*4
	case 6:
		a, b, n, tcp = 8, 24, 16, 40
	default:
		return nil
	}
	if tcp < 20 || len(ip) < tcp+4 || len(ip) < b+n {
		return nil
	}
	for i := 0; i < n; i++ {
		ip[a+i], ip[b+i] = ip[b+i], ip[a+i]
	}
	ip[tcp], ip[tcp+1], ip[tcp+2], ip[tcp+3] = ip[tcp+2], ip[tcp+3], ip[tcp], ip[tcp+1]
	return r
}

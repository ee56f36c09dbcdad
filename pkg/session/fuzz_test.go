package session

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
)

// FuzzPacket decodes arbitrary bytes as a packet of every supported link
// type: no panic, and the counters account for every packet.
func FuzzPacket(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	data, err := os.ReadFile("../../testdata/pcap/nmap-lo.pcap")
	if err == nil && len(data) > 24+16+74 {
		f.Add(data[24+16:24+16+74], uint8(0))
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12}
	f.Fuzz(func(t *testing.T, pkt []byte, link uint8) {
		dec, err := NewDecoder(links[int(link)%len(links)])
		if err != nil {
			t.Fatal(err)
		}
		var rows int
		tab := NewTable(Config{}, func(r *row.Row) error {
			rows++
			if msg := r.Valid(); msg != "" {
				t.Fatalf("invalid row: %s", msg)
			}
			return nil
		})
		for i := 0; i < 3; i++ {
			if err := tab.Packet(pkt, int64(i)*1e9, dec); err != nil {
				t.Fatal(err)
			}
		}
		tab.Flush()
		st := tab.Stats()
		if st.TCP+st.NonTCP+st.Malformed+st.Filtered != st.Packets {
			t.Fatalf("packets unaccounted for: %+v", st)
		}
	})
}

// FuzzCapture reads arbitrary bytes as a capture file: an error or rows,
// never a panic.
func FuzzCapture(f *testing.F) {
	for _, name := range []string{"nmap-lo.pcap", "curl-lo.pcap.gz", "nmap-lo.pcapng", "truncated.pcap"} {
		if data, err := os.ReadFile("../../testdata/pcap/" + name); err == nil {
			if len(data) > 4096 {
				data = data[:4096]
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := capture.OpenReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		dec, err := NewDecoder(src.Link)
		if err != nil {
			return
		}
		tab := NewTable(Config{MaxSessions: 64}, func(*row.Row) error { return nil })
		tab.Run(context.Background(), src, dec, RunOptions{})
	})
}

// FuzzFastPathAgrees: wherever the hand decoder accepts a packet, the
// DecodingLayerParser must decode it to the same fields.
func FuzzFastPathAgrees(f *testing.F) {
	data, err := os.ReadFile("../../testdata/pcap/nmap-lo.pcap")
	if err == nil {
		for off := 24; off+16 < len(data) && off < 6000; {
			n := int(data[off+8]) | int(data[off+9])<<8
			f.Add(data[off+16 : off+16+n])
			off += 16 + n
		}
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		fast, _ := NewDecoder(layers.LinkTypeEthernet)
		slow, _ := NewDecoder(layers.LinkTypeEthernet)
		slow.fast = false
		if !fast.fastEthernetIPv4TCP(pkt, 7) {
			return
		}
		if got := slow.decode(pkt, 7); got != decodedTCP {
			t.Fatalf("fast path accepted a packet the parser calls %d", got)
		}
		if fast.pkt != slow.pkt {
			t.Fatalf("fast %+v\nslow %+v", fast.pkt, slow.pkt)
		}
	})
}

package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ether(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: et}
}

// rowsOf runs raw Ethernet frames through a table.
func rowsOf(t *testing.T, frames ...[]byte) ([]row.Row, Stats) {
	t.Helper()
	dec, _ := NewDecoder(layers.LinkTypeEthernet)
	var rows []row.Row
	tab := NewTable(Config{}, func(r *row.Row) error { rows = append(rows, *r); return nil })
	for i, f := range frames {
		if err := tab.Packet(f, ns(time.Duration(i)*time.Millisecond), dec); err != nil {
			t.Fatal(err)
		}
	}
	tab.Flush()
	return rows, tab.Stats()
}

func TestIPv4OptionsAreSkipped(t *testing.T) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2},
		Options: []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}}} // record route
	tcp := &layers.TCP{SrcPort: 1000, DstPort: 80, SYN: true, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	rows, st := rowsOf(t, serialize(t, ether(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload([]byte("hi"))))
	if len(rows) != 1 || rows[0].DstPort != 80 || rows[0].SYN != 1 || rows[0].SrcBytes != 2 || st.Malformed != 0 {
		t.Fatalf("rows %+v stats %+v", rows, st)
	}
}

func TestIPv6ExtensionHeadersAreSkipped(t *testing.T) {
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolTCP
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}} // PadN
	ip := &layers.IPv6{Version: 6, HopLimit: 9, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2"), HopByHop: hbh}
	tcp := &layers.TCP{SrcPort: 1000, DstPort: 443, FIN: true}
	tcp.SetNetworkLayerForChecksum(ip)
	rows, st := rowsOf(t, serialize(t, ether(layers.EthernetTypeIPv6), ip, tcp, gopacket.Payload([]byte("abc"))))
	if len(rows) != 1 || rows[0].DstPort != 443 || rows[0].FIN != 1 || rows[0].InitTTL != 9 || rows[0].SrcBytes != 3 || st.Malformed != 0 {
		t.Fatalf("rows %+v stats %+v", rows, st)
	}
}

func TestFragmentsAreCountedNotSessions(t *testing.T) {
	mk := func(flags layers.IPv4Flag, off uint16) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}, Flags: flags, FragOffset: off}
		return serialize(t, ether(layers.EthernetTypeIPv4), ip, gopacket.Payload(make([]byte, 24)))
	}
	rows, st := rowsOf(t, mk(layers.IPv4MoreFragments, 0), mk(0, 3))
	if len(rows) != 0 || st.NonTCP != 2 {
		t.Fatalf("rows %d stats %+v", len(rows), st)
	}
}

// TestSnaplenCutPackets writes a pcap whose packets were cut at 54 bytes
// (Ethernet+IPv4+TCP headers) and checks payload bytes still come from
// the IP length.
func TestSnaplenCutPackets(t *testing.T) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 5, DstPort: 80, PSH: true, ACK: true}
	tcp.SetNetworkLayerForChecksum(ip)
	full := serialize(t, ether(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(make([]byte, 1000)))
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	w.WriteFileHeader(54, layers.LinkTypeEthernet)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 54, Length: len(full)}, full[:54])
	src, err := capture.OpenReader(&b, "cut.pcap")
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := NewDecoder(src.Link)
	var rows []row.Row
	tab := NewTable(Config{}, func(r *row.Row) error { rows = append(rows, *r); return nil })
	if err := tab.Run(context.Background(), src, dec, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].SrcBytes != 1000 || rows[0].PSH != 1 {
		t.Fatalf("rows %+v stats %+v", rows, tab.Stats())
	}
}

// TestPcapngUnknownBlocksAreSkipped inserts a block of an unknown type
// after the interface description of a real pcapng capture: the rows must
// be those of the original.
func TestPcapngUnknownBlocksAreSkipped(t *testing.T) {
	data, err := os.ReadFile("../../testdata/pcap/nmap-lo.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	// Section header block, then interface description block.
	shb := int(binary.LittleEndian.Uint32(data[4:8]))
	idb := int(binary.LittleEndian.Uint32(data[shb+4 : shb+8]))
	unknown := make([]byte, 16)
	binary.LittleEndian.PutUint32(unknown[0:], 0x00000BAD)
	binary.LittleEndian.PutUint32(unknown[4:], 16)
	binary.LittleEndian.PutUint32(unknown[8:], 0xdeadbeef)
	binary.LittleEndian.PutUint32(unknown[12:], 16)
	at := shb + idb
	patched := append(append(append([]byte{}, data[:at]...), unknown...), data[at:]...)
	count := func(b []byte) int {
		src, err := capture.OpenReader(bytes.NewReader(b), "x.pcapng")
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := NewDecoder(src.Link)
		n := 0
		tab := NewTable(Config{}, func(*row.Row) error { n++; return nil })
		if err := tab.Run(context.Background(), src, dec, RunOptions{}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, b := count(data), count(patched); a != b || a == 0 {
		t.Fatalf("original %d sessions, with an unknown block %d", a, b)
	}
}

// TestRawIPLinkCarriesBothVersions feeds raw-IP frames (no link header),
// IPv4 and IPv6 with a hop-by-hop header, to a raw-IP decoder.
func TestRawIPLinkCarriesBothVersions(t *testing.T) {
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolTCP
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 9, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2"), HopByHop: hbh}
	tcp6 := &layers.TCP{SrcPort: 1000, DstPort: 443, SYN: true}
	tcp6.SetNetworkLayerForChecksum(ip6)
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	tcp4 := &layers.TCP{SrcPort: 1000, DstPort: 80, SYN: true}
	tcp4.SetNetworkLayerForChecksum(ip4)
	dec, _ := NewDecoder(layers.LinkTypeRaw)
	var rows []row.Row
	tab := NewTable(Config{}, func(r *row.Row) error { rows = append(rows, *r); return nil })
	tab.Packet(serialize(t, ip6, tcp6, gopacket.Payload([]byte("abc"))), ns(0), dec)
	tab.Packet(serialize(t, ip4, tcp4, gopacket.Payload([]byte("de"))), ns(time.Millisecond), dec)
	tab.Flush()
	if len(rows) != 2 || rows[0].DstPort != 443 || rows[0].SrcBytes != 3 || rows[1].DstPort != 80 || rows[1].SrcBytes != 2 {
		t.Fatalf("rows %+v stats %+v", rows, tab.Stats())
	}
}

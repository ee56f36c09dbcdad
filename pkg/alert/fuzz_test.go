package alert

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"scanwatch/pkg/row"
)

// FuzzDetector feeds arbitrary rows (times jumping back and forth, any
// flags, any addresses) under tiny caps: no panic, and the books balance.
func FuzzDetector(f *testing.F) {
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"))
	f.Add(make([]byte, 160))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := NewDetector(Config{MinSessions: 2, Window: time.Second, Quiet: 2 * time.Second, Update: time.Second,
			MaxScanners: 3, MaxWindow: 5, MaxEpisodes: 2}, true)
		if err != nil {
			t.Fatal(err)
		}
		starts, ends := 0, 0
		count := func(evs []Event) {
			for _, e := range evs {
				switch e.State {
				case Start:
					starts++
				case End:
					ends++
				}
				AppendEVE(nil, &e, Sensor{Host: "h", InIface: "i"})
				AppendText(nil, &e)
			}
		}
		for len(data) >= 8 {
			v := binary.LittleEndian.Uint64(data)
			data = data[8:]
			r := row.Row{
				StartRequest: int64(v&0xffff) * int64(100*time.Millisecond),
				SrcIP:        netip.AddrFrom4([4]byte{10, 0, 0, byte(v >> 16 & 7)}),
				DstIP:        netip.AddrFrom4([4]byte{10, 0, 1, byte(v >> 19 & 3)}),
				DstPort:      uint16(v >> 21),
				SYN:          int(v >> 37 & 3), ACK: int(v >> 39 & 3), FIN: int(v >> 41 & 1), RST: int(v >> 42 & 1),
				URG: int(v >> 43 & 1), PSH: int(v >> 44 & 1), Packets: int(v >> 45 & 3), InitOptLen: int(v >> 47 & 31),
				DstPackets: int(v >> 52 & 1), StartResponse: int64(v>>53&1) * 1e9,
			}
			evs, err := d.Observe(&r, v>>54&1 == 1)
			if err != nil {
				if err != ErrNoTime || EndTime(&r) != 0 {
					t.Fatal(err)
				}
				continue
			}
			count(evs)
			if got := Classify(&r).String(); got == "" {
				t.Fatal("empty technique name")
			}
		}
		count(d.Close())
		st := d.Stats()
		if starts != ends || starts != st.Alerts || st.Open != 0 {
			t.Fatalf("starts %d ends %d stats %+v", starts, ends, st)
		}
	})
}

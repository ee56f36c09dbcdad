package row

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// The sensor column is a known column after prediction, written quoted
// where CSV or JSON needs it and read back as it was, in both formats.
func TestSensorColumnRoundTrips(t *testing.T) {
	s := NewSchema([]Column{Sensor, StartRequestTime, SrcIP, Prediction}, []string{"note"})
	if got := strings.Join(s.Header(), ","); got != "start_request_time,src_ip,prediction,sensor,note" {
		t.Fatalf("header %s", got)
	}
	for _, format := range Formats {
		for _, name := range []string{"dmz-1", "site, with comma", `quote"d`, "123", "0", ""} {
			var b bytes.Buffer
			w, err := NewWriter(&b, format, s, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			in := Row{StartRequest: 1e18, SrcIP: netip.MustParseAddr("10.0.0.1"), Prediction: 1, Sensor: name, Extra: []string{"x"}}
			if err := w.Write(&in); err != nil {
				t.Fatal(err)
			}
			w.Close()
			rd, err := NewReader(&b, "t", "auto")
			if err != nil {
				t.Fatal(err)
			}
			rows, err := ReadAll(rd)
			if err != nil || len(rows) != 1 {
				t.Fatalf("%s %q: %v %v\n%s", format, name, rows, err, b.String())
			}
			if rows[0].Sensor != name || !rd.Schema().Has(Sensor) {
				t.Errorf("%s: sensor %q read back as %q", format, name, rows[0].Sensor)
			}
		}
	}
}

// A raw (unparsed) sensor value stays a JSON string even when it looks
// like a number.
func TestRawSensorStaysAString(t *testing.T) {
	rd, err := NewReaderWith(strings.NewReader("src_ip,sensor\n10.0.0.1,42\n"), "t", "csv", ReaderOptions{Parse: []Column{SrcIP}})
	if err != nil {
		t.Fatal(err)
	}
	var r Row
	if err := rd.Read(&r); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, _ := NewWriter(&b, "ndjson", rd.Schema(), WriterOptions{})
	w.Write(&r)
	w.Close()
	if got := b.String(); got != `{"src_ip":"10.0.0.1","sensor":"42"}`+"\n" {
		t.Errorf("got %s", got)
	}
}

// LineDecoder reads lines that stand alone: each with its own columns,
// unknown keys skipped, errors located.
func TestLineDecoder(t *testing.T) {
	var d LineDecoder
	var r Row
	set, err := d.Decode("bus", 1, []byte(`{"src_ip":"10.0.0.1","start_request_time":"2026-01-02 03:04:05.000001","prediction":1,"sensor":"s1","extra":"x"}`), &r)
	if err != nil {
		t.Fatal(err)
	}
	if !set.Has(SrcIP) || !set.Has(Sensor) || set.Has(Score) || r.Sensor != "s1" || r.Prediction != 1 || r.StartRequest == 0 {
		t.Errorf("set %b row %+v", set, r)
	}
	if m := set.Missing(Prediction, Score, DstIP); fmt.Sprint(m) != "[score dst_ip]" {
		t.Errorf("missing %v", m)
	}
	// The next line has other columns, and nothing of the first is left.
	set, err = d.Decode("bus", 2, []byte(`{"dst_port":80}`), &r)
	if err != nil || set.Has(SrcIP) || r.SrcIP.IsValid() || r.Sensor != "" || r.DstPort != 80 {
		t.Errorf("second line: %v %+v", err, r)
	}
	for _, bad := range []string{`{"src_ip":"nope"}`, `[1]`, `{"duration":-1}`, `{"sensor":"\xff"}`} {
		if _, err := d.Decode("bus", 3, []byte(bad), &r); err == nil || !strings.HasPrefix(err.Error(), "read bus line 3") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func ExampleLineDecoder() {
	var d LineDecoder
	var r Row
	set, err := d.Decode("message 7", 1, []byte(`{"src_ip":"198.18.5.10","dst_port":22,"prediction":1,"sensor":"dmz-1"}`), &r)
	fmt.Println(r.SrcIP, r.DstPort, r.Sensor, set.Has(Prediction), set.Missing(StartRequestTime), err)
	// Output: 198.18.5.10 22 dmz-1 true [start_request_time] <nil>
}

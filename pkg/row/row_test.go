package row

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// harvesterBad is a sample of the predecessor's (nmap-harvester's) scan
// rows in its own format: every 20th row of its train/bad.csv.
const harvesterBad = "../../testdata/harvester/bad.csv"

func readAll(t *testing.T, r Reader) []Row {
	t.Helper()
	rows, err := ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestReadHarvesterCSV reads the predecessor's CSV as it is: endpoints as
// Python list literals, times without a zone.
func TestReadHarvesterCSV(t *testing.T) {
	f, err := os.Open(harvesterBad)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewReader(f, "bad.csv", "auto")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Schema().Has(Label) || len(r.Schema().Extra) != 0 {
		t.Fatalf("schema %v", r.Schema().Header())
	}
	rows := readAll(t, r)
	if len(rows) != 634 {
		t.Fatalf("rows = %d, want 634", len(rows))
	}
	x := rows[0]
	if x.SrcIP.String() != "172.31.0.2" || x.DstIP.String() != "172.31.0.1" || x.SrcPort != 52666 || x.DstPort != 22 {
		t.Errorf("endpoints %v:%d -> %v:%d", x.SrcIP, x.SrcPort, x.DstIP, x.DstPort)
	}
	if x.SYN != 1 || x.ACK != 1 || x.RST != 1 || x.Label != 1 || x.Duration != 4.8e-05 {
		t.Errorf("row 0 = %+v", x)
	}
	var b bytes.Buffer
	w, _ := NewWriter(&b, "csv", r.Schema(), WriterOptions{})
	w.Write(&x)
	w.Close()
	want := "start_request_time,end_request_time,start_response_time,end_response_time,duration,src_ip,dst_ip,src_port,dst_port,SYN,ACK,FIN,RST,URG,PSH,label\n" +
		"2025-01-15 12:49:08.025898,2025-01-15 12:49:08.025898,2025-01-15 12:49:08.025946,2025-01-15 12:49:08.025946,0.000048,172.31.0.2,172.31.0.1,52666,22,1,1,0,1,0,0,1\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestRoundTripPassesUnknownColumns(t *testing.T) {
	in := "src_ip,note,SYN,dst_port,score,label,zz\n" +
		"::1,\"a, b\",3,80,0.25,1,7\n" +
		"127.0.0.1,,0,443,1,0,\n"
	for _, format := range []string{"csv", "ndjson"} {
		r, err := NewReader(strings.NewReader(in), "in.csv", "auto")
		if err != nil {
			t.Fatal(err)
		}
		rows := readAll(t, r)
		var b bytes.Buffer
		w, _ := NewWriter(&b, format, r.Schema(), WriterOptions{})
		for i := range rows {
			if err := w.Write(&rows[i]); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		r2, err := NewReader(bytes.NewReader(b.Bytes()), "out", "auto")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(r2.Schema().Header(), ","); got != "src_ip,dst_port,SYN,label,score,note,zz" {
			t.Errorf("%s header %s", format, got)
		}
		rows2 := readAll(t, r2)
		if len(rows2) != 2 || rows2[0].Extra[0] != "a, b" || rows2[0].Extra[1] != "7" || rows2[0].Score != 0.25 ||
			rows2[1].SrcIP.String() != "127.0.0.1" || rows2[1].DstPort != 443 || rows2[0].SYN != 3 {
			t.Errorf("%s round trip:\n%s\n%+v", format, b.String(), rows2)
		}
	}
}

func TestBadInputNamesFileLineColumn(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "read x.csv: empty input: no header line"},
		{"SYN,ACK\n1,2\n1,x\n", `read x.csv line 3: column ACK: "x" is not an integer`},
		{"SYN,ACK\n1,2\n1\n", "read x.csv line 3: wrong number of fields: 1, the header has 2"},
		{"duration\nNaN\n", `read x.csv line 2: column duration: "NaN" is not a finite number`},
		{"duration\n-1\n", "read x.csv line 2: duration is negative"},
		{"src_port\n70000\n", `column src_port: "70000" is not a port number`},
		{"start_request_time\n2025-13-01 00:00:00\n", "is not a time"},
		{"{\"SYN\":1}\n{\"SYN\":\"q\"}\n", `read x.csv line 2: column SYN: "q" is not an integer`},
		{"{\"SYN\":1}\n{\"new\":1}\n", "line 2: column new: not in the first line's columns"},
		{"{\"SYN\":1}\n{\"SYN\":1\n", "line 2: unexpected end of line"},
		{"SYN\n" + strings.Repeat("1", MaxLineBytes+10) + "\n", "line longer than"},
	}
	for _, c := range cases {
		r, err := NewReader(strings.NewReader(c.in), "x.csv", "auto")
		if err == nil {
			for err == nil {
				var x Row
				err = r.Read(&x)
			}
		}
		var re *Error
		if err == io.EOF || !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("input %.30q: error %v, want %q", c.in, err, c.want)
		}
	}
}

func TestTimeFormat(t *testing.T) {
	for _, s := range []string{"2025-01-15 12:49:08.025898", "1969-12-31 23:59:59.999999", "2000-02-29 00:00:00.000001", "2100-03-01 12:00:00.000000"} {
		ns, err := parseTime(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(new(timeCache).appendTime(nil, ns)); got != s {
			t.Errorf("%s -> %d -> %s", s, ns, got)
		}
	}
	if ns, _ := parseTime("1970-01-01 00:00:01.5"); ns != 1_500_000_000 {
		t.Errorf("fraction: %d", ns)
	}
}

func TestUnknownFormatIsNamed(t *testing.T) {
	_, err := NewWriter(io.Discard, "xml", NewSchema(Harvester(), nil), WriterOptions{})
	if err == nil || !strings.Contains(err.Error(), `unknown format "xml" (known: csv, ndjson)`) {
		t.Fatal(err)
	}
}

// TestUnparsedColumnsPassThrough reads only SYN; every other column must
// come out exactly as it went in, in both formats.
func TestUnparsedColumnsPassThrough(t *testing.T) {
	in := "start_request_time,duration,src_ip,SYN,label,note\n" +
		"2025-01-15 12:49:08.025898,4.8e-05,::1,3,1,\"x, y\"\n" +
		"0,0.5,10.0.0.1,0,0,\n"
	r, err := NewReaderWith(strings.NewReader(in), "in", "csv", ReaderOptions{Parse: []Column{SYN}})
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, r)
	if rows[0].SYN != 3 || rows[0].Duration != 0 || !rows[0].IsRaw(Duration) || rows[0].IsRaw(SYN) {
		t.Fatalf("row 0: %+v", rows[0])
	}
	var b bytes.Buffer
	w, _ := NewWriter(&b, "csv", r.Schema(), WriterOptions{})
	for i := range rows {
		w.Write(&rows[i])
	}
	w.Close()
	if b.String() != in {
		t.Errorf("CSV pass-through:\n%s\nwant\n%s", b.String(), in)
	}
	b.Reset()
	w, _ = NewWriter(&b, "ndjson", r.Schema(), WriterOptions{})
	w.Write(&rows[0])
	w.Close()
	want := `{"start_request_time":"2025-01-15 12:49:08.025898","duration":4.8e-05,"src_ip":"::1","SYN":3,"label":1,"note":"x, y"}` + "\n"
	if b.String() != want {
		t.Errorf("NDJSON pass-through:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestUnparsedColumnsQuotedWhereCSVNeeds: texts passed through from lines
// without quotes are written as they came, but for those a CSV writer
// quotes (as encoding/csv's does) — a leading blank, a bare CR inside a
// line — and encoding/csv reads back what it read in.
func TestUnparsedColumnsQuotedWhereCSVNeeds(t *testing.T) {
	in := "src_ip,SYN,sensor\n" +
		"10.0.0.1,1, leading blank\n" +
		"10.0.0.1,1,bare\rCR\n" +
		"10.0.0.1,1,\"quoted, comma\"\n" +
		"10.0.0.1,1,plain\n"
	r, err := NewReaderWith(strings.NewReader(in), "in", "csv", ReaderOptions{Parse: []Column{SYN}})
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, r)
	var b bytes.Buffer
	w, _ := NewWriter(&b, "csv", r.Schema(), WriterOptions{})
	for i := range rows {
		w.Write(&rows[i])
	}
	w.Close()
	want, err := csv.NewReader(strings.NewReader(in)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	written := b.String()
	got, err := csv.NewReader(strings.NewReader(written)).ReadAll()
	if err != nil {
		t.Fatalf("%v\n%q", err, written)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %q\nwant %q\nwritten %q", got, want, written)
	}
	wantText := "src_ip,SYN,sensor\n" +
		"10.0.0.1,1,\" leading blank\"\n" +
		"10.0.0.1,1,\"bare\rCR\"\n" +
		"10.0.0.1,1,\"quoted, comma\"\n" +
		"10.0.0.1,1,plain\n"
	if written != wantText {
		t.Errorf("written %q\nwant %q", written, wantText)
	}
}

// Derived columns are model features computed from stored columns: never
// read or written, found by name, present wherever their sources are.
func TestDerivedColumns(t *testing.T) {
	r := Row{InitWindow: 65535, InitOptLen: 20}
	for _, c := range []struct {
		name string
		want float64
	}{{"init_window_capped", 4096}, {"init_options_capped", 8}} {
		col, ok := ColumnByName(c.name)
		if !ok || !col.Numeric() {
			t.Fatalf("%s: not a numeric column", c.name)
		}
		if v, _ := r.Number(col); v != c.want {
			t.Errorf("%s = %v, want %v", c.name, v, c.want)
		}
	}
	r = Row{InitWindow: 1024, InitOptLen: 4}
	if v, _ := r.Number(InitWindowCapped); v != 1024 {
		t.Errorf("nmap's window capped: %v", v)
	}
	if !SessionSchema(false).Has(InitWindowCapped) || NewSchema([]Column{SYN}, nil).Has(InitOptionsCapped) {
		t.Error("a derived column is there exactly when its sources are")
	}
	if len(Derived()) != 2 || slices.Contains(SessionSchema(true).Known, InitWindowCapped) {
		t.Errorf("derived %v; session schema %v", Derived(), SessionSchema(true).Header())
	}
	// A file whose header names a derived column keeps it as an unknown one.
	rd, err := NewReader(strings.NewReader("SYN,init_window_capped\n1,7\n"), "f", "csv")
	if err != nil {
		t.Fatal(err)
	}
	if s := rd.Schema(); len(s.Extra) != 1 || s.Extra[0] != "init_window_capped" {
		t.Errorf("schema %v extra %v", s.Known, s.Extra)
	}
}

// A capture or gzip'd data where rows belong is named for what it is,
// whatever the format asked for, instead of a CSV header that is not text.
func TestCaptureIsNotRows(t *testing.T) {
	cases := []struct {
		name string
		head []byte
		want error
	}{
		{"pcap little-endian", []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}, ErrCapture},
		{"pcap big-endian", []byte{0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4}, ErrCapture},
		{"pcap nanoseconds", []byte{0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0}, ErrCapture},
		{"pcapng", []byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0}, ErrCapture},
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, ErrGzip},
	}
	for _, c := range cases {
		for _, format := range []string{"auto", "csv", "ndjson"} {
			_, err := NewReader(bytes.NewReader(c.head), "f", format)
			if !errors.Is(err, c.want) {
				t.Errorf("%s as %s: %v, want %v", c.name, format, err, c.want)
			}
		}
	}
	if _, err := NewReader(strings.NewReader("SYN\n1\n"), "f", "auto"); err != nil {
		t.Errorf("rows: %v", err)
	}
}

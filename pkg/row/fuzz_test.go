package row

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the auto-detecting reader: it must
// return rows or an *Error, never panic, and whatever it reads must write
// and read back to the same rows.
func FuzzReader(f *testing.F) {
	f.Add([]byte("SYN,ACK,duration\n1,2,0.5\n"))
	f.Add([]byte("{\"SYN\":1,\"src_ip\":\"::1\",\"x\":\"y\"}\n"))
	f.Add([]byte("src_ip,dst_port\n\"['1.2.3.4', '5.6.7.8']\",\"['1', '2']\"\n"))
	harvester, err := os.ReadFile(harvesterBad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(harvester[:2000])
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz", "auto")
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error is not a *row.Error: %v", err)
			}
			return
		}
		var rows []Row
		for len(rows) < 1000 {
			var x Row
			err := r.Read(&x)
			if err == io.EOF {
				break
			}
			if err != nil {
				var re *Error
				if !errors.As(err, &re) {
					t.Fatalf("error is not a *row.Error: %v", err)
				}
				return
			}
			x.Extra = append([]string(nil), x.Extra...)
			rows = append(rows, x)
		}
		for _, format := range Formats {
			var b bytes.Buffer
			w, _ := NewWriter(&b, format, r.Schema(), WriterOptions{})
			for i := range rows {
				w.Write(&rows[i])
			}
			w.Close()
			r2, err := NewReader(bytes.NewReader(b.Bytes()), "again", format)
			if err != nil {
				if len(rows) == 0 && format == "ndjson" || len(r.Schema().Header()) == 0 {
					continue // NDJSON has no header: no rows, no bytes
				}
				t.Fatalf("%s: re-read: %v\n%s", format, err, b.String())
			}
			for i := range rows {
				var y Row
				if err := r2.Read(&y); err != nil {
					t.Fatalf("%s: re-read row %d: %v\n%s", format, i, err, b.String())
				}
			}
		}
	})
}

// FuzzCSVScanner checks the record splitter against encoding/csv: where
// encoding/csv reads a record, the scanner must read the same fields.
func FuzzCSVScanner(f *testing.F) {
	for _, s := range []string{"a,b,c\n", "\"a,b\",\"c\"\"d\"\n", "\"x\ny\",z\r\n", "a,,\n\n,b\n", "\"a\"b,c\n", "a\"b\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ref := csv.NewReader(bytes.NewReader(data))
		ref.FieldsPerRecord = -1
		s := &csvScanner{br: bufio.NewReader(bytes.NewReader(data))}
		for n := 0; n < 100; n++ {
			want, werr := ref.Read()
			got, gerr := s.Read()
			if werr != nil {
				if werr == io.EOF && gerr != io.EOF {
					t.Fatalf("record %d: encoding/csv ends, scanner read %q (%v)", n, got, gerr)
				}
				return // encoding/csv fails; the scanner may fail differently
			}
			if gerr != nil {
				t.Fatalf("record %d: scanner error %v, encoding/csv read %q", n, gerr, want)
			}
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
				t.Fatalf("record %d: scanner %q, encoding/csv %q", n, got, want)
			}
		}
	})
}

package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func readMaybeGzip(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return data
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFilterExpressions runs the table in ../testdata/filters.json: every
// valid expression gives, on every capture listed (Ethernet with VLAN
// tags, Linux SLL, raw IP, IPv4 and IPv6), with one worker and with three,
// exactly the rows that tcpdump's own filtering gives (tcpdump -r F -w -
// EXPR | pcapsess -r -), or, where tcpdump rejects it for the capture's
// link type, the same rejection; every invalid one exits 2 with one line
// that names it.
func TestFilterExpressions(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("filter expressions need tcpdump (apt-get install tcpdump; just deps)")
	}
	data, err := os.ReadFile("../testdata/filters.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Captures, Valid, Invalid []string
	}
	if err := json.Unmarshal(data, &table); err != nil {
		t.Fatal(err)
	}
	t.Chdir("..")
	run := func(stdin []byte, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), args, bytes.NewReader(stdin), &out, &errb)
		return out.String(), errb.String(), code
	}
	for _, capture := range table.Captures {
		if _, err := os.Stat(capture); err != nil {
			t.Errorf("%s: %v", capture, err)
			continue
		}
		raw := readMaybeGzip(t, capture) // this tcpdump reads no gzip
		for _, expr := range table.Valid {
			cmd := exec.Command(tcpdump, "-r", "-", "-w", "-", expr)
			var tdErr bytes.Buffer
			cmd.Stdin, cmd.Stderr = bytes.NewReader(raw), &tdErr
			filtered, err := cmd.Output()
			if err != nil {
				// Not for this link type ("vlan" on raw IP): tcpdump's
				// error, and so pcapsess's.
				_, stderr, code := run(nil, "-r", capture, expr)
				if code != 2 || !strings.HasPrefix(stderr, `pcapsess: filter expression "`+expr+`": `) {
					t.Errorf("tcpdump rejects %q on %s (%s), pcapsess: exit %d %q", expr, capture, tdErr.String(), code, stderr)
				}
				continue
			}
			want, stderr, code := run(filtered, "-r", "-")
			if code != 0 {
				t.Errorf("pcapsess -r - after tcpdump %q: exit %d: %s", expr, code, stderr)
				continue
			}
			for _, workers := range []string{"1", "3"} {
				got, stderr, code := run(nil, "-r", capture, "--workers", workers, expr)
				if code != 0 || got != want {
					t.Errorf("%s %q with %s workers: exit %d, %d rows, tcpdump's filter gives %d: %s",
						capture, expr, workers, code, strings.Count(got, "\n")-1, strings.Count(want, "\n")-1, stderr)
				}
			}
		}
	}
	for _, expr := range table.Invalid {
		out, stderr, code := run(nil, "-r", table.Captures[0], expr)
		want := `pcapsess: filter expression "` + expr + `": `
		if code != 2 || out != "" || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line starting %q", expr, code, out, stderr, want)
		}
	}
}

// TestMergeLikeMergecap splits captures in two by a filter expression
// (tcpdump -w), and reads the halves back together with -r A -r B: the
// rows are those of the whole capture, and of mergecap -w - A B | pcapsess
// -r - where mergecap is installed.
func TestMergeLikeMergecap(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("needs tcpdump")
	}
	t.Chdir("..")
	dir := t.TempDir()
	for _, c := range []struct{ capture, half string }{
		{"../../testdata/pcap/nmap-lo.pcap", "tcp port 8080 or portrange 1-20"},
		{"../../datasets/public/normal/stratosphereips-training-capture-009.pcap.gz", "ip6 or port 443"},
	} {
		whole := readMaybeGzip(t, c.capture)
		var halves []string
		for i, expr := range []string{c.half, "not (" + c.half + ")"} {
			name := fmt.Sprintf("%s/%s.%d.pcap", dir, filepath.Base(c.capture), i)
			cmd := exec.Command(tcpdump, "-r", "-", "-w", name, expr)
			cmd.Stdin = bytes.NewReader(whole)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("tcpdump: %v: %s", err, out)
			}
			if st, err := os.Stat(name); err != nil || st.Size() < 1000 {
				t.Fatalf("%s: the half %q is (nearly) empty", c.capture, expr)
			}
			halves = append(halves, name)
		}
		run := func(stdin []byte, args ...string) string {
			var out, errb bytes.Buffer
			if code := Run(context.Background(), args, bytes.NewReader(stdin), &out, &errb); code != 0 {
				t.Fatalf("pcapsess %v: exit %d: %s", args, code, errb.String())
			}
			return out.String()
		}
		want := run(nil, "-r", c.capture)
		if got := run(nil, "-r", halves[0], "-r", halves[1]); got != want {
			t.Errorf("%s: -r of its two halves differs from the whole", c.capture)
		}
		if mergecap, err := exec.LookPath("mergecap"); err == nil {
			merged, err := exec.Command(mergecap, "-F", "pcap", "-w", "-", halves[0], halves[1]).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := run(merged, "-r", "-"); got != want {
				t.Errorf("%s: mergecap of its halves differs from the whole", c.capture)
			}
		}
	}
}

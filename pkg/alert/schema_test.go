package alert

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("eve.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("eve.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("eve.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateLines(t *testing.T, sch *jsonschema.Schema, name string, data []byte) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		if !bytes.HasPrefix(sc.Bytes(), []byte("{")) {
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(sc.Bytes()))
		if err != nil {
			t.Fatalf("%s line %d: %v", name, line, err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s line %d: %v\n%s", name, line, err, sc.Bytes())
		}
		n++
	}
	return n
}

// Every record scanalert writes fits eve.schema.json: records made here to
// reach every optional field (update and end records, both reasons, more
// targets and open services than are listed, a score, with and without
// in_iface), and every EVE line in scanalert's goldens.
func TestRecordsFitTheSchema(t *testing.T) {
	sch := compileSchema(t)
	var rows []fed
	for i := range 3000 { // one scanner over 1100 targets and 1500 ports, a third of the sessions open
		k := i % 1100
		r := session("10.0.0.5", "10.1."+strconv.Itoa(k/250)+"."+strconv.Itoa(1+k%250), uint16(i%1500+1), time.Duration(i)*20*time.Millisecond)
		if i%3 == 0 {
			r.SYN, r.Answer = 2, 1
		}
		r.Score = 0.75
		rows = append(rows, fed{r, true})
	}
	rows = append(rows, fed{session("10.0.0.6", "10.0.0.9", 22, 200*time.Second), true})
	d, _ := NewDetector(Config{}, true)
	var b []byte
	var seen []State
	for i := range rows {
		evs, err := d.Observe(&rows[i].r, rows[i].anom)
		if err != nil {
			t.Fatal(err)
		}
		for j := range evs {
			seen = append(seen, evs[j].State)
			b = AppendEVE(b, &evs[j], Sensor{Host: "sensor-1", InIface: "eth0"})
		}
	}
	for _, e := range d.Close() {
		b = AppendEVE(b, &e, Sensor{Host: "sensor-1"})
	}
	// A scan split over 1100 sources of one /16, seen by 70 sensors.
	d, _ = NewDetector(Config{Subnets: true, SubnetBits4: 16}, false)
	for i := range 1100 {
		r := session("10.9."+strconv.Itoa(i/250)+"."+strconv.Itoa(1+i%250), "10.0.0.9", uint16(i+1), time.Duration(i)*time.Millisecond)
		r.Sensor = "s" + strconv.Itoa(i%70)
		evs, err := d.Observe(&r, true)
		if err != nil {
			t.Fatal(err)
		}
		for j := range evs {
			b = AppendEVE(b, &evs[j], Sensor{Host: "central"})
		}
	}
	for _, e := range d.Close() {
		b = AppendEVE(b, &e, Sensor{Host: "central"})
	}
	for _, want := range []string{`"aggregate":"subnet"`, `"more_sources":true`, `"more_sensors":true`, `"state":"update"`, `"reason":"quiet"`, `"more_targets":true`, `"more_open_services":true`, `"mean_score":0.75`, `"in_iface":"eth0"`, `"severity":1`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("no record has %s: the test misses a field", want)
		}
	}
	if n := validateLines(t, sch, "records", b); n < 3 {
		t.Errorf("%d records (%v)", n, seen)
	}
	goldens, _ := filepath.Glob("../../cmd/scanalert/testdata/golden/*.stdout")
	n := 0
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		n += validateLines(t, sch, g, data)
	}
	if n == 0 {
		t.Error("no EVE line in scanalert's goldens")
	}
}

// README.md's field list (the table under "## Alert records") names
// exactly the schema's fields, nested ones as alert.severity.
func TestREADMEFieldListIsTheSchema(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Alert records\n")
	if !ok {
		t.Fatal(`README.md has no "## Alert records" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\|").FindAllStringSubmatch(section, -1) {
		listed[m[1]] = true
	}
	sch := compileSchema(t)
	fields := map[string]bool{}
	var walk func(prefix string, s *jsonschema.Schema)
	walk = func(prefix string, s *jsonschema.Schema) {
		for name, p := range s.Properties {
			fields[prefix+name] = true
			if p.Ref != nil {
				p = p.Ref
			}
			if len(p.Properties) > 0 {
				walk(prefix+name+".", p)
			}
		}
	}
	walk("", sch)
	if !maps.Equal(listed, fields) {
		var missing, extra []string
		for f := range fields {
			if !listed[f] {
				missing = append(missing, f)
			}
		}
		for f := range listed {
			if !fields[f] {
				extra = append(extra, f)
			}
		}
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("README.md's Alert records list and eve.schema.json differ: not listed %v; listed but not in the schema %v", missing, extra)
	}
}

func TestSeverityAndSignatureID(t *testing.T) {
	ev := func(ports, targets, open int, techs ...Tech) *Event {
		e := &Event{PortCount: ports, TargetCount: targets, OpenPortCount: open}
		for _, t := range techs {
			e.Techniques = append(e.Techniques, TechCount{Tech: t, Sessions: 1})
		}
		return e
	}
	cases := []struct {
		e        *Event
		severity int
		sid      int
	}{
		{ev(20, 1, 0, Connect), 3, SIDConnect},
		{ev(20, 1, 2, Connect), 2, SIDConnect},
		{ev(20, 3, 0, Connect), 2, SIDConnect},
		{ev(150, 1, 0, Connect), 2, SIDConnect},
		{ev(1000, 1, 0, Connect), 1, SIDConnect},
		{ev(20, 16, 0, Connect), 1, SIDConnect},
		{ev(20, 1, 0, SYN), 2, SIDSYN},
		{ev(150, 1, 0, SYN), 1, SIDSYN},
		{ev(20, 1, 0, FIN, XMAS), 2, SIDStealth},
		{ev(20, 1, 0, NULL|ACKWindow), 2, SIDMixed},
		{ev(20, 1, 0, ACKWindow), 2, SIDACK},
		{ev(20, 1, 0, Maimon), 2, SIDMaimon},
		{ev(20, 1, 0, Connect, NULL), 2, SIDMixed},
		{ev(20, 1, 0, Other), 3, SIDMixed},
	}
	for _, c := range cases {
		if got := c.e.Severity(); got != c.severity {
			t.Errorf("%s, %d ports, %d targets, %d open: severity %d, want %d", c.e.Summary(), c.e.PortCount, c.e.TargetCount, c.e.OpenPortCount, got, c.severity)
		}
		if got := c.e.SignatureID(); got != c.sid {
			t.Errorf("%s: signature_id %d, want %d", c.e.Summary(), got, c.sid)
		}
	}
}

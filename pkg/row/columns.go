package row

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Column identifies a column this package knows.
type Column int

// The known columns, in output order.
const (
	StartRequestTime Column = iota
	EndRequestTime
	StartResponseTime
	EndResponseTime
	Duration
	SrcIP
	DstIP
	SrcPort
	DstPort
	SYN
	ACK
	FIN
	RST
	URG
	PSH
	Packets
	SrcPackets
	DstPackets
	SrcBytes
	DstBytes
	InitWindow
	InitOptLen
	InitMSS
	InitTTL
	InitDF
	InitFlags
	Answer
	Handshake
	CtxPairs
	CtxFailed
	CtxPorts
	CtxHosts
	CtxSport
	CtxTTLs
	CtxBurst
	Label
	Score
	Prediction
	// Sensor names the sensor a row was captured by. pcapsess and
	// scanclass never write it; the bus adapter (scanbus publish) adds it,
	// so that a central scanalert can say which sensors saw a scan. A
	// stream without it is a single sensor's, as before.
	Sensor
	numColumns
)

// Derived columns are features computed from stored columns: never read or
// written, only taken as model inputs (Row.Number). They follow the stored
// columns.
const (
	// InitWindowCapped is init_window capped at 4096: crafted probes keep
	// theirs (nmap and masscan send 1024, hping3 512), while every operating
	// system's first window (Linux 29200, 64240 or 65495, Windows 8192 or
	// 64240, macOS 65535) becomes the same value, so that a model cannot
	// learn which OS a host runs instead of what it does.
	InitWindowCapped Column = numColumns + iota
	// InitOptionsCapped is init_options_len capped at 8: none (a crafted
	// probe, or a segment in mid-stream), the MSS alone (nmap's SYN), or
	// more (any kernel's SYN: MSS with window scale, SACK, timestamps, in
	// each OS's own order and length).
	InitOptionsCapped
	numAll
)

type kind uint8

const (
	kindTime kind = iota
	kindFloat
	kindIP
	kindPort
	kindInt
	kindString  // free text: written quoted where the format needs it
	kindDerived // computed from stored columns, never read or written
)

type columnDesc struct {
	name string
	kind kind
	t    func(*Row) *int64
	f    func(*Row) *float64
	ip   func(*Row) *netip.Addr
	s    func(*Row) *string
	p    func(*Row) *uint16
	i    func(*Row) *int
	num  func(*Row) float64
	// second is true for dst_ip/dst_port: in the harvester's list-literal form
	// "['a', 'b']" the column holds both endpoints and this one is the second.
	second bool
}

var columns [numAll]columnDesc

// derivedFrom lists, per derived column, the stored columns it needs.
var derivedFrom = map[Column][]Column{
	InitWindowCapped:  {InitWindow},
	InitOptionsCapped: {InitOptLen},
}

func tcol(c Column, name string, f func(*Row) *int64) {
	columns[c] = columnDesc{name: name, kind: kindTime, t: f,
		num: func(r *Row) float64 { return float64(*f(r)) / 1e9 }}
}
func fcol(c Column, name string, f func(*Row) *float64) {
	columns[c] = columnDesc{name: name, kind: kindFloat, f: f, num: func(r *Row) float64 { return *f(r) }}
}
func icol(c Column, name string, f func(*Row) *int) {
	columns[c] = columnDesc{name: name, kind: kindInt, i: f, num: func(r *Row) float64 { return float64(*f(r)) }}
}

func init() {
	tcol(StartRequestTime, "start_request_time", func(r *Row) *int64 { return &r.StartRequest })
	tcol(EndRequestTime, "end_request_time", func(r *Row) *int64 { return &r.EndRequest })
	tcol(StartResponseTime, "start_response_time", func(r *Row) *int64 { return &r.StartResponse })
	tcol(EndResponseTime, "end_response_time", func(r *Row) *int64 { return &r.EndResponse })
	fcol(Duration, "duration", func(r *Row) *float64 { return &r.Duration })
	columns[SrcIP] = columnDesc{name: "src_ip", kind: kindIP, ip: func(r *Row) *netip.Addr { return &r.SrcIP }}
	columns[DstIP] = columnDesc{name: "dst_ip", kind: kindIP, ip: func(r *Row) *netip.Addr { return &r.DstIP }, second: true}
	columns[SrcPort] = columnDesc{name: "src_port", kind: kindPort, p: func(r *Row) *uint16 { return &r.SrcPort },
		num: func(r *Row) float64 { return float64(r.SrcPort) }}
	columns[DstPort] = columnDesc{name: "dst_port", kind: kindPort, p: func(r *Row) *uint16 { return &r.DstPort },
		num: func(r *Row) float64 { return float64(r.DstPort) }, second: true}
	icol(SYN, "SYN", func(r *Row) *int { return &r.SYN })
	icol(ACK, "ACK", func(r *Row) *int { return &r.ACK })
	icol(FIN, "FIN", func(r *Row) *int { return &r.FIN })
	icol(RST, "RST", func(r *Row) *int { return &r.RST })
	icol(URG, "URG", func(r *Row) *int { return &r.URG })
	icol(PSH, "PSH", func(r *Row) *int { return &r.PSH })
	icol(Packets, "packets", func(r *Row) *int { return &r.Packets })
	icol(SrcPackets, "src_packets", func(r *Row) *int { return &r.SrcPackets })
	icol(DstPackets, "dst_packets", func(r *Row) *int { return &r.DstPackets })
	icol(SrcBytes, "src_bytes", func(r *Row) *int { return &r.SrcBytes })
	icol(DstBytes, "dst_bytes", func(r *Row) *int { return &r.DstBytes })
	icol(InitWindow, "init_window", func(r *Row) *int { return &r.InitWindow })
	icol(InitOptLen, "init_options_len", func(r *Row) *int { return &r.InitOptLen })
	icol(InitMSS, "init_mss", func(r *Row) *int { return &r.InitMSS })
	icol(InitTTL, "init_ttl", func(r *Row) *int { return &r.InitTTL })
	icol(InitDF, "init_df", func(r *Row) *int { return &r.InitDF })
	icol(InitFlags, "init_flags", func(r *Row) *int { return &r.InitFlags })
	icol(Answer, "answer", func(r *Row) *int { return &r.Answer })
	icol(Handshake, "handshake", func(r *Row) *int { return &r.Handshake })
	icol(CtxPairs, "ctx_pairs", func(r *Row) *int { return &r.CtxPairs })
	fcol(CtxFailed, "ctx_failed", func(r *Row) *float64 { return &r.CtxFailed })
	icol(CtxPorts, "ctx_ports", func(r *Row) *int { return &r.CtxPorts })
	icol(CtxHosts, "ctx_hosts", func(r *Row) *int { return &r.CtxHosts })
	icol(CtxSport, "ctx_sport", func(r *Row) *int { return &r.CtxSport })
	icol(CtxTTLs, "ctx_ttls", func(r *Row) *int { return &r.CtxTTLs })
	icol(CtxBurst, "ctx_burst", func(r *Row) *int { return &r.CtxBurst })
	columns[InitWindowCapped] = columnDesc{name: "init_window_capped", kind: kindDerived,
		num: func(r *Row) float64 { return float64(min(r.InitWindow, 4096)) }}
	columns[InitOptionsCapped] = columnDesc{name: "init_options_capped", kind: kindDerived,
		num: func(r *Row) float64 { return float64(min(r.InitOptLen, 8)) }}
	icol(Label, "label", func(r *Row) *int { return &r.Label })
	fcol(Score, "score", func(r *Row) *float64 { return &r.Score })
	icol(Prediction, "prediction", func(r *Row) *int { return &r.Prediction })
	columns[Sensor] = columnDesc{name: "sensor", kind: kindString, s: func(r *Row) *string { return &r.Sensor }}
	for c := range columns {
		if Column(c) < numColumns {
			byName[columns[c].name] = Column(c)
		} else {
			derivedByName[columns[c].name] = Column(c)
		}
	}
}

// byName holds the stored columns, the ones readers and writers know;
// derivedByName the derived ones, which are only model features.
var byName, derivedByName = map[string]Column{}, map[string]Column{}

// Name is the column's header name.
func (c Column) Name() string { return columns[c].name }

// String implements fmt.Stringer.
func (c Column) String() string { return c.Name() }

// Derived lists the derived columns.
func Derived() []Column {
	var out []Column
	for c := Column(numColumns); c < numAll; c++ {
		out = append(out, c)
	}
	return out
}

// Stored lists the stored columns column c is made of: c itself, or a
// derived column's sources (what a reader must parse to compute it).
func (c Column) Stored() []Column {
	if from, ok := derivedFrom[c]; ok {
		return from
	}
	return []Column{c}
}

// Numeric reports whether the column can serve as a model feature.
func (c Column) Numeric() bool { return columns[c].num != nil }

// ColumnByName looks a known column up by its header name.
func ColumnByName(name string) (Column, bool) {
	if c, ok := derivedByName[name]; ok {
		return c, true
	}
	c, ok := byName[name]
	return c, ok
}

// Harvester lists the harvester's fifteen columns, the contract's fixed prefix.
func Harvester() []Column {
	out := make([]Column, 0, PSH+1)
	for c := StartRequestTime; c <= PSH; c++ {
		out = append(out, c)
	}
	return out
}

// Evidence lists the columns pcapsess writes after the harvester's.
func Evidence() []Column {
	out := make([]Column, 0, CtxBurst-Packets+1)
	for c := Packets; c <= CtxBurst; c++ {
		out = append(out, c)
	}
	return out
}

// Portable lists the evidence whose meaning does not depend on the path
// between the hosts, nor on the operating system of a host that behaves
// normally: the default model's features. Flag and packet counts, payload
// sizes, the first packet's window and options capped where operating
// systems begin (InitWindowCapped, InitOptionsCapped), its DF bit and flags,
// the kind of answer, the handshake, and the initiator's context. Left out:
// times and duration (round trips), the MSS (the MTU), the TTL (the hop
// count and the OS) and the raw window and options (the OS); and ctx_ttls,
// which a host's own raw scan lends to every session it makes in the next
// seconds, its ordinary ones and its connect scans alike (its probes' own
// window, options and DF already say "crafted").
func Portable() []Column {
	return []Column{SYN, ACK, FIN, RST, URG, PSH, Packets, SrcPackets, DstPackets, SrcBytes, DstBytes,
		InitWindowCapped, InitOptionsCapped, InitDF, InitFlags, Answer, Handshake, CtxPairs, CtxFailed, CtxPorts, CtxHosts, CtxSport, CtxBurst}
}

// TimeLayout is how times are written.
const TimeLayout = "2006-01-02 15:04:05.000000"

// appendValue appends the text form of column c of r. quote wraps
// non-numeric values in JSON quotes.
func appendValue(b []byte, r *Row, c Column, quote bool, tc *timeCache) []byte {
	d := &columns[c]
	if r.rawMask != 0 && r.IsRaw(c) {
		return appendRaw(b, r.raw[c], d.kind, quote, r.rawPlain)
	}
	switch d.kind {
	case kindTime:
		t := *d.t(r)
		if t == 0 {
			return append(b, '0')
		}
		if quote {
			b = append(b, '"')
		}
		b = tc.appendTime(b, t)
		if quote {
			b = append(b, '"')
		}
		return b
	case kindFloat:
		return strconv.AppendFloat(b, *d.f(r), 'f', -1, 64)
	case kindIP:
		if quote {
			b = append(b, '"')
		}
		if a := *d.ip(r); a.IsValid() {
			b = a.AppendTo(b)
		}
		if quote {
			b = append(b, '"')
		}
		return b
	case kindPort:
		return strconv.AppendUint(b, uint64(*d.p(r)), 10)
	case kindString:
		if quote {
			return appendJSONString(b, *d.s(r))
		}
		return appendCSVField(b, *d.s(r))
	default:
		return strconv.AppendInt(b, int64(*d.i(r)), 10)
	}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// appendRaw writes unparsed input text: as it is for CSV, and for JSON as
// a number only when it is one.
func appendRaw(b []byte, s string, k kind, quote, plain bool) []byte {
	if !quote {
		if plain && !leadingBlank(s) {
			return append(b, s...)
		}
		return appendCSVField(b, s)
	}
	if k != kindTime && k != kindIP && k != kindString && isJSONScalarLiteral(s) || s == "0" && k != kindString {
		return append(b, s...)
	}
	return appendJSONString(b, s)
}

// parseValue sets column c of r from its text form s.
func parseValue(r *Row, c Column, s string) error {
	d := &columns[c]
	switch d.kind {
	case kindTime:
		t, err := parseTime(s)
		if err != nil {
			return err
		}
		*d.t(r) = t
	case kindFloat:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", clip(s))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%q is not a finite number", clip(s))
		}
		*d.f(r) = v
	case kindIP:
		if strings.HasPrefix(s, "[") {
			var err error
			if s, err = harvesterListItem(s, d.second); err != nil {
				return err
			}
		}
		if s == "" {
			*d.ip(r) = netip.Addr{}
			return nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", clip(s))
		}
		*d.ip(r) = a
	case kindPort:
		if strings.HasPrefix(s, "[") {
			var err error
			if s, err = harvesterListItem(s, d.second); err != nil {
				return err
			}
		}
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a port number", clip(s))
		}
		*d.p(r) = uint16(v)
	case kindString:
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not UTF-8 text", clip(s))
		}
		*d.s(r) = s
	default:
		v, err := strconv.Atoi(s)
		if err != nil {
			// The harvester's pandas-written files sometimes hold 1.0 for 1.
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return fmt.Errorf("%q is not an integer", clip(s))
			}
			v = int(f)
		}
		if v < 0 {
			return fmt.Errorf("%q is negative", clip(s))
		}
		*d.i(r) = v
	}
	return nil
}

// isHarvesterList reports a harvester-format endpoint list, which is always parsed so
// that output carries plain addresses and ports.
func isHarvesterList(c Column, s string) bool {
	k := columns[c].kind
	return (k == kindIP || k == kindPort) && len(s) > 0 && s[0] == '['
}

// harvesterListItem takes the first or second item of a Python list literal such
// as "['172.31.0.2', '172.31.0.1']", the harvester's form of its IP and port
// columns (it keyed sessions by port pair and stored both endpoints).
func harvesterListItem(s string, second bool) (string, error) {
	in := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if len(in) == len(s)-1 {
		return "", fmt.Errorf("%q is an unterminated list", clip(s))
	}
	parts := strings.Split(in, ",")
	i := 0
	if second {
		i = 1
	}
	if len(parts) != 2 {
		if len(parts) == 1 {
			i = 0
		} else {
			return "", fmt.Errorf("%q is not a list of two endpoints", clip(s))
		}
	}
	return strings.Trim(strings.TrimSpace(parts[i]), `'"`), nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// timeCache writes times as TimeLayout in UTC, truncated to µs. It
// remembers the text of the last whole second written: the times of one
// row, and of consecutive rows, mostly share it.
type timeCache struct {
	sec  int64
	text []byte
}

func (tc *timeCache) appendTime(b []byte, ns int64) []byte {
	secs := ns / 1e9
	frac := ns % 1e9
	if frac < 0 {
		secs--
		frac += 1e9
	}
	if tc.text == nil || secs != tc.sec {
		tc.sec = secs
		tc.text = appendSecond(tc.text[:0], secs)
	}
	b = append(b, tc.text...)
	b = append(b, '.')
	us := int(frac / 1000)
	return append(b, byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
		byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10))
}

func appendSecond(b []byte, secs int64) []byte {
	days := secs / 86400
	rem := secs % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civil(days)
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, ' ')
	b = append2(b, int(rem/3600))
	b = append(b, ':')
	b = append2(b, int(rem/60%60))
	b = append(b, ':')
	return append2(b, int(rem%60))
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10%10), byte('0'+v%10)) }
func append4(b []byte, v int) []byte {
	if v < 0 || v > 9999 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm): formatting a time this way is several times
// faster than time.Time.AppendFormat on the hot output path.
func civil(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	yy := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dd := doy - (153*mp+2)/5 + 1
	mm := mp + 3
	if mp >= 10 {
		mm = mp - 9
	}
	if mm <= 2 {
		yy++
	}
	return int(yy), int(mm), int(dd)
}

// daysFromCivil is civil's inverse.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseTime reads TimeLayout (with 0–9 fractional digits, optional "T" and
// trailing "Z"), or "0" / "" for "did not happen". The harvester's naive local
// timestamps are read as UTC.
func parseTime(s string) (int64, error) {
	if s == "0" || s == "" {
		return 0, nil
	}
	bad := func() (int64, error) {
		return 0, fmt.Errorf("%q is not a time like %s", clip(s), TimeLayout)
	}
	s = strings.TrimSuffix(s, "Z")
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return bad()
	}
	num := func(t string) int {
		v := 0
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return -1
			}
			v = v*10 + int(t[i]-'0')
		}
		return v
	}
	y, mo, d := num(s[0:4]), num(s[5:7]), num(s[8:10])
	h, mi, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 {
		return bad()
	}
	var frac int64
	if len(s) > 19 {
		if s[19] != '.' || len(s) == 20 || len(s) > 29 {
			return bad()
		}
		f := num(s[20:])
		if f < 0 {
			return bad()
		}
		frac = int64(f)
		for n := len(s) - 20; n < 9; n++ {
			frac *= 10
		}
	}
	days := daysFromCivil(y, mo, d)
	return (days*86400+int64(h)*3600+int64(mi)*60+int64(sec))*1e9 + frac, nil
}

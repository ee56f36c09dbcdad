// Package row owns the session-row contract that every scanwatch tool reads
// and writes: one Row type, a Schema naming which columns a stream carries,
// and one Reader and one Writer per format (CSV, NDJSON) behind small
// interfaces, chosen by NewReader / NewWriter.
//
// "The harvester" is nmap-harvester, the Python project scanwatch succeeds
// (its data sets, its model, its scripts); the word seed means only random
// seeds. Column order is fixed: the harvester's fifteen columns (exactly as
// it wrote them), then scanwatch's evidence columns, then the optional
// label, score and prediction, the sensor's name, then any column the
// reader did not know, in the order the input had them. Unknown columns are carried through
// unchanged so that tools can be chained in any order.
//
// Times are written as "2006-01-02 15:04:05.000000" in UTC; a time that did
// not happen (no response) is written as 0.
package row

import (
	"math"
	"net/netip"
)

// Row is one TCP session. Times are Unix nanoseconds; 0 means "did not
// happen" (written as 0, like the harvester).
type Row struct {
	StartRequest  int64
	EndRequest    int64
	StartResponse int64
	EndResponse   int64
	Duration      float64 // seconds
	SrcIP, DstIP  netip.Addr
	SrcPort       uint16
	DstPort       uint16
	SYN, ACK, FIN int
	RST, URG, PSH int

	// Evidence beyond the harvester's columns (see package session for how each
	// is measured).
	Packets    int // packets in the session, both directions
	SrcPackets int // packets sent by the initiator
	DstPackets int // packets sent by the responder
	SrcBytes   int // TCP payload bytes sent by the initiator
	DstBytes   int // TCP payload bytes sent by the responder
	InitWindow int // TCP window of the initiator's first packet
	InitOptLen int // TCP options length (bytes) of the initiator's first packet
	InitMSS    int // MSS option of the initiator's first packet, 0 if none
	InitTTL    int // IPv4 TTL or IPv6 hop limit of the initiator's first packet
	InitDF     int // 1 if the initiator's first packet had IPv4 DF set
	InitFlags  int // TCP flags of the initiator's first packet (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32)
	Answer     int // the responder's first packet: 0 none, 1 SYN+ACK, 2 RST, 3 anything else
	Handshake  int // 1 if the initiator's SYN, the responder's SYN+ACK and the initiator's ACK were seen

	// The initiator's context: its first contacts (distinct dst_ip, dst_port)
	// in the context window ending when this session was written.
	CtxPairs  int     // first contacts
	CtxFailed float64 // fraction of them refused (RST) or never answered
	CtxPorts  int     // of them, to this session's dst_ip (a vertical sweep)
	CtxHosts  int     // of them, to this session's dst_port (a horizontal sweep)
	CtxSport  int     // of them, from this session's src_port (raw scanners keep one)
	CtxTTLs   int     // distinct TTLs of their first packets (raw scanners vary it)
	CtxBurst  int     // of them, those that started within 0.5 s of this session's start

	Label      int
	Score      float64
	Prediction int
	Sensor     string // the sensor that captured the session; "" in a single sensor's stream

	// Extra holds the values of columns this package does not know, aligned
	// with Schema.Extra of the stream the row came from.
	Extra []string

	// raw holds the input text of known columns a reader was told not to
	// parse (ReaderOptions.Parse); writers copy it through unchanged.
	raw     [numColumns]string
	rawMask uint64
	// rawPlain says the raw texts came from a CSV line with no quote and
	// no CR: no text then holds a comma, quote or line break, and a CSV
	// writer need not look for them (it was a tenth of scanclass's writing).
	rawPlain bool
}

// CopyFrom makes r a copy of src that shares no memory with it, reusing
// r's Extra storage: for holding rows after a reader or producer reuses
// its own Row.
func (r *Row) CopyFrom(src *Row) {
	extra := append(r.Extra[:0], src.Extra...)
	*r = *src
	r.Extra = extra
}

// SentPayload reports whether the initiator sent TCP payload: a session
// that no TCP port-scan technique makes (nmap's probes, and the ACK and RST
// that end a connect scan's handshake, carry none).
func (r *Row) SentPayload() bool { return r.SrcBytes > 0 }

// IsRaw reports whether column c holds unparsed input text (its typed
// field is then zero).
func (r *Row) IsRaw(c Column) bool { return r.rawMask&(1<<uint(c)) != 0 }

func (r *Row) setRaw(c Column, s string) {
	r.raw[c] = s
	r.rawMask |= 1 << uint(c)
}

// Valid reports a problem with values a reader accepted syntactically but
// that no session can have, or "" when the row is sound.
func (r *Row) Valid() string {
	switch {
	case math.IsNaN(r.Duration) || math.IsInf(r.Duration, 0):
		return "duration is not finite"
	case r.Duration < 0:
		return "duration is negative"
	case math.IsNaN(r.Score) || math.IsInf(r.Score, 0):
		return "score is not finite"
	case math.IsNaN(r.CtxFailed) || math.IsInf(r.CtxFailed, 0):
		return "ctx_failed is not finite"
	}
	return ""
}

// Number returns the value of a numeric column as float64, for model
// features. ok is false for columns that are not numeric.
func (r *Row) Number(c Column) (v float64, ok bool) {
	d := &columns[c]
	if d.num == nil {
		return 0, false
	}
	return d.num(r), true
}

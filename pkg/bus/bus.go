package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Message is one message as the log stored it.
type Message struct {
	Subject string
	Data    []byte
	// Seq is the message's position in the log: increasing in the order
	// a Subscription hands messages out.
	Seq uint64
	// ID is the id it was published with (MessageID for a Sensor's).
	ID string
}

// MessageID names a Sensor's message: the sensor, its run (Boot, drawn at
// random when it starts), and the message's number in its bucket (Bucket
// -1: its heartbeats). A broker may store a sensor's messages in another
// order than it sent them (a retry after a node died goes in after
// messages sent later); the numbers let Input put each bucket back in
// order. Written "sensor.boot.bucket.seq": unique, so the broker's
// duplicate detection stores a retry once.
type MessageID struct {
	Sensor, Boot string
	Bucket       int
	Seq          uint64
}

func (id MessageID) String() string {
	return id.Sensor + "." + id.Boot + "." + strconv.Itoa(id.Bucket) + "." + strconv.FormatUint(id.Seq, 10)
}

// ParseMessageID reads a MessageID; ok is false for other ids.
func ParseMessageID(s string) (id MessageID, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return id, false
	}
	b, err1 := strconv.Atoi(parts[2])
	q, err2 := strconv.ParseUint(parts[3], 10, 64)
	if err1 != nil || err2 != nil || b < -1 || b >= Buckets || q == 0 {
		return id, false
	}
	return MessageID{Sensor: parts[0], Boot: parts[1], Bucket: b, Seq: q}, true
}

// Publisher stores messages in the log.
type Publisher interface {
	// Publish queues data for subject; id names the message, so that
	// a retry (after a broker fault) is stored once. It returns once the
	// message is on its way, and blocks while too many wait for the
	// broker's acknowledgement (back-pressure), until ctx ends. A message
	// the broker refuses is retried with the same id for a while, then
	// counted as failed.
	Publish(ctx context.Context, subject string, data []byte, id string) error
	// Flush waits until every message published so far is stored or has
	// failed.
	Flush(ctx context.Context) error
	// OnFailure registers fn, called (from another goroutine) with each
	// message given up on; register it before the first Publish.
	OnFailure(fn func(subject string, data []byte))
	Close() error
}

// Subscription is a durable cursor over part of the log: it survives
// the process, and a new process resumes where the last one stopped.
type Subscription interface {
	// Floor is the log position up to which every message was
	// acknowledged when the subscription was opened (0: none).
	Floor() uint64
	// Replay hands out, in order, the messages up to Floor that the log
	// still holds, to rebuild what was made of them.
	Replay(ctx context.Context, fn func(Message) error) error
	// Fetch returns up to max messages after those already handed out,
	// waiting up to wait for the first.
	Fetch(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Ack acknowledges every message up to seq.
	Ack(ctx context.Context, seq uint64) error
	Close() error
}

// Subject names.
const (
	RowsPrefix   = "scanwatch.rows."
	AlertsPrefix = "scanwatch.alerts."
	clockToken   = "clock"
)

// Buckets is how many buckets the rows are spread over: the most central
// instances that can share the work.
const Buckets = 64

// RowSubject is the subject of sensor's rows in bucket.
func RowSubject(sensor string, bucket int) string {
	return RowsPrefix + sensor + "." + strconv.Itoa(bucket)
}

// ClockSubject is the subject of sensor's heartbeats.
func ClockSubject(sensor string) string { return RowsPrefix + sensor + "." + clockToken }

// AlertSubject is the subject a central instance publishes its alerts to.
func AlertSubject(instance string) string { return AlertsPrefix + instance }

// IsClock reports whether subject carries heartbeats.
func IsClock(subject string) bool { return strings.HasSuffix(subject, "."+clockToken) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckName reports a sensor or instance name that cannot be a subject
// token: 1 to 64 letters, digits, '-' or '_'.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: use 1 to 64 letters, digits, '-' or '_' (it is a subject token)", name)
	}
	return nil
}

// Bucketing says which subnet a source's bucket is drawn from.
type Bucketing struct{ V4, V6 int }

// DefaultBucketing hashes a source's /24 (IPv6: /64): a central scanalert's
// --subnets must use these or shorter prefixes, so that a subnet's rows
// meet in one instance.
var DefaultBucketing = Bucketing{V4: 24, V6: 64}

// Bucket is src's bucket: a hash of its subnet.
func (b Bucketing) Bucket(src netip.Addr) int {
	bits := b.V4
	if src.Is6() && !src.Is4In6() {
		bits = b.V6
	}
	p, err := src.Prefix(bits)
	if err != nil {
		return 0
	}
	h := fnv.New32a()
	a := p.Addr().AsSlice()
	h.Write(a)
	return int(h.Sum32() % Buckets)
}

// InstanceSubjects are the subjects central instance i (from 0) of n
// consumes: its buckets of every sensor, and every sensor's heartbeats.
func InstanceSubjects(i, n int) ([]string, error) {
	if n < 1 || n > Buckets || i < 0 || i >= n {
		return nil, fmt.Errorf("instance %d of %d: need 1 <= instance <= instances <= %d", i+1, n, Buckets)
	}
	var out []string
	for b := i * Buckets / n; b < (i+1)*Buckets/n; b++ {
		out = append(out, RowsPrefix+"*."+strconv.Itoa(b))
	}
	return append(out, RowsPrefix+"*."+clockToken), nil
}

// Clock is a sensor's heartbeat.
type Clock struct {
	Sensor string `json:"sensor"`
	// Boot names the sensor's run (as its MessageIDs do), and Seqs are
	// how many messages it had published to each bucket before this
	// heartbeat: its clock holds only once those are in.
	Boot string   `json:"boot"`
	Seqs []uint64 `json:"seqs"`
	// Time is the sensor's packet-time clock (Unix ns): the end of the
	// last row it read plus the wall time since; 0 before any row.
	Time int64 `json:"time"`
	// Counts since the sensor started: rows read, dropped at the full
	// queue, published (stored by the broker) and failed (given up on
	// after retries).
	Rows      int `json:"rows"`
	Dropped   int `json:"dropped"`
	Published int `json:"published"`
	Failed    int `json:"failed"`
	// Bucketing the sensor uses.
	BucketV4 int `json:"bucket_v4"`
	BucketV6 int `json:"bucket_v6"`
	// Final is set on the last heartbeat, when the sensor's input ended.
	Final bool `json:"final,omitempty"`
}

// ParseClock reads a heartbeat.
func ParseClock(data []byte) (Clock, error) {
	var c Clock
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("heartbeat: %w", err)
	}
	return c, nil
}

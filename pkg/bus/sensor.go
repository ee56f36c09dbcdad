package bus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"scanwatch/pkg/alert"
	"scanwatch/pkg/row"
)

// SensorOptions tune a Sensor. Zero fields take the defaults.
type SensorOptions struct {
	Name       string        // the sensor's name: subject token and the rows' sensor column
	Queue      int           // rows waiting for the publisher at most (65536)
	BatchRows  int           // rows in one message at most (256)
	Linger     time.Duration // how long a row waits for others of its bucket (20 ms)
	ClockEvery time.Duration // heartbeat period (100 ms)
	Bucketing  Bucketing     // DefaultBucketing
}

// SensorStats are a Sensor's counts.
type SensorStats struct {
	Rows      int // rows given to Add
	Dropped   int // of them, dropped at the full queue
	Published int // handed to the broker and not given up on
	Failed    int // given up on after retries
}

// Sensor publishes one sensor's rows and heartbeats; see the package
// comment. Add is called from one goroutine.
type Sensor struct {
	opt    SensorOptions
	pub    Publisher
	w      row.Writer
	buf    bytes.Buffer
	queue  chan queued
	boot   string
	done   chan struct{}
	cancel context.CancelFunc
	err    error

	rows, dropped, sent, failed atomic.Int64
	mu                          sync.Mutex // the clock, read by heartbeats
	lastEnd                     int64
	lastRead                    time.Time
	// seqs counts the messages published per bucket (the send goroutine's,
	// and Close's once it has ended): each message's id carries its
	// number, each heartbeat all of them.
	seqs   [Buckets]uint64
	clocks uint64
}

type queued struct {
	line   []byte
	bucket int
	rows   int
}

// NewSensor starts publishing rows of schema (with the sensor column added)
// through pub.
func NewSensor(pub Publisher, schema *row.Schema, opt SensorOptions) (*Sensor, error) {
	if err := CheckName(opt.Name); err != nil {
		return nil, err
	}
	if opt.Queue <= 0 {
		opt.Queue = 1 << 16
	}
	if opt.BatchRows <= 0 {
		opt.BatchRows = 256
	}
	if opt.Linger <= 0 {
		opt.Linger = 20 * time.Millisecond
	}
	if opt.ClockEvery <= 0 {
		opt.ClockEvery = 100 * time.Millisecond
	}
	if opt.Bucketing == (Bucketing{}) {
		opt.Bucketing = DefaultBucketing
	}
	boot := make([]byte, 6)
	rand.Read(boot)
	s := &Sensor{opt: opt, pub: pub, queue: make(chan queued, opt.Queue), boot: hex.EncodeToString(boot), done: make(chan struct{})}
	var err error
	if s.w, err = row.NewWriter(&s.buf, "ndjson", schema.With(row.Sensor), row.WriterOptions{}); err != nil {
		return nil, err
	}
	pub.OnFailure(func(subject string, data []byte) {
		if !IsClock(subject) {
			s.failed.Add(int64(bytes.Count(data, []byte{'\n'})))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.send(ctx)
	return s, nil
}

// Add queues r (its sensor column set to this sensor's name) and never
// blocks: with the queue full the row is dropped and counted.
func (s *Sensor) Add(r *row.Row) error {
	s.rows.Add(1)
	r.Sensor = s.opt.Name
	if err := s.w.Write(r); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	line := bytes.Clone(s.buf.Bytes())
	s.buf.Reset()
	end := alert.EndTime(r)
	s.mu.Lock()
	if end > s.lastEnd {
		s.lastEnd, s.lastRead = end, time.Now()
	}
	s.mu.Unlock()
	select {
	case s.queue <- queued{line: line, bucket: s.opt.Bucketing.Bucket(r.SrcIP), rows: 1}:
	default:
		s.dropped.Add(1)
	}
	return nil
}

// Stats returns the counts so far.
func (s *Sensor) Stats() SensorStats {
	sent, failed := s.sent.Load(), s.failed.Load()
	return SensorStats{Rows: int(s.rows.Load()), Dropped: int(s.dropped.Load()), Published: int(sent - failed), Failed: int(failed)}
}

// Close publishes what is queued, waits until the broker stored it (or
// ctx ends), sends a final heartbeat and stops.
func (s *Sensor) Close(ctx context.Context) error {
	close(s.queue)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	if s.err != nil {
		return s.err
	}
	if err := s.pub.Flush(ctx); err != nil {
		return err
	}
	// The counts are final now: say so.
	s.publishClock(ctx, true)
	return s.pub.Flush(ctx)
}

// send publishes batches and heartbeats until the queue is closed.
func (s *Sensor) send(ctx context.Context) {
	defer close(s.done)
	batches := make([][]byte, Buckets)
	counts := make([]int, Buckets)
	flush := func(b int) {
		if counts[b] == 0 || s.err != nil {
			return
		}
		s.seqs[b]++
		s.publish(ctx, RowSubject(s.opt.Name, b), batches[b], MessageID{Sensor: s.opt.Name, Boot: s.boot, Bucket: b, Seq: s.seqs[b]})
		s.sent.Add(int64(counts[b]))
		batches[b], counts[b] = nil, 0
	}
	flushAll := func() {
		for b := range batches {
			flush(b)
		}
	}
	linger := time.NewTicker(s.opt.Linger)
	defer linger.Stop()
	clock := time.NewTicker(s.opt.ClockEvery)
	defer clock.Stop()
	for {
		select {
		case q, ok := <-s.queue:
			if !ok {
				flushAll()
				return
			}
			batches[q.bucket] = append(batches[q.bucket], q.line...)
			if counts[q.bucket] += q.rows; counts[q.bucket] >= s.opt.BatchRows {
				flush(q.bucket)
			}
		case <-linger.C:
			flushAll()
		case <-clock.C:
			// Rows first: a heartbeat says the rows before it are out.
			flushAll()
			s.publishClock(ctx, false)
		case <-ctx.Done():
			return
		}
	}
}

func (s *Sensor) publish(ctx context.Context, subject string, data []byte, id MessageID) {
	if err := s.pub.Publish(ctx, subject, data, id.String()); err != nil && s.err == nil {
		s.err = err
	}
}

func (s *Sensor) publishClock(ctx context.Context, final bool) {
	st := s.Stats()
	c := Clock{Sensor: s.opt.Name, Boot: s.boot, Seqs: s.seqs[:], Rows: st.Rows, Dropped: st.Dropped, Published: st.Published, Failed: st.Failed,
		BucketV4: s.opt.Bucketing.V4, BucketV6: s.opt.Bucketing.V6, Final: final}
	s.mu.Lock()
	if s.lastEnd != 0 {
		c.Time = s.lastEnd + int64(time.Since(s.lastRead))
	}
	s.mu.Unlock()
	data, _ := json.Marshal(c)
	s.clocks++
	s.publish(ctx, ClockSubject(s.opt.Name), data, MessageID{Sensor: s.opt.Name, Boot: s.boot, Bucket: -1, Seq: s.clocks})
}

// Package natsbus is package bus over NATS JetStream: one connection to a
// cluster (a comma-separated list of nats:// URLs), the streams that hold
// rows and alerts, a Publisher with asynchronous acknowledgements, and a
// Subscription that is a durable pull consumer.
//
// The consumer acknowledges cumulatively (AckAll): its acknowledged floor
// is the log position up to which the rule has seen everything. When a
// Subscription opens, the consumer is reset to deliver from the floor on
// (JetStream's consumer reset), in log order: what a previous process had
// been delivered and not acknowledged comes again, before anything newer,
// rather than after an ack timeout, out of order. Replay reads the log up
// to the floor through an ordered consumer of its own, to rebuild state.
//
// Publishing is asynchronous, up to Window messages awaiting the broker's
// acknowledgement; past that Publish blocks (back-pressure). A message
// the broker does not acknowledge (a node died, a leader is being elected,
// a time-out) is sent again, asynchronously too, with the same
// Nats-Msg-Id, which the stream's duplicate window turns into one stored
// copy, for up to RetryFor; then it is given up on and reported
// (OnFailure). A retried message may be stored after newer ones: the ids
// number a sensor's messages so that bus.Input restores their order.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"scanwatch/pkg/bus"
)

// Stream names and their settings.
const (
	RowsStream   = "SCANWATCH_ROWS"
	AlertsStream = "SCANWATCH_ALERTS"
)

// Options tune a connection. Zero fields take the defaults.
type Options struct {
	Name     string        // client name, for the server's monitoring
	Replicas int           // stream replicas when this connection creates them: 0 is 3 on a cluster, 1 on a single server
	MaxAge   time.Duration // how long the streams keep messages (24 h): the longest a central instance can be away, and what a new one replays
	Window   int           // messages awaiting acknowledgement before Publish blocks (4096)
	RetryFor time.Duration // how long an unacknowledged message is sent again (60 s, under the 2 min duplicate window)
}

// Conn is a connection to a JetStream cluster.
type Conn struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	opt     Options
	pubOnce sync.Once
	pub     atomic.Pointer[Publisher]
}

// Dial connects to url (nats://host:port, several comma-separated) and
// keeps reconnecting, to any server of the cluster, for as long as it is
// open.
func Dial(url string, opt Options) (*Conn, error) {
	if opt.MaxAge <= 0 {
		opt.MaxAge = 24 * time.Hour
	}
	if opt.Window <= 0 {
		opt.Window = 4096
	}
	if opt.RetryFor <= 0 {
		opt.RetryFor = time.Minute
	}
	nc, err := nats.Connect(url, nats.Name(opt.Name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectBufSize(32<<20), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	c := &Conn{nc: nc, opt: opt}
	// The handlers see every publish's outcome, so that failures are
	// sent again without a goroutine waiting on each one.
	c.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(opt.Window), jetstream.WithPublishAsyncTimeout(5*time.Second),
		jetstream.WithDefaultTimeout(5*time.Second),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, msg *nats.Msg, _ *jetstream.PubAck) {
			if p := c.pub.Load(); p != nil {
				p.acked(msg)
			}
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, msg *nats.Msg, _ error) {
			if p := c.pub.Load(); p != nil {
				p.failed(msg)
			}
		}))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *Conn) Close() { c.nc.Close() }

// EnsureStreams creates the rows and alerts streams if they do not exist
// (an existing stream is used as it is).
func (c *Conn) EnsureStreams(ctx context.Context) error {
	replicas := c.opt.Replicas
	if replicas == 0 {
		replicas = 1
		if c.nc.ConnectedClusterName() != "" {
			replicas = 3
		}
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: RowsStream, Subjects: []string{bus.RowsPrefix + ">"}, Duplicates: 2 * time.Minute},
		{Name: AlertsStream, Subjects: []string{bus.AlertsPrefix + ">"}, Duplicates: 10 * time.Minute},
	} {
		cfg.Replicas, cfg.MaxAge, cfg.Storage = replicas, c.opt.MaxAge, jetstream.FileStorage
		err := retry(ctx, func(ctx context.Context) error {
			_, err := c.js.Stream(ctx, cfg.Name)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				_, err = c.js.CreateStream(ctx, cfg)
				if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
					err = nil
				}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// retry calls f until it succeeds, for up to 30 s: JetStream's API answers
// nothing while a cluster elects its meta leader.
func retry(ctx context.Context, f func(context.Context) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(cctx)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Publisher is a bus.Publisher: one a connection.
type Publisher struct {
	c       *Conn
	pending sync.WaitGroup
	onFail  atomic.Pointer[func(subject string, data []byte)]
	closed  atomic.Bool

	mu       sync.Mutex
	inFlight map[string]*flight // by message id
	retries  []*flight          // failed, to send again
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
}

// flight is a message on its way.
type flight struct {
	msg      *nats.Msg
	first    time.Time
	attempts int
	after    time.Time // not sent again before
}

// Publisher returns the connection's publisher.
func (c *Conn) Publisher() *Publisher {
	c.pubOnce.Do(func() {
		p := &Publisher{c: c, inFlight: map[string]*flight{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
		c.pub.Store(p)
		go p.retry()
	})
	return c.pub.Load()
}

// OnFailure registers fn, called with each message given up on.
func (p *Publisher) OnFailure(fn func(subject string, data []byte)) { p.onFail.Store(&fn) }

// Publish sends data; see bus.Publisher.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte, id string) error {
	if p.closed.Load() {
		return bus.ErrClosed
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, id)
	p.pending.Add(1)
	p.mu.Lock()
	p.inFlight[id] = &flight{msg: msg, first: time.Now()}
	p.mu.Unlock()
	for {
		_, err := p.c.js.PublishMsgAsync(msg, jetstream.WithStallWait(200*time.Millisecond))
		if err == nil {
			return nil
		}
		// Too many await acknowledgement, or the connection is down and
		// its buffer full: wait, as the caller must.
		select {
		case <-ctx.Done():
			p.settle(id)
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// acked is JetStream's acknowledgement handler: the message is stored.
func (p *Publisher) acked(msg *nats.Msg) { p.settle(msg.Header.Get(jetstream.MsgIDHeader)) }

// failed is JetStream's error handler (a time-out, no stream leader, a
// lost connection): the message goes into the retry queue. It must not
// block.
func (p *Publisher) failed(msg *nats.Msg) {
	id := msg.Header.Get(jetstream.MsgIDHeader)
	p.mu.Lock()
	f := p.inFlight[id]
	if f != nil {
		f.attempts++
		f.after = time.Now().Add(min(time.Duration(f.attempts)*100*time.Millisecond, time.Second))
		p.retries = append(p.retries, f)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Publisher) settle(id string) {
	p.mu.Lock()
	_, ok := p.inFlight[id]
	delete(p.inFlight, id)
	p.mu.Unlock()
	if ok {
		p.pending.Done()
	}
}

// retry sends failed messages again, asynchronously like the first time,
// under their ids, until RetryFor has passed since they were first sent.
// Retries are not held in order: the broker may store a retried message
// after newer ones, and bus.Input puts each sensor's messages back in the
// order their ids number them.
func (p *Publisher) retry() {
	defer close(p.done)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-tick.C:
		}
		p.mu.Lock()
		now := time.Now()
		var due, later []*flight
		for _, f := range p.retries {
			if now.Before(f.after) {
				later = append(later, f)
			} else {
				due = append(due, f)
			}
		}
		p.retries = later
		p.mu.Unlock()
		for _, f := range due {
			if time.Since(f.first) > p.c.opt.RetryFor {
				if fn := p.onFail.Load(); fn != nil {
					(*fn)(f.msg.Subject, f.msg.Data)
				}
				p.settle(f.msg.Header.Get(jetstream.MsgIDHeader))
				continue
			}
			if _, err := p.c.js.PublishMsgAsync(f.msg, jetstream.WithStallWait(100*time.Millisecond)); err != nil {
				p.failed(f.msg)
			}
		}
	}
}

// Flush waits until every message published so far is stored or failed.
func (p *Publisher) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the broker to store what was published: %w", ctx.Err())
	}
}

// Close stops retrying; call Flush first to wait for what is on its way.
func (p *Publisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.stop)
	<-p.done
	return nil
}

// Subscription is a bus.Subscription over a durable pull consumer.
type Subscription struct {
	c        *Conn
	stream   string
	subjects []string
	cons     jetstream.Consumer
	floor    uint64
	last     uint64          // the last log position handed out
	unacked  []jetstream.Msg // delivered, in order
}

// Subscribe opens (or creates) the durable consumer name of stream over
// subjects and resets it to deliver from its acknowledged floor on.
func (c *Conn) Subscribe(ctx context.Context, stream, name string, subjects []string) (*Subscription, error) {
	s := &Subscription{c: c, stream: stream, subjects: subjects}
	err := retry(ctx, func(ctx context.Context) error {
		cons, err := c.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: name, FilterSubjects: subjects, AckPolicy: jetstream.AckAllPolicy, AckWait: 30 * time.Second,
			MaxAckPending: 1 << 20, DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1,
		})
		if err != nil {
			return err
		}
		if _, err := c.js.ResetConsumer(ctx, stream, name); err != nil {
			return fmt.Errorf("reset to the acknowledged floor: %w", err)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		s.cons, s.floor, s.last = cons, info.AckFloor.Stream, info.AckFloor.Stream
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s of %s: %w", name, stream, err)
	}
	return s, nil
}

// Floor is the acknowledged floor when the subscription opened.
func (s *Subscription) Floor() uint64 { return s.floor }

// Replay hands out the messages up to the floor.
func (s *Subscription) Replay(ctx context.Context, fn func(bus.Message) error) error {
	if s.floor == 0 {
		return nil
	}
	var oc jetstream.Consumer
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		oc, err = s.c.js.OrderedConsumer(ctx, s.stream, jetstream.OrderedConsumerConfig{FilterSubjects: s.subjects, DeliverPolicy: jetstream.DeliverAllPolicy})
		return err
	})
	if err != nil {
		return err
	}
	idle := 0
	for ctx.Err() == nil {
		batch, err := oc.Fetch(512, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return err
			}
			if md.Sequence.Stream > s.floor {
				return nil
			}
			if err := fn(message(msg, md)); err != nil {
				return err
			}
			if md.Sequence.Stream == s.floor || md.NumPending == 0 {
				return nil
			}
		}
		if n > 0 {
			idle = 0
			continue
		}
		// Nothing came: either nothing is left up to the floor (the log
		// dropped it, or it never held any of these subjects), or the
		// cluster is electing a leader.
		if info, err := oc.Info(ctx); err == nil && info.NumPending == 0 {
			return nil
		}
		if idle++; idle > 30 {
			return errors.New("the log sends nothing, yet says more is pending")
		}
	}
	return ctx.Err()
}

// message is msg as a bus.Message.
func message(msg jetstream.Msg, md *jetstream.MsgMetadata) bus.Message {
	return bus.Message{Subject: msg.Subject(), Data: msg.Data(), Seq: md.Sequence.Stream, ID: msg.Headers().Get(jetstream.MsgIDHeader)}
}

// Fetch returns up to max messages, waiting up to wait for the first.
func (s *Subscription) Fetch(ctx context.Context, max int, wait time.Duration) ([]bus.Message, error) {
	batch, err := s.cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	var out []bus.Message
	for msg := range batch.Messages() {
		md, err := msg.Metadata()
		if err != nil || md.Sequence.Stream <= s.last {
			// Delivered again after the ack wait (rows the merge still
			// holds, on an idle log): already handed out.
			continue
		}
		s.last = md.Sequence.Stream
		s.unacked = append(s.unacked, msg)
		out = append(out, message(msg, md))
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return out, err
	}
	return out, nil
}

// Ack acknowledges every message up to seq (AckAll), and waits for the
// server to confirm it.
func (s *Subscription) Ack(ctx context.Context, seq uint64) error {
	n := 0
	for n < len(s.unacked) {
		md, _ := s.unacked[n].Metadata()
		if md.Sequence.Stream > seq {
			break
		}
		n++
	}
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.unacked[n-1].DoubleAck(ctx); err != nil {
		return err
	}
	s.unacked = s.unacked[n:]
	return nil
}

// Close forgets the messages not acknowledged: they come again to the
// next subscriber.
func (s *Subscription) Close() error {
	s.unacked = nil
	return nil
}

// Pending reports how many messages of the consumer are not yet delivered
// and how many are delivered and not acknowledged (for tests and
// benchmarks that wait for a central instance to catch up).
func (c *Conn) Pending(ctx context.Context, stream, name string) (undelivered, unacked uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := c.js.Consumer(ctx, stream, name)
	if err != nil {
		return 0, 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return info.NumPending, uint64(info.NumAckPending), nil
}

// WaitSettled waits until the consumers have been delivered everything
// and their unacknowledged counts have not changed for settle (the rule
// has been through what they fetched; what is left unacknowledged is what
// the merge holds), and returns when the last change was seen. For tests
// and benchmarks that wait for central instances to catch up.
func (c *Conn) WaitSettled(ctx context.Context, stream string, names []string, settle, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	last := map[string][2]uint64{}
	changed := time.Now()
	for {
		settled := true
		for _, name := range names {
			undelivered, unacked, err := c.Pending(ctx, stream, name)
			if err != nil {
				settled = false
				continue
			}
			now := [2]uint64{undelivered, unacked}
			if prev, ok := last[name]; !ok || prev != now {
				last[name], changed = now, time.Now()
			}
			if undelivered > 0 {
				settled = false
			}
		}
		if settled && time.Since(changed) >= settle {
			return changed, nil
		}
		if time.Now().After(deadline) {
			return changed, fmt.Errorf("consumers %v not settled after %s", names, limit)
		}
		select {
		case <-ctx.Done():
			return changed, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Messages reads every message of stream on subjects matching filter, in
// order (for tests and benchmarks that check what the log holds).
func (c *Conn) Messages(ctx context.Context, stream, filter string) ([]bus.Message, error) {
	oc, err := c.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, err
	}
	info, err := oc.Info(ctx)
	if err != nil {
		return nil, err
	}
	left := info.NumPending
	var out []bus.Message
	for left > 0 {
		batch, err := oc.Fetch(int(min(left, 1024)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return out, err
		}
		n := 0
		for msg := range batch.Messages() {
			md, _ := msg.Metadata()
			out = append(out, message(msg, md))
			n++
			left = md.NumPending
		}
		if n == 0 {
			return out, fmt.Errorf("%d messages pending, none delivered", left)
		}
	}
	return out, nil
}

// IsConnected reports whether the connection is up now.
func (c *Conn) IsConnected() bool { return c.nc.IsConnected() }

var (
	_ bus.Publisher    = (*Publisher)(nil)
	_ bus.Subscription = (*Subscription)(nil)
)

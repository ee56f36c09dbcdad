package trafficgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Action is one kind of legitimate client behaviour.
type Action string

const (
	// ActionSweep is the harvester's noiser: a fresh connection and one HTTP GET
	// to a port of the range; most ports are closed and answer with RST.
	ActionSweep Action = "sweep"
	// ActionKeepAlive is a GET over a pooled keep-alive connection to a
	// port trafficgen serves, like a browser revisiting a site.
	ActionKeepAlive Action = "keepalive"
	// ActionExchange is a short TCP exchange: connect to a served port,
	// send one request, read the whole answer, close.
	ActionExchange Action = "exchange"
	// ActionClosed is a bare connection attempt to a port of the range
	// that trafficgen does not serve, closed at once if it happens to open.
	ActionClosed Action = "closed"
	// ActionEcho is an interactive session with the echo server: a few
	// short lines, each answered, with pauses between them, like a
	// terminal or a chat client.
	ActionEcho Action = "echo"
	// ActionPreconnect opens a connection to a served port and closes it
	// again after a moment without sending anything, as a browser's
	// speculative connections do.
	ActionPreconnect Action = "preconnect"
	// ActionCheck opens a connection to a served port and closes it at
	// once, as a load balancer's or a monitor's TCP health check does.
	ActionCheck Action = "check"
)

// Actions lists every action, in the order a Mix is written.
var Actions = []Action{ActionSweep, ActionKeepAlive, ActionExchange, ActionClosed, ActionEcho, ActionPreconnect, ActionCheck}

// Mix weighs the actions of a normal client; the zero Mix is the seed's
// (sweep 55, keepalive 25, exchange 12, closed 8; sweep 90 and closed 10
// without served ports).
type Mix map[Action]float64

// ParseMix reads "keepalive=3,exchange=1": weights, relative to each other.
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		v, err := strconv.ParseFloat(w, 64)
		if !ok || err != nil || v < 0 || !slices.Contains(Actions, Action(name)) {
			return nil, fmt.Errorf("mix %q: want action=weight items, actions %v", s, Actions)
		}
		m[Action(name)] += v
	}
	total := 0.0
	for _, v := range m {
		total += v
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: all weights are zero", s)
	}
	return m, nil
}

// String writes the mix back in ParseMix's form.
func (m Mix) String() string {
	var parts []string
	for _, a := range Actions {
		if v, ok := m[a]; ok {
			parts = append(parts, string(a)+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	return strings.Join(parts, ",")
}

// NormalOptions configure legitimate traffic.
type NormalOptions struct {
	Target netip.Addr
	Source netip.Addr // client sockets bind here; zero = kernel's choice
	Ports  PortSet    // the sweep range (the harvester's: 1-12000)
	Serve  []uint16   // ports trafficgen's own server listens on (may be empty)
	// Rate is actions per second across all workers; 0 = as fast as the
	// workers go.
	Rate        float64
	Count       int           // stop after this many actions (> 0)
	Duration    time.Duration // stop after this long (> 0)
	Concurrency int           // parallel clients (≥ 1)
	Timeout     time.Duration // per action
	Seed        uint64
	Mix         Mix    // nil: the seed's mix
	Echo        uint16 // port of the echo server (ActionEcho); 0 = none
	// Also are more hosts, serving as Target does: each action of a Mix
	// goes to one of Target and Also, drawn like the action, as a browser's
	// requests go to many sites.
	Also []netip.Addr
}

// NormalStats count what happened, per action.
type NormalStats struct {
	mu      sync.Mutex
	Started int
	ByKind  map[Action]int
	OK      int // an HTTP answer or a completed exchange
	Refused int // connection refused: a closed port, as expected
	Failed  int // anything else (timeouts, resets)
	LastErr error
}

func (s *NormalStats) add(a Action, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ByKind == nil {
		s.ByKind = map[Action]int{}
	}
	s.ByKind[a]++
	switch {
	case err == nil:
		s.OK++
	case errors.Is(err, syscall.ECONNREFUSED):
		s.Refused++
	default:
		s.Failed++
		s.LastErr = err
	}
}

// String summarises the stats for stderr.
func (s *NormalStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, n := range s.ByKind {
		total += n
	}
	kinds := fmt.Sprintf("sweep %d, keepalive %d, exchange %d, closed %d", s.ByKind[ActionSweep], s.ByKind[ActionKeepAlive], s.ByKind[ActionExchange], s.ByKind[ActionClosed])
	for _, a := range Actions[4:] {
		if n := s.ByKind[a]; n > 0 {
			kinds += fmt.Sprintf(", %s %d", a, n)
		}
	}
	return fmt.Sprintf("%d actions (%s): %d answered, %d refused, %d failed", total, kinds, s.OK, s.Refused, s.Failed)
}

// Total is the number of finished actions.
func (s *NormalStats) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.OK + s.Refused + s.Failed
}

// NormalStep is one planned action.
type NormalStep struct {
	Action Action
	Port   uint16
	Host   netip.Addr // zero: the client's target
}

// PlanNormal draws the i-th action of a seeded stream: the same seed gives
// the same actions whatever the scheduling of the workers.
func PlanNormal(seed uint64, i int, ports PortSet, serve []uint16) NormalStep {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	return drawNormal(r, ports, serve)
}

// Plan draws the i-th action of the options' seeded stream.
func (o NormalOptions) Plan(i int) NormalStep {
	r := rand.New(rand.NewPCG(o.Seed, uint64(i)))
	if o.Mix == nil {
		return drawNormal(r, o.Ports, o.Serve)
	}
	total := 0.0
	for _, a := range Actions {
		total += o.Mix[a]
	}
	x := r.Float64() * total
	var host netip.Addr
	if n := len(o.Also); n > 0 {
		if i := r.IntN(n + 1); i > 0 {
			host = o.Also[i-1]
		}
	}
	for _, a := range Actions {
		if x -= o.Mix[a]; x < 0 || a == Actions[len(Actions)-1] {
			switch a {
			case ActionSweep:
				return NormalStep{Action: a, Port: o.Ports.At(r.IntN(o.Ports.Len())), Host: host}
			case ActionClosed:
				return NormalStep{Action: a, Port: closedPort(r, o.Ports, o.Serve), Host: host}
			case ActionEcho:
				return NormalStep{Action: a, Port: o.Echo, Host: host}
			default:
				return NormalStep{Action: a, Port: o.Serve[r.IntN(len(o.Serve))], Host: host}
			}
		}
	}
	panic("unreachable")
}

func drawNormal(r *rand.Rand, ports PortSet, serve []uint16) NormalStep {
	sweep := func() uint16 { return ports.At(r.IntN(ports.Len())) }
	if len(serve) == 0 {
		if r.Float64() < 0.9 {
			return NormalStep{Action: ActionSweep, Port: sweep()}
		}
		return NormalStep{Action: ActionClosed, Port: closedPort(r, ports, serve)}
	}
	x := r.Float64()
	switch {
	case x < 0.55:
		return NormalStep{Action: ActionSweep, Port: sweep()}
	case x < 0.80:
		return NormalStep{Action: ActionKeepAlive, Port: serve[r.IntN(len(serve))]}
	case x < 0.92:
		return NormalStep{Action: ActionExchange, Port: serve[r.IntN(len(serve))]}
	default:
		return NormalStep{Action: ActionClosed, Port: closedPort(r, ports, serve)}
	}
}

func closedPort(r *rand.Rand, ports PortSet, serve []uint16) uint16 {
	for range 8 {
		p := ports.At(r.IntN(ports.Len()))
		if !contains(serve, p) {
			return p
		}
	}
	return ports.At(r.IntN(ports.Len()))
}

func contains(ps []uint16, p uint16) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func (o NormalOptions) validate() error {
	if !o.Target.IsValid() {
		return fmt.Errorf("no target")
	}
	if o.Ports.Len() == 0 {
		return fmt.Errorf("no ports")
	}
	if o.Count <= 0 {
		return fmt.Errorf("count must be > 0, got %d", o.Count)
	}
	if o.Duration <= 0 {
		return fmt.Errorf("duration must be > 0, got %s", o.Duration)
	}
	if o.Concurrency < 1 {
		return fmt.Errorf("concurrency must be ≥ 1, got %d", o.Concurrency)
	}
	if o.Rate < 0 {
		return fmt.Errorf("rate must be ≥ 0, got %g", o.Rate)
	}
	if (o.Mix[ActionKeepAlive] > 0 || o.Mix[ActionExchange] > 0 || o.Mix[ActionPreconnect] > 0 || o.Mix[ActionCheck] > 0) && len(o.Serve) == 0 {
		return fmt.Errorf("mix %s needs served ports", o.Mix)
	}
	if o.Mix[ActionEcho] > 0 && o.Echo == 0 {
		return fmt.Errorf("mix %s needs an echo port", o.Mix)
	}
	return nil
}

// Client makes the legitimate requests; it is shared by normal and mix.
type Client struct {
	target    netip.Addr
	dialer    *net.Dialer
	sweep     *http.Client // no keep-alive: one connection per GET, as the harvester's requests.get
	keepAlive *http.Client
	timeout   time.Duration
}

// NewClient returns a client whose sockets bind to source (if valid).
func NewClient(target, source netip.Addr, concurrency int, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	d := &net.Dialer{Timeout: timeout}
	if source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: source.AsSlice()}
	}
	sweepT := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true, Proxy: nil}
	kaT := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: max(concurrency, 1), IdleConnTimeout: 30 * time.Second, Proxy: nil}
	return &Client{
		target:    target,
		dialer:    d,
		sweep:     &http.Client{Transport: sweepT, Timeout: timeout},
		keepAlive: &http.Client{Transport: kaT, Timeout: timeout},
		timeout:   timeout,
	}
}

// Close drops pooled connections.
func (c *Client) Close() {
	c.sweep.CloseIdleConnections()
	c.keepAlive.CloseIdleConnections()
}

// addr is where step s goes.
func (c *Client) addr(s NormalStep) string {
	host := s.Host
	if !host.IsValid() {
		host = c.target
	}
	return netip.AddrPortFrom(host, s.Port).String()
}

// Do performs one action and returns its error (ECONNREFUSED for a closed port).
func (c *Client) Do(ctx context.Context, s NormalStep) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	switch s.Action {
	case ActionSweep:
		return c.get(ctx, c.sweep, c.addr(s))
	case ActionKeepAlive:
		return c.get(ctx, c.keepAlive, c.addr(s))
	case ActionExchange:
		return c.exchange(ctx, c.addr(s))
	case ActionEcho:
		return c.echo(ctx, c.addr(s))
	case ActionPreconnect, ActionCheck:
		conn, err := c.dialer.DialContext(ctx, "tcp", c.addr(s))
		if err != nil {
			return err
		}
		if s.Action == ActionPreconnect {
			select {
			case <-time.After(150 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		return conn.Close()
	case ActionClosed:
		conn, err := c.dialer.DialContext(ctx, "tcp", c.addr(s))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("unknown action %q", s.Action)
}

func (c *Client) get(ctx context.Context, hc *http.Client, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	// Drain so the keep-alive connection is reused.
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return err
}

// dialTimed connects to addr with the action's deadline on the connection
// too, so that a stalled server cannot hold the client past its action.
func (c *Client) dialTimed(ctx context.Context, addr string) (net.Conn, error) {
	conn, err := c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return conn, nil
}

func (c *Client) exchange(ctx context.Context, addr string) error {
	conn, err := c.dialTimed(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /exchange HTTP/1.0\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(conn, 1<<20))
	return err
}

// echo sends three short lines to the echo server, reading each answer,
// 30 ms apart, then closes.
func (c *Client) echo(ctx context.Context, addr string) error {
	conn, err := c.dialTimed(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 64)
	for i := range 3 {
		line := fmt.Sprintf("line %d of an interactive session\n", i)
		if _, err := io.WriteString(conn, line); err != nil {
			return err
		}
		if _, err := io.ReadFull(conn, buf[:len(line)]); err != nil {
			return err
		}
		select {
		case <-time.After(30 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// RunNormal makes legitimate traffic until Count actions are done, Duration
// has passed or ctx is cancelled, whichever comes first. Cancellation and
// the duration limit are not errors.
func RunNormal(ctx context.Context, o NormalOptions) (*NormalStats, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	client := NewClient(o.Target, o.Source, o.Concurrency, o.Timeout)
	defer client.Close()
	stats := &NormalStats{}
	steps := make(chan int)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			for i := range steps {
				s := o.Plan(i)
				err := client.Do(ctx, s)
				if ctx.Err() != nil {
					return // the run is over; an interrupted action is not counted
				}
				stats.add(s.Action, err)
			}
		})
	}
	dispatch(ctx, o.Count, o.Rate, steps)
	close(steps)
	wg.Wait()
	return stats, nil
}

// dispatch sends 0..count-1 on steps, at most rate per second, until ctx ends.
func dispatch(ctx context.Context, count int, rate float64, steps chan<- int) {
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	for i := range count {
		if tick != nil && i > 0 {
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
		select {
		case steps <- i:
		case <-ctx.Done():
			return
		}
	}
}

// Servers are trafficgen's own HTTP servers, the open side of normal traffic.
type Servers struct {
	srv   []*http.Server
	wg    sync.WaitGroup
	Addrs []netip.AddrPort

	mu       sync.Mutex
	requests map[netip.Addr]int // by client address: shows the clients' source binding works
	echo     []net.Listener
	open     map[net.Conn]struct{} // echo connections, closed by Close
}

// Requests returns the number of requests served per client address.
func (s *Servers) Requests() map[netip.Addr]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[netip.Addr]int{}
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// Serve listens on addr:port for each port (0 picks a free port) and serves
// small pages until Close.
func Serve(addr netip.Addr, ports []uint16) (*Servers, error) {
	s := &Servers{requests: map[netip.Addr]int{}, open: map[net.Conn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			s.mu.Lock()
			s.requests[ap.Addr().Unmap()]++
			s.mu.Unlock()
		}
		// Page sizes vary like real pages do, deterministically per path.
		n := 200 + len(r.URL.Path)*97%1800
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = 'a' + byte(i%26)
		}
		w.Write(buf)
	})
	for _, p := range ports {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, p).String())
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("serve: %w", err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
		s.srv = append(s.srv, srv)
		s.Addrs = append(s.Addrs, netip.MustParseAddrPort(ln.Addr().String()))
		s.wg.Go(func() { srv.Serve(ln) })
	}
	return s, nil
}

// Echo also listens on addr:port (0 picks a free port) and echoes whatever
// each connection sends until it closes; it returns the port.
func (s *Servers) Echo(addr netip.Addr, port uint16) (uint16, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, port).String())
	if err != nil {
		return 0, fmt.Errorf("echo: %w", err)
	}
	s.mu.Lock()
	s.echo = append(s.echo, ln)
	s.mu.Unlock()
	s.wg.Go(func() {
		var conns sync.WaitGroup
		defer conns.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open[c] = struct{}{}
			s.mu.Unlock()
			conns.Go(func() {
				io.Copy(c, io.LimitReader(c, 1<<20))
				c.Close()
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
			})
		}
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port), nil
}

// Ports returns the ports actually listened on.
func (s *Servers) Ports() []uint16 {
	var ps []uint16
	for _, a := range s.Addrs {
		ps = append(ps, a.Port())
	}
	return ps
}

// Close stops the servers and their connections.
func (s *Servers) Close() {
	for _, srv := range s.srv {
		srv.Close()
	}
	s.mu.Lock()
	for _, ln := range s.echo {
		ln.Close()
	}
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

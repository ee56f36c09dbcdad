// Package alert turns classified session rows into scan alerts: which
// initiator scanned which targets and ports, with which nmap techniques, from
// when to when. Everything runs on packet time (the rows' own timestamps), so
// a live run and a replay of its capture give the same alerts, timestamps
// included.
//
// # The rule
//
// The seed's detector declared a scan when ≥ 30 % of all sessions so far were
// anomalies. Detector measures it per scanner over a sliding window of packet
// time, and by default counts distinct services (dst_ip, dst_port) instead of
// sessions: for each initiator address,
//
//	services with an anomalous session from it in the window ≥ MinSessions  and
//	those / all services it opened sessions to in the window ≥ Ratio
//
// evaluated on every row, so an alert leaves on the row that makes it hold.
//
// Why the scanner's own traffic as denominator, not all sessions in the
// window: with a global denominator a scan drowns in a busy network, two
// simultaneous scanners halve each other's share, and a quiet host's single
// false positive could trip the rule on an idle network. Why services, not
// sessions (Rule Services; Rule Sessions keeps the seed's count): a scanner
// that is also a busy client opens many sessions to few services, and
// counted in sessions its own traffic dilutes its scan below any ratio;
// counted in services its curl loop is one service beside every port it
// probed, while a normal host whose sessions to its few services the model
// sometimes gets wrong stays at those few. The global ratio is still
// reported (Stats) for the seed's summary table.
//
// # Episodes
//
// A scanner's first anomalous session opens a candidate episode that collects
// attribution (targets, ports, techniques, times). When the rule holds the
// episode becomes an alert: one "start" record; then "update" records, only
// if new anomalies came, the first at least Update of packet time after the
// start and each gap twice the one before (up to 32×Update); and one
// "end" record once the scanner has been quiet (no anomalous session) for
// Quiet, or when the input ends. A candidate that never alerts is dropped
// silently after Quiet.
//
// # Beyond one address
//
// Merged rows of several sensors (package eventtime orders them) make the
// per-address rule a rule across sensors: a scanner that sweeps hosts
// behind different sensors is one scanner here, and its records name the
// sensors (the rows' sensor column). With Subnets, every row also counts
// for its source's /24 (IPv6: /64, SubnetBits4 and SubnetBits6), under the
// same rule, so that a scan split over many addresses of one network,
// none of which crosses the threshold alone, is alerted as one episode
// naming its sources. A subnet alerts only when no single source explains
// it: without its largest source, the others still hold MinSessions
// anomalous services (sessions) in the window. A lone scanner with a
// false-positive neighbour therefore raises its own alert and not a
// second, subnet one.
//
// # Memory
//
// Bounded by MaxScanners tracked initiators, MaxWindow sessions in the window
// (older ones leave early when it is full) and MaxEpisodes candidates; each
// episode holds at most an 8 KiB port bitmap and maxTargets addresses. What
// the caps drop is counted in Stats.
package alert

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"scanwatch/pkg/row"
)

// Rule is what the Detector counts per scanner.
type Rule uint8

const (
	// Services counts distinct services (dst_ip, dst_port): a scanner that
	// is also a busy client shows its curl loop as one service, however
	// many sessions it opens, beside every port it probed.
	Services Rule = iota
	// Sessions counts sessions: the seed's 30 % rule, taken per scanner
	// over the window. A busy host dilutes its own scan with it.
	Sessions
)

func (r Rule) String() string { return [...]string{"services", "sessions"}[r] }

// ParseRule reads a rule's name.
func ParseRule(s string) (Rule, error) {
	switch s {
	case "services":
		return Services, nil
	case "sessions":
		return Sessions, nil
	}
	return 0, fmt.Errorf("unknown rule %q (services or sessions)", s)
}

// Config tunes a Detector. Zero fields take the defaults of DefaultConfig.
type Config struct {
	Rule        Rule          // what is counted: distinct services (default) or sessions
	Ratio       float64       // anomalous/all counted in the window, per scanner
	MinSessions int           // anomalous counted (services or sessions) of a scanner in the window
	Window      time.Duration // sliding window of packet time
	Quiet       time.Duration // an episode ends after this long without anomalies
	Update      time.Duration // first gap between update records; it doubles after each, up to 32×

	MaxScanners int // initiators (and subnets) tracked at once
	MaxWindow   int // sessions held in the window
	MaxEpisodes int // candidate and alerting episodes at once

	// Subnets also applies the rule to each source's subnet: /SubnetBits4
	// for IPv4 (default 24), /SubnetBits6 for IPv6 (default 64).
	Subnets                  bool
	SubnetBits4, SubnetBits6 int
}

// DefaultConfig is the default rule. Window 5 s and MinSessions 5: nmap at its
// default timing sends hundreds of probes per second, so 5 anomalies arrive in
// milliseconds, while even --scan-delay 1s (the seed's "delayed" set) puts 5
// probes in a 5 s window; a normal host needs 5 misclassified sessions within
// 5 s, and most of its sessions misclassified, to trip it. Quiet 10 s exceeds
// any scan delay that the window can catch.
func DefaultConfig() Config {
	return Config{
		Ratio:       0.30,
		MinSessions: 5,
		Window:      5 * time.Second,
		Quiet:       10 * time.Second,
		Update:      10 * time.Second,
		MaxScanners: 1 << 16,
		MaxWindow:   1 << 20,
		MaxEpisodes: 4096,
		SubnetBits4: 24,
		SubnetBits6: 64,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Ratio == 0 {
		c.Ratio = d.Ratio
	}
	if c.MinSessions == 0 {
		c.MinSessions = d.MinSessions
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.Quiet == 0 {
		c.Quiet = d.Quiet
	}
	if c.Update == 0 {
		c.Update = d.Update
	}
	if c.MaxScanners == 0 {
		c.MaxScanners = d.MaxScanners
	}
	if c.MaxWindow == 0 {
		c.MaxWindow = d.MaxWindow
	}
	if c.MaxEpisodes == 0 {
		c.MaxEpisodes = d.MaxEpisodes
	}
	if c.SubnetBits4 == 0 {
		c.SubnetBits4 = d.SubnetBits4
	}
	if c.SubnetBits6 == 0 {
		c.SubnetBits6 = d.SubnetBits6
	}
	return c
}

// Validate reports a setting no rule can use.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.Ratio) || c.Ratio < 0 || c.Ratio > 1:
		return fmt.Errorf("ratio %v is not within 0..1", c.Ratio)
	case c.MinSessions < 0:
		return errors.New("min-sessions must not be negative")
	case c.Window < 0 || c.Quiet < 0 || c.Update < 0:
		return errors.New("window, quiet and update must not be negative")
	case c.MaxScanners < 0 || c.MaxWindow < 0 || c.MaxEpisodes < 0:
		return errors.New("limits must not be negative")
	case c.SubnetBits4 < 0 || c.SubnetBits4 > 31 || c.SubnetBits6 < 0 || c.SubnetBits6 > 127:
		// A /32 (/128) subnet would be the address itself, counted twice.
		return fmt.Errorf("subnet prefix lengths /%d and /%d are not within 1..31 and 1..127", c.SubnetBits4, c.SubnetBits6)
	}
	return nil
}

// State is the kind of an alert record.
type State uint8

// Alert record kinds.
const (
	Start State = iota
	Update
	End
)

func (s State) String() string { return [...]string{"start", "update", "end"}[s] }

// Event is one alert record. Every field is packet-time based.
type Event struct {
	State State
	// Time is the packet time (Unix ns) at which the record holds: for
	// start and update the end of the session that made it hold (its own
	// time, not the latest seen, so that rows of other hosts arriving in
	// another order cannot change it); last anomaly + Quiet for a quiet
	// end; the latest packet time seen when the input ends.
	Time    int64
	Episode int // alert number: 1 for the Detector's first alert, and so on
	Reason  string

	// Scanner is the scanning address; for a subnet episode, the source
	// of its first anomalous session. Scope is the episode's key: Scanner
	// as a single-address prefix, or the subnet.
	Scanner     netip.Addr
	Scope       netip.Prefix
	Subnet      bool         // the episode is a subnet's (Config.Subnets)
	Sources     []netip.Addr // a subnet episode's first maxListedTargets anomalous sources, in order seen
	SourceCount int          // its distinct anomalous sources (at most maxTargets are counted)
	MoreSources bool
	// Sensors are the sensors whose rows the episode's anomalous sessions
	// came from (the rows' sensor column), in order seen; none for rows
	// without it.
	Sensors     []string
	MoreSensors bool
	Targets     []netip.Addr // first maxListedTargets distinct targets, in order seen
	TargetCount int          // distinct targets (at most maxTargets are counted)
	MoreTargets bool         // more than maxTargets distinct targets
	Ports       string       // compact ranges, "1-100,443"
	PortCount   int
	Techniques  []TechCount

	Rule                    Rule
	Anomalies               int // anomalous sessions of the episode
	Sessions                int // all sessions of the scanner since the episode's first anomaly
	WindowAnomalies         int // the scanner's sessions in the window at Time: anomalous, all
	WindowSessions          int
	WindowAnomalousServices int // its distinct services in the window: with an anomalous session, all
	WindowServices          int
	First, Last             int64 // packet times of the first and last anomalous session
	MeanScore               float64
	HasScore                bool

	// FirstFlow is the episode's first anomalous session (by start time):
	// what flow_id, community_id, src_port and dest_port name.
	FirstFlow Flow
	// Open are the services (target, port) that answered one of the
	// scanner's sessions in the episode with SYN/ACK: the open ports the
	// scan found. OpenPorts is their ports in compact form; at most
	// maxListedOpen services are listed (MoreOpen beyond).
	OpenPorts     string
	OpenPortCount int
	Open          []netip.AddrPort
	MoreOpen      bool
}

// Flow is one session's endpoints and start (packet time, Unix ns).
type Flow struct {
	Src   netip.AddrPort
	Dst   netip.AddrPort
	Start int64
}

// Counts are the rule's numbers at the record's time: anomalous and all
// services, or sessions.
func (e *Event) Counts() (anomalous, all int) {
	if e.Rule == Sessions {
		return e.WindowAnomalies, e.WindowSessions
	}
	return e.WindowAnomalousServices, e.WindowServices
}

// Ratio is the rule's share: anomalous over all of what it counts.
func (e *Event) Ratio() float64 {
	a, n := e.Counts()
	if n == 0 {
		return 0
	}
	return float64(a) / float64(n)
}

// Summary names the techniques for a signature: "SYN", "FIN+XMAS". A
// technique seen in under a twentieth of the sessions the largest one has
// is left out of it (the record's techniques still count it): a handful of
// the scanner's own ordinary sessions that the model took for probes must
// not rename a 600-port SYN scan "connect+SYN".
func (e *Event) Summary() string {
	most := 0
	for _, t := range e.Techniques {
		if t.Tech != Other {
			most = max(most, t.Sessions)
		}
	}
	s := ""
	for i, t := range e.Techniques {
		if t.Tech == Other && len(e.Techniques) > 1 || 20*t.Sessions < most {
			continue
		}
		if i > 0 && s != "" {
			s += "+"
		}
		s += t.Tech.String()
	}
	if s == "" {
		s = "other"
	}
	return s
}

// Stats are running totals.
type Stats struct {
	Rows, Anomalies             int // all rows seen
	WindowRows, WindowAnomalies int // rows in the current window, all scanners
	Alerts                      int // episodes that raised an alert
	Open                        int // alerts not yet ended
	Scanners                    int // initiators tracked now
	Now                         int64
	// What the memory caps dropped.
	Untracked       int // rows of initiators beyond MaxScanners
	Stale           int // rows that ended before the window (late rows of a merged stream), not counted
	EpisodesDropped int // candidates dropped, or anomalies that found no room (MaxEpisodes)
	WindowEvicted   int // sessions that left the window early (MaxWindow)
}

const (
	// maxUpdateGaps caps the doubling update gap: a slow scan that lasts an
	// hour (the seed's delayed set) gets ~20 updates, not 360.
	maxUpdateGaps    = 32
	maxTargets       = 1024
	maxListedTargets = 16
	maxListedOpen    = 32
	maxSensors       = 64
)

// scanner is what the rule counts for one key: a source address, or
// (Config.Subnets) a source subnet.
type scanner struct {
	key             netip.Prefix
	winAll, winAnom int
	// services in the window: sessions (all, anomalous) per service, and
	// how many services have any, and an anomalous one.
	services                map[service]serviceCount
	winServices, winAnomSvc int
	ep                      *episode
	// subnet: the key is a source subnet (Config.Subnets), whose members
	// are its source addresses with sessions in the window, and how many
	// each has there.
	subnet  bool
	members map[*scanner]int32
}

type service struct {
	dst  netip.Addr
	port uint16
}

type serviceCount struct{ all, anom int32 }

// counts are the rule's numbers for sc.
func (d *Detector) counts(sc *scanner) (anomalous, all int) {
	if d.cfg.Rule == Sessions {
		return sc.winAnom, sc.winAll
	}
	return sc.winAnomSvc, sc.winServices
}

type episode struct {
	sc         *scanner
	id         int // order of the first anomaly, for stable output order
	alert      int // alert number, from 1, once the rule held
	alerted    bool
	first      int64
	last       int64
	lastRecord int64
	updateGap  int64 // packet time before the next update may go out
	newSince   int
	anomalies  int
	sessions   int
	scoreSum   float64
	ports      portSet
	targets    addrList
	sources    addrList // a subnet's anomalous sources
	sensors    []string
	sensorMore bool
	techs      [1 << numTechs]int
	firstFlow  Flow
	openPorts  portSet
	open       []netip.AddrPort
	openMore   bool
}

type winEntry struct {
	t    int64
	sc   *scanner // nil: untracked initiator
	net  *scanner // its subnet; nil without Config.Subnets or untracked
	svc  service
	anom bool
}

// Detector applies the rule to rows fed in input order. Not safe for
// concurrent use.
type Detector struct {
	cfg       Config
	ratioPPM  int64
	window    int64
	quiet     int64
	update    int64
	scanners  map[netip.Prefix]*scanner
	queue     []winEntry // ring buffer
	qHead     int
	qLen      int
	episodes  []*episode
	nextQuiet int64
	nextID    int
	hasScore  bool
	stats     Stats
	out       []Event
}

// NewDetector returns a Detector for cfg (zero fields take defaults).
// hasScore says whether rows carry a model score worth averaging.
func NewDetector(cfg Config, hasScore bool) (*Detector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{
		cfg:       cfg,
		ratioPPM:  int64(math.Round(cfg.Ratio * 1e6)),
		window:    int64(cfg.Window),
		quiet:     int64(cfg.Quiet),
		update:    int64(cfg.Update),
		scanners:  map[netip.Prefix]*scanner{},
		queue:     make([]winEntry, 1024),
		nextQuiet: math.MaxInt64,
		hasScore:  hasScore,
	}, nil
}

// Config is the effective configuration.
func (d *Detector) Config() Config { return d.cfg }

// Stats returns the running totals.
func (d *Detector) Stats() Stats {
	s := d.stats
	s.Scanners = len(d.scanners)
	return s
}

// EndTime is the packet time a row is complete at: its latest timestamp.
func EndTime(r *row.Row) int64 {
	return max(r.StartRequest, r.EndRequest, r.StartResponse, r.EndResponse)
}

// ErrNoTime is returned for rows without any timestamp.
var ErrNoTime = errors.New("row has no timestamp (start_request_time is 0)")

// Observe feeds one row; anomalous is the model's verdict (prediction = 1).
// The returned records are valid until the next call.
func (d *Detector) Observe(r *row.Row, anomalous bool) ([]Event, error) {
	d.out = d.out[:0]
	t := EndTime(r)
	if t == 0 {
		return nil, ErrNoTime
	}
	if t > d.stats.Now {
		d.stats.Now = t
	}
	now := d.stats.Now
	d.evict(now - d.window)
	if now >= d.nextQuiet {
		d.endQuiet(now)
	}

	d.stats.Rows++
	if anomalous {
		d.stats.Anomalies++
	}
	if t <= now-d.window {
		// Ended before the window that has already slid past it (a row
		// a merged stream delivers late): the rule can no longer count
		// it, and in the window it would stay until the sessions queued
		// before it leave, counted as if it were recent.
		d.stats.Stale++
		return d.out, nil
	}
	sc := d.scanner(netip.PrefixFrom(r.SrcIP, r.SrcIP.BitLen()))
	var net *scanner
	if d.cfg.Subnets && r.SrcIP.IsValid() {
		bits := d.cfg.SubnetBits4
		if r.SrcIP.Is6() && !r.SrcIP.Is4In6() {
			bits = d.cfg.SubnetBits6
		}
		if p, err := r.SrcIP.Prefix(bits); err == nil {
			net = d.scanner(p)
		}
	}
	d.push(winEntry{t: t, sc: sc, net: net, svc: service{r.DstIP, r.DstPort}, anom: anomalous})
	if sc == nil {
		d.stats.Untracked++
		return d.out, nil
	}
	d.observe(sc, r, t, anomalous)
	if net != nil {
		d.observe(net, r, t, anomalous)
	}
	return d.out, nil
}

// scanner returns the scanner of key, made if there is room (nil if not).
func (d *Detector) scanner(key netip.Prefix) *scanner {
	sc := d.scanners[key]
	if sc == nil && len(d.scanners) < d.cfg.MaxScanners {
		sc = &scanner{key: key, services: map[service]serviceCount{}}
		if key.Bits() < key.Addr().BitLen() {
			sc.subnet, sc.members = true, map[*scanner]int32{}
		}
		d.scanners[key] = sc
	}
	return sc
}

// observe applies the rule to sc, whose window already holds the row.
func (d *Detector) observe(sc *scanner, r *row.Row, t int64, anomalous bool) {
	ep := sc.ep
	if anomalous {
		if ep == nil {
			if len(d.episodes) >= d.cfg.MaxEpisodes && !d.evictCandidate() {
				d.stats.EpisodesDropped++
				return
			}
			d.nextID++
			ep = &episode{sc: sc, id: d.nextID, first: cmp.Or(r.StartRequest, t)}
			sc.ep = ep
			d.episodes = append(d.episodes, ep)
		}
		d.attribute(ep, r, t)
		d.nextQuiet = min(d.nextQuiet, ep.last+d.quiet)
	}
	if ep == nil {
		return
	}
	if !anomalous {
		ep.sessions++
	}
	if answeredSYNACK(r) {
		ep.addOpen(netip.AddrPortFrom(r.DstIP, r.DstPort))
	}
	switch {
	case !ep.alerted:
		if a, n := d.counts(sc); a >= d.cfg.MinSessions && int64(a)*1e6 >= d.ratioPPM*int64(n) && d.spread(sc) {
			ep.alerted = true
			d.stats.Alerts++
			ep.alert = d.stats.Alerts
			d.stats.Open++
			ep.updateGap = d.update
			d.record(ep, Start, t, "")
		}
	case ep.newSince > 0 && t-ep.lastRecord >= ep.updateGap:
		d.record(ep, Update, t, "")
		ep.updateGap = min(2*ep.updateGap, maxUpdateGaps*d.update)
	}
}

// spread reports whether no single source explains a subnet's anomalies:
// without its largest source, the others still count MinSessions. An
// address is its own only source.
func (d *Detector) spread(sc *scanner) bool {
	if !sc.subnet {
		return true
	}
	sum, most := 0, 0
	for m := range sc.members {
		a, _ := d.counts(m)
		sum += a
		most = max(most, a)
	}
	return sum-most >= d.cfg.MinSessions
}

// evictCandidate makes room for a new episode by dropping the candidate
// (never an alert) whose last anomaly is oldest: otherwise normal hosts with
// a false positive now and then could hold every slot and starve a real
// scanner. It reports false when every slot is an alert.
func (d *Detector) evictCandidate() bool {
	victim := -1
	for i, ep := range d.episodes {
		if !ep.alerted && (victim < 0 || ep.last < d.episodes[victim].last) {
			victim = i
		}
	}
	if victim < 0 {
		return false
	}
	ep := d.episodes[victim]
	last := len(d.episodes) - 1
	d.episodes[victim] = d.episodes[last]
	d.episodes[last] = nil
	d.episodes = d.episodes[:last]
	d.stats.EpisodesDropped++
	d.finish(ep, 0, "")
	return true
}

func (d *Detector) attribute(ep *episode, r *row.Row, t int64) {
	start := cmp.Or(r.StartRequest, t)
	if ep.anomalies == 0 || start < ep.firstFlow.Start {
		// Rows leave pcapsess in the order their sessions went idle, not
		// started: a later row may hold the episode's first session.
		ep.firstFlow = Flow{Src: netip.AddrPortFrom(r.SrcIP, r.SrcPort), Dst: netip.AddrPortFrom(r.DstIP, r.DstPort), Start: start}
	}
	ep.anomalies++
	ep.sessions++
	ep.newSince++
	ep.last = max(ep.last, t)
	if s := r.StartRequest; s != 0 && s < ep.first {
		ep.first = s
	}
	ep.scoreSum += r.Score
	ep.ports.add(r.DstPort)
	ep.techs[Classify(r)]++
	ep.targets.add(r.DstIP)
	if ep.sc.subnet {
		ep.sources.add(r.SrcIP)
	}
	if r.Sensor != "" && !slices.Contains(ep.sensors, r.Sensor) {
		if len(ep.sensors) < maxSensors {
			ep.sensors = append(ep.sensors, r.Sensor)
		} else {
			ep.sensorMore = true
		}
	}
}

// answeredSYNACK reports a session whose responder answered with SYN/ACK:
// the port was open. pcapsess's answer column says it (1); rows without it
// (the harvester's, or pcapsess's before the column) sum their flags over
// both directions, where SYN ≥ 2 with an ACK is the initiator's SYN and the
// SYN/ACK (nmap's retransmitted, unanswered SYNs carry no ACK).
func answeredSYNACK(r *row.Row) bool {
	switch {
	case r.Answer == 1:
		return true
	case r.Answer != 0, r.Packets > 0 && r.DstPackets == 0:
		return false
	}
	return r.SYN >= 2 && r.ACK >= 1
}

func (ep *episode) addOpen(svc netip.AddrPort) {
	ep.openPorts.add(svc.Port())
	if slices.Contains(ep.open, svc) {
		return
	}
	if len(ep.open) == maxListedOpen {
		ep.openMore = true
		return
	}
	ep.open = append(ep.open, svc)
}

// addrList holds distinct addresses in the order seen, up to maxTargets
// (more says that more came); a set beside the list once it is long.
type addrList struct {
	list []netip.Addr
	set  map[netip.Addr]struct{}
	more bool
}

func (l *addrList) add(a netip.Addr) {
	if l.set != nil {
		if _, ok := l.set[a]; ok {
			return
		}
	} else {
		if n := len(l.list); n > 0 && l.list[n-1] == a {
			return
		}
		if slices.Contains(l.list, a) {
			return
		}
	}
	if len(l.list) >= maxTargets {
		l.more = true
		return
	}
	l.list = append(l.list, a)
	if l.set == nil && len(l.list) > 16 {
		l.set = make(map[netip.Addr]struct{}, 64)
		for _, x := range l.list {
			l.set[x] = struct{}{}
		}
	} else if l.set != nil {
		l.set[a] = struct{}{}
	}
}

// listed is the first maxListedTargets addresses, copied.
func (l *addrList) listed() []netip.Addr {
	return slices.Clone(l.list[:min(len(l.list), maxListedTargets)])
}

func (d *Detector) push(e winEntry) {
	if d.qLen == d.cfg.MaxWindow {
		d.pop()
		d.stats.WindowEvicted++
	}
	if d.qLen == len(d.queue) {
		grown := make([]winEntry, min(2*len(d.queue), max(d.cfg.MaxWindow, 1)))
		n := copy(grown, d.queue[d.qHead:])
		copy(grown[n:], d.queue[:d.qHead])
		d.queue, d.qHead = grown, 0
	}
	d.queue[(d.qHead+d.qLen)%len(d.queue)] = e
	d.qLen++
	d.stats.WindowRows++
	if e.anom {
		d.stats.WindowAnomalies++
	}
	e.sc.add(e.svc, e.anom)
	if e.net != nil {
		e.net.add(e.svc, e.anom)
		e.net.members[e.sc]++
	}
}

// add counts a session to svc in sc's window (nil: untracked).
func (sc *scanner) add(svc service, anom bool) {
	if sc == nil {
		return
	}
	sc.winAll++
	c := sc.services[svc]
	if c.all == 0 {
		sc.winServices++
	}
	c.all++
	if anom {
		sc.winAnom++
		if c.anom == 0 {
			sc.winAnomSvc++
		}
		c.anom++
	}
	sc.services[svc] = c
}

// remove takes a session to svc out of sc's window, and reports whether
// sc's window is empty then.
func (sc *scanner) remove(svc service, anom bool) (empty bool) {
	sc.winAll--
	c := sc.services[svc]
	c.all--
	if anom {
		sc.winAnom--
		if c.anom--; c.anom == 0 {
			sc.winAnomSvc--
		}
	}
	if c.all == 0 {
		sc.winServices--
		delete(sc.services, svc)
	} else {
		sc.services[svc] = c
	}
	return sc.winAll == 0
}

func (d *Detector) pop() {
	e := d.queue[d.qHead]
	d.queue[d.qHead] = winEntry{}
	d.qHead = (d.qHead + 1) % len(d.queue)
	d.qLen--
	d.stats.WindowRows--
	if e.anom {
		d.stats.WindowAnomalies--
	}
	if e.net != nil {
		if e.net.members[e.sc]--; e.net.members[e.sc] == 0 {
			delete(e.net.members, e.sc)
		}
		if e.net.remove(e.svc, e.anom) && e.net.ep == nil {
			delete(d.scanners, e.net.key)
		}
	}
	if sc := e.sc; sc != nil && sc.remove(e.svc, e.anom) && sc.ep == nil {
		delete(d.scanners, sc.key)
	}
}

// evict drops sessions that ended at or before cutoff.
func (d *Detector) evict(cutoff int64) {
	for d.qLen > 0 && d.queue[d.qHead].t <= cutoff {
		d.pop()
	}
}

// endQuiet closes the episodes whose scanner has been quiet for Quiet.
func (d *Detector) endQuiet(now int64) {
	var ended []*episode
	next := int64(math.MaxInt64)
	kept := d.episodes[:0]
	for _, ep := range d.episodes {
		if now-ep.last >= d.quiet {
			ended = append(ended, ep)
			continue
		}
		next = min(next, ep.last+d.quiet)
		kept = append(kept, ep)
	}
	clear(d.episodes[len(kept):])
	d.episodes = kept
	d.nextQuiet = next
	slices.SortFunc(ended, func(a, b *episode) int { return a.id - b.id })
	for _, ep := range ended {
		d.finish(ep, ep.last+d.quiet, "quiet")
	}
}

func (d *Detector) finish(ep *episode, at int64, reason string) {
	sc := ep.sc
	sc.ep = nil
	if sc.winAll == 0 {
		delete(d.scanners, sc.key)
	}
	if ep.alerted {
		d.stats.Open--
		d.record(ep, End, at, reason)
	}
}

// Advance moves packet time on to t without a row: the watermark of a
// merged stream (package eventtime), which says that no row ending before
// t is still to come. Sessions leave the window and quiet episodes end as
// a row at t would make them; records are valid until the next call. A t
// not past the packet time already seen changes nothing.
func (d *Detector) Advance(t int64) []Event {
	d.out = d.out[:0]
	if t <= d.stats.Now {
		return d.out
	}
	d.stats.Now = t
	d.evict(t - d.window)
	if t >= d.nextQuiet {
		d.endQuiet(t)
	}
	return d.out
}

// Close ends every open episode at the current packet time ("input ended")
// and returns their end records, in episode order.
func (d *Detector) Close() []Event {
	d.out = d.out[:0]
	eps := d.episodes
	d.episodes = nil
	d.nextQuiet = math.MaxInt64
	slices.SortFunc(eps, func(a, b *episode) int { return a.id - b.id })
	for _, ep := range eps {
		d.finish(ep, d.stats.Now, "input ended")
	}
	return d.out
}

// Alerting returns a snapshot (state Update, time now) of up to max alerts
// still open, oldest first, for a live display; it changes nothing.
func (d *Detector) Alerting(max int) []Event {
	var open []*episode
	for _, ep := range d.episodes {
		if ep.alerted {
			open = append(open, ep)
		}
	}
	slices.SortFunc(open, func(a, b *episode) int { return a.alert - b.alert })
	var out []Event
	for _, ep := range open[:min(len(open), max)] {
		out = append(out, d.event(ep, Update, d.stats.Now, ""))
	}
	return out
}

func (d *Detector) record(ep *episode, s State, at int64, reason string) {
	ep.lastRecord = at
	ep.newSince = 0
	d.out = append(d.out, d.event(ep, s, at, reason))
}

func (d *Detector) event(ep *episode, s State, at int64, reason string) Event {
	e := Event{
		State:                   s,
		Time:                    at,
		Episode:                 ep.alert,
		Reason:                  reason,
		Scanner:                 ep.sc.key.Addr(),
		Scope:                   ep.sc.key,
		Sensors:                 slices.Clone(ep.sensors),
		MoreSensors:             ep.sensorMore,
		Targets:                 ep.targets.listed(),
		TargetCount:             len(ep.targets.list),
		MoreTargets:             ep.targets.more,
		Ports:                   string(ep.ports.appendRanges(nil)),
		PortCount:               ep.ports.Len(),
		Techniques:              Resolve(&ep.techs),
		Rule:                    d.cfg.Rule,
		Anomalies:               ep.anomalies,
		Sessions:                ep.sessions,
		WindowAnomalies:         ep.sc.winAnom,
		WindowSessions:          ep.sc.winAll,
		WindowAnomalousServices: ep.sc.winAnomSvc,
		WindowServices:          ep.sc.winServices,
		First:                   ep.first,
		Last:                    ep.last,
		HasScore:                d.hasScore,
		FirstFlow:               ep.firstFlow,
		OpenPorts:               string(ep.openPorts.appendRanges(nil)),
		OpenPortCount:           ep.openPorts.Len(),
		Open:                    slices.Clone(ep.open),
		MoreOpen:                ep.openMore,
	}
	if ep.sc.subnet {
		e.Subnet = true
		e.Scanner = ep.firstFlow.Src.Addr()
		e.Sources = ep.sources.listed()
		e.SourceCount = len(ep.sources.list)
		e.MoreSources = ep.sources.more
	}
	if d.hasScore && ep.anomalies > 0 {
		e.MeanScore = ep.scoreSum / float64(ep.anomalies)
	}
	return e
}

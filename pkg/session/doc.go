// Package session turns TCP packets into session rows (package row). It
// takes a gopacket.PacketDataSource and never knows whether packets come
// from a live interface or from a file.
//
// # Session semantics
//
//   - TCP over IPv4 and IPv6, behind Ethernet (the link type of Linux lo),
//     802.1Q/802.1ad VLAN tags, Linux cooked capture (SLL, SLL2), BSD
//     loopback or raw IP. IPv6 extension headers are skipped. Non-TCP
//     packets, IP fragments other than the first, and packets too short to
//     hold a TCP header are counted (Stats) and skipped.
//   - A session is keyed by the unordered endpoint pair
//     {(ip,port),(ip,port)}. The sender of its first packet is the initiator
//     (src_ip, src_port), the other side the responder (dst_ip, dst_port).
//   - SYN ACK FIN RST URG PSH are summed over every packet of the session, in
//     both directions; packets counts every packet.
//   - Request times are the first and last initiator packets that have SYN,
//     ACK, RST or FIN set, or no flag at all. Response times are the first and
//     last responder packets that have SYN+ACK, RST+ACK, or no flag at all
//     (the harvester's rule: duration measures how long the target took to
//     answer, not a data transfer). Times that did not happen are 0.
//   - duration = end_response − start_request when there was a response,
//     else end_request − start_request. A session without a qualifying
//     request packet measures from its first packet instead.
//   - A session closes when its key has been idle in packet time (capture
//     timestamps, never wall-clock time, so a replay of a capture gives
//     byte-identical output) for longer than Config.Window (0.5 s, the seed's),
//     or Config.EstablishedIdle (5 min) while it is established: its handshake
//     completed or payload flowed both ways, and it has seen no RST and not
//     both FINs. Probes, refused and unanswered attempts are never
//     established, so they leave after Window; a quiet keep-alive or TLS
//     connection stays one session instead of falling apart into fragments
//     that start mid-stream (which look like ACK or FIN probes). Sessions
//     leave in the order in which they went idle, whether closed by a later
//     packet, by a live ticker or at the end.
//   - When the table holds Config.MaxSessions sessions, the least recently
//     active one is written early (counted in Stats.Evicted) to make room:
//     memory is bounded by the cap, never by the input's size.
//
// # Evidence beyond the harvester
//
// Taken from the initiator's first packet: TCP window, TCP options length,
// MSS option (0 if none), IPv4 TTL or IPv6 hop limit, IPv4 DF bit, and its
// TCP flags (init_flags). Per direction: packets and TCP payload bytes (from
// IP lengths, so a snaplen-cut capture still counts what was sent). answer
// is the kind of the responder's first packet (0 none, 1 SYN+ACK, 2 RST, 3
// anything else) and handshake whether SYN, SYN+ACK and the initiator's ACK
// were all seen. None of these depends on the path's round-trip time.
//
// The initiator's context (ctx_*; see context.go for why): over its first
// contacts, the distinct (dst_ip, dst_port) it opened sessions to within
// Config.ContextWindow (5 s) before this session's close, taken when the
// session is written with the answers seen by then: how many (ctx_pairs),
// the fraction refused or never answered (ctx_failed), how many to this
// session's dst_ip (ctx_ports, a vertical sweep) and to its dst_port
// (ctx_hosts, a horizontal sweep), how many from its src_port (ctx_sport:
// raw scanners keep one source port, kernels pick a new one per connection),
// how many distinct TTLs their first packets had (ctx_ttls: nmap draws a
// random TTL per probe) and how many began within 0.5 s of this session's
// start (ctx_burst: nmap opens dozens of probes within milliseconds, a
// client's failing connections come a few a second). Counting distinct services instead of sessions keeps
// a scanner that is also a busy client from hiding its scan in its own
// traffic.
//
// # Several workers
//
// A Group spreads the work over n tables ("workers"), each holding the
// sessions of its share of the flows: live, one AF_PACKET fanout socket per
// worker, the kernel dealing packets by a symmetric flow hash; from one
// source (a file), a reader dealing them by the same function
// (RunOptions.Split). Both directions of a session reach the same worker,
// so everything per session stays where it was.
//
// The initiator context cannot: an initiator's sessions land on different
// workers, and a packet does not say which side initiated, so no hash
// can make them meet. The context is therefore computed where they all
// meet, in one context stage (as Zeek runs its scan detection in the
// manager, where its workers' events meet): each worker does the
// per-packet work and logs, in batches, compact events stamped with packet
// time — a session opened (initiator, destination, port, source port,
// TTL), first answered, written (its row minus ctx_*, at its close time T,
// or early at the current packet when the table was full), a packet to
// save (-w) — and the stage applies them to one context table in
// (time, order) order, where order puts packet events of the same time in
// the order of their packets, then closes (short sessions first, then by
// their last packet): exactly the order in which a single table does the
// same things. It applies an event only once it is older than the
// watermark, the least clock of the running workers. A worker's clock is
// its packet time (its open sessions all end after it), or, live and
// idle, the wall clock less the grace period, as Table.Advance uses it;
// the reader of a file hands every worker its clock after each round of
// packets. So the stage sees every contact and answer up to T before it
// computes a session's context at T, as the single table does. The stage
// is the one goroutine every session passes through, so it does nothing
// else: another goroutine fills and writes the rows, in its order. Events
// travel in batches (a worker's 512, or what it has at each live tick).
//
// What decides the order of packets of the same time: from one source,
// their order in it; live, their worker and then their order on its
// socket, which is also the order in which the stage writes them to -w,
// so that a replay of that file sees them in the same order. Hence, tested
// on every capture the repository holds: n workers write byte for byte the
// rows of one table, in its order; and a live run's -w replays, with any
// number of workers, to the rows the live run wrote. Two things depend on
// how flows are dealt: the --max-sessions cap is per worker (a share of
// it), so which sessions are written early when a table fills differs;
// and, live, each worker steps back-going timestamps up to its own clock.
// The stage counts events that arrive behind what it already applied
// (packets later than the grace period, live) in ContextStats.Late.
//
// With one worker a Group is a Table: no stage, no events, nothing added
// to the path that reads ~3 M packets/s.
//
// # Deliberate differences from the harvester
//
// The harvester keyed sessions by the port pair only (two hosts using the same
// ports were merged) and split FIN teardowns into separate sessions; here
// the key is the full endpoint pair and a session lasts until it goes idle.
package session

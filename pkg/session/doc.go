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
//   - A session closes when its key has been idle for longer than the window
//     in packet time (capture timestamps), never wall-clock time, so a replay
//     of a capture gives byte-identical output. Sessions leave in the order
//     in which they went idle (least recently active first), whether closed by
//     a later packet, by a live ticker, by eviction or at the end.
//   - When the table holds Config.MaxSessions sessions, the least recently
//     active one is written early (counted in Stats.Evicted) to make room:
//     memory is bounded by the cap, never by the input's size.
//
// # Evidence beyond the harvester
//
// Taken from the initiator's first packet: TCP window, TCP options length,
// MSS option (0 if none), IPv4 TTL or IPv6 hop limit, IPv4 DF bit. Per
// direction: packets and TCP payload bytes (from IP lengths, so a
// snaplen-cut capture still counts what was sent). And, at session start,
// fanout: how many distinct (dst_ip, dst_port) the same initiator IP opened
// sessions to in the preceding Config.FanoutWindow, and fanout_failed: the
// fraction of those refused (RST from the responder) or still unanswered.
//
// # Deliberate differences from the harvester
//
// The harvester keyed sessions by the port pair only (two hosts using the same
// ports were merged) and split FIN teardowns into separate sessions; here
// the key is the full endpoint pair and a session lasts until it goes idle.
package session

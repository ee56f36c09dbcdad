// Package netns builds a second network for tests: two Linux network
// namespaces, Scanner and Target, joined by one link, with addresses from
// the benchmarking range 198.18.0.0/15 and the ULA prefix fd00::/8, and no
// route anywhere else. Traffic between them crosses a real (virtual) link,
// with its own kernel path, unlike loopback. Everything is removed by Close.
//
// New joins the namespaces with a veth pair: a round trip takes
// microseconds. NewDelayed joins them with two TAP devices, one in each
// namespace, and a delay line in the calling process that copies Ethernet
// frames between the two TAP file descriptors. Its contract:
//
//   - Every frame, in either direction and of any kind (IPv4, IPv6, ARP,
//     neighbour discovery), is held for Delay.OneWay plus a jitter drawn
//     uniformly from [-Delay.Jitter, +Delay.Jitter], the sum clamped at 0,
//     counted from the moment the line read it. A round trip therefore
//     takes at least 2*(OneWay-Jitter), plus the kernel's own microseconds
//     and the line's lateness: typically 50–150 µs per direction, several
//     milliseconds now and then when the CPUs are busy with other work
//     (DelayStats reports it). The line sleeps with nanosleep on threads of
//     its own: Go's timers would add up to a millisecond per frame.
//   - Order is kept within a direction: a frame is never delivered before
//     the frame read before it in the same direction. With jitter this
//     means a frame whose own draw would put it ahead of its predecessor
//     waits for the predecessor instead, so under load the delays are
//     skewed upward rather than reordered. The two directions are
//     independent.
//   - The jitter draws come from a PCG generator seeded with Delay.Seed
//     (one stream per direction), so a given frame sequence gets the same
//     delays again.
//   - At most Delay.QueueLimit frames wait per direction; a frame arriving
//     at a full queue is dropped and counted (DirStats.Dropped). Ahead of
//     the line, each TAP's kernel queue holds up to TAPQueue frames while
//     the line is busy reading (time spent there is not part of the hold)
//     and drops the rest, also counted (DirStats.TAPDropped). Nothing else
//     is dropped, duplicated or altered.
//   - Frames go only from one TAP to the other: nothing is read from or
//     written to any other interface, and nothing leaves the namespaces.
//     Each TAP device is created inside its own namespace (the tun
//     descriptor is opened from a thread that has entered it), so it never
//     exists in the calling namespace.
//   - Close stops the line (its goroutines have returned when Close
//     returns), discards the frames still in it, closes the TAP devices
//     and deletes both namespaces.
//
// NewStar builds a wider network: one hub namespace joined to several site
// namespaces by a veth pair each (198.19.0.0/16 of the same benchmarking
// range), for tests with a sensor per site; the hub holds source networks
// on its loopback (AddSources) that every site routes back through its
// link, so that one address can scan hosts behind every sensor and many
// addresses of one /24 can share a scan. Nothing is routed elsewhere.
//
// It needs root and iproute2 (`ip`); NewDelayed also needs /dev/net/tun.
package netns

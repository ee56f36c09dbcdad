// Package trafficgen makes labelled traffic for scanwatch: legitimate
// clients (HTTP sweeps, keep-alive sessions, short TCP exchanges, closed-port
// attempts) and the server they talk to, real nmap scans, and a seeded mix of
// both with a ground-truth log. Capturing it into data sets is package
// capturerun's (the mechanism) and package dataset's (the recipes).
//
// Every packet goes to loopback unless the caller names a network-namespace
// test host explicitly (see Guard.Check), and every loop is bounded in count
// and time.
//
// Label hygiene: everything else on lo during a capture pollutes the labels,
// so the traffic trafficgen makes comes from a dedicated loopback source
// address (all of 127.0.0.0/8 is local on Linux, so no alias is needed):
// nmap gets "-S ADDR -e lo" (raw scans spoof it, connect scans bind it) and
// the normal clients bind their sockets to it with net.Dialer.LocalAddr. A
// capture restricted to that address ("pcapsess --host ADDR") then holds only
// trafficgen's traffic; replies to a spoofed 127.0.0.x source come back to it
// over lo (checked with tcpdump; see datasets/README.md).
package trafficgen

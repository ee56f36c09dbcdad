package cli

import (
	"strconv"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/metrics"
	"scanwatch/pkg/session"
)

// collect writes pcapsess's figures for a scrape: the ones its summary
// prints at exit, per worker where they are per worker.
func collect(w *metrics.Writer, g *session.Group, srcs []*capture.Source) {
	total, per := g.Stats()
	link := srcs[0].Link.String()
	w.Gauge("scanwatch_build_info", "The tool and its version (always 1).", 1, "tool", tool, "version", cliutil.Version)
	perWorker := func(name, help string, v func(session.Stats) uint64) {
		for i, st := range per {
			w.Counter(name, help, v(st), "worker", strconv.Itoa(i))
		}
	}
	perWorker("scanwatch_pcapsess_packets_total", "Packets read from the capture source.",
		func(s session.Stats) uint64 { return s.Packets })
	for i, st := range per {
		wk := strconv.Itoa(i)
		h := "Packets read, by link type and IP version (TCP or not; none: not IP or undecodable)."
		w.Counter("scanwatch_pcapsess_link_packets_total", h, st.IPv4, "worker", wk, "link", link, "ip_version", "4")
		w.Counter("scanwatch_pcapsess_link_packets_total", h, st.IPv6, "worker", wk, "link", link, "ip_version", "6")
		w.Counter("scanwatch_pcapsess_link_packets_total", h, st.Packets-st.IPv4-st.IPv6, "worker", wk, "link", link, "ip_version", "none")
	}
	perWorker("scanwatch_pcapsess_tcp_packets_total", "TCP packets folded into sessions.",
		func(s session.Stats) uint64 { return s.TCP })
	perWorker("scanwatch_pcapsess_non_tcp_packets_total", "Packets skipped as not TCP (or a later IP fragment).",
		func(s session.Stats) uint64 { return s.NonTCP })
	perWorker("scanwatch_pcapsess_malformed_packets_total", "Packets skipped as undecodable.",
		func(s session.Stats) uint64 { return s.Malformed })
	perWorker("scanwatch_pcapsess_host_port_filtered_packets_total", "TCP packets skipped by --host or --port.",
		func(s session.Stats) uint64 { return s.Filtered })
	w.Counter("scanwatch_pcapsess_expression_rejected_packets_total",
		"Packets the filter expression rejected in userspace (files; live, the kernel drops them uncounted).", srcs[0].Rejected())
	w.Counter("scanwatch_pcapsess_out_of_order_packets_total", "Packets whose timestamp went backwards (taken as the newest).", total.OutOfOrder)
	for i, s := range srcs {
		if seen, _, ok := s.Drops(); ok {
			w.Counter("scanwatch_pcapsess_kernel_packets_total", "Packets the kernel delivered to the capture socket (its own statistics).",
				uint64(seen), "worker", strconv.Itoa(i))
		}
	}
	for i, s := range srcs {
		if _, drops, ok := s.Drops(); ok {
			w.Counter("scanwatch_pcapsess_kernel_drops_total", "Packets the kernel dropped because the capture socket's ring was full.",
				uint64(drops), "worker", strconv.Itoa(i))
		}
	}
	for i, st := range per {
		w.Gauge("scanwatch_pcapsess_sessions_open", "Sessions held open.", float64(st.Open), "worker", strconv.Itoa(i))
	}
	perWorker("scanwatch_pcapsess_sessions_written_total", "Session rows written.",
		func(s session.Stats) uint64 { return s.Sessions })
	perWorker("scanwatch_pcapsess_sessions_evicted_total", "Sessions written early because --max-sessions was reached.",
		func(s session.Stats) uint64 { return s.Evicted })
	if cs := g.ContextStats(); cs.Initiators >= 0 {
		w.Counter("scanwatch_pcapsess_context_late_events_total", "Packet events that reached the context stage later than the grace period.", cs.Late)
		w.Gauge("scanwatch_pcapsess_context_initiators", "Initiators with first contacts in the context window.", float64(cs.Initiators))
	}
}

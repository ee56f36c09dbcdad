// Package metrics serves counters in the Prometheus text exposition format
// (version 0.0.4) at /metrics, for a monitoring system to scrape, without
// a client library: a tool hands Serve a function that writes its current
// figures, and every scrape calls it.
//
// Names follow Prometheus conventions: scanwatch_TOOL_WHAT, counters end
// in _total, units in the name (seconds, bytes), labels only for small
// fixed sets (worker number, IP version), never addresses.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Writer builds one exposition.
type Writer struct {
	b    []byte
	last string // the family whose HELP and TYPE lines were written last
}

// Counter writes one sample of a counter family; labels are name, value
// pairs. Samples of a family must be written one after another.
func (w *Writer) Counter(name, help string, v uint64, labels ...string) {
	w.sample(name, "counter", help, strconv.FormatUint(v, 10), labels)
}

// Gauge writes one sample of a gauge family.
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.sample(name, "gauge", help, strconv.FormatFloat(v, 'g', -1, 64), labels)
}

func (w *Writer) sample(name, typ, help, value string, labels []string) {
	if name != w.last {
		w.b = fmt.Appendf(w.b, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
		w.last = name
	}
	w.b = append(w.b, name...)
	for i := 0; i+1 < len(labels); i += 2 {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		w.b = append(w.b, sep)
		w.b = append(w.b, labels[i]...)
		w.b = append(w.b, '=')
		w.b = strconv.AppendQuote(w.b, labels[i+1])
	}
	if len(labels) >= 2 {
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ' ')
	w.b = append(w.b, value...)
	w.b = append(w.b, '\n')
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// Bytes is the exposition so far.
func (w *Writer) Bytes() []byte { return w.b }

// Server serves /metrics.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Serve listens on addr (host:port; port 0 picks one) and serves what
// collect writes at /metrics until Close. collect runs on the server's
// goroutines, once per scrape.
func Serve(addr string, collect func(*Writer)) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(rw http.ResponseWriter, r *http.Request) {
		var w Writer
		collect(&w)
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		rw.Write(w.Bytes())
	})
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ln.Close()
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting a scrape in progress finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

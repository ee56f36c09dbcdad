package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestExposition(t *testing.T) {
	srv, err := Serve("127.0.0.1:0", func(w *Writer) {
		w.Counter("x_packets_total", "Packets.\nSeen.", 3, "worker", "0")
		w.Counter("x_packets_total", "Packets.\nSeen.", 4, "worker", "1")
		w.Gauge("x_open", "Open now.", 2.5)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `# HELP x_packets_total Packets.\nSeen.
# TYPE x_packets_total counter
x_packets_total{worker="0"} 3
x_packets_total{worker="1"} 4
# HELP x_open Open now.
# TYPE x_open gauge
x_open 2.5
`
	if string(body) != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
}

package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"scanwatch/pkg/clitest"
)

// TestMetricsDuringRun feeds classified rows through a pipe, scrapes
// /metrics while the input is still open, and holds the figures against
// the summary scanalert writes at the end.
func TestMetricsDuringRun(t *testing.T) {
	rows, err := os.ReadFile("../testdata/mixed.csv")
	if err != nil {
		t.Fatal(err)
	}
	in, feed := io.Pipe()
	var stdout strings.Builder
	var stderr clitest.Buffer
	done := make(chan int)
	go func() {
		done <- Run(context.Background(), []string{"--metrics", "127.0.0.1:0", "--format", "eve"}, in, &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`metrics on (http://\S+/metrics)`)
	var url string
	for i := 0; i < 200 && url == ""; i++ {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if url == "" {
		t.Fatalf("no metrics address on stderr: %q", stderr.String())
	}
	if _, err := feed.Write(rows); err != nil {
		t.Fatal(err)
	}
	var body string
	for i := 0; i < 200; i++ { // until every row is read
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, "scanwatch_scanalert_rows_total "+strconv.Itoa(strings.Count(string(rows), "\n")-1)+"\n") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	feed.Close()
	<-done
	sum := regexp.MustCompile(`scanalert: (\d+) rows, (\d+) anomalies \([0-9.]+%\), (\d+) alerts?`).FindStringSubmatch(stderr.String())
	if sum == nil {
		t.Fatalf("no summary: %q", stderr.String())
	}
	for _, c := range []struct{ metric, summary string }{
		{"scanwatch_scanalert_rows_total", sum[1]},
		{"scanwatch_scanalert_anomalies_total", sum[2]},
		{"scanwatch_scanalert_alerts_total", sum[3]},
	} {
		if !strings.Contains(body, "\n"+c.metric+" "+c.summary+"\n") {
			t.Errorf("%s: summary says %s; the scrape said:\n%s", c.metric, c.summary, body)
		}
	}
	if !strings.Contains(body, "# TYPE scanwatch_scanalert_alerts_open gauge") {
		t.Errorf("no alerts_open gauge:\n%s", body)
	}
}

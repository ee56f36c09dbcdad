// Command busbench measures rows/s through NATS JetStream, the figures of
// `just bench`'s bus row: three sensors (`scanbus publish`, one process
// each) publish -rows synthetic classified rows each into a 3-node cluster
// on 127.0.0.1 ports (nats-server built from go.mod's tool dependency),
// then one central `scanalert --subscribe --subnets` consumes the whole
// log, then two (--instance 1/2 and 2/2, sharing it by subnet bucket).
// It prints the publishing rate and both consuming rates, each over the
// wall time from the processes' start to the broker saying nothing is left
// to deliver (consumer info), and checks that every row went through a
// rule. No root needed; nothing leaves loopback.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"scanwatch/pkg/bus/natsbus"
	"scanwatch/pkg/bus/natsbus/natstest"
	"scanwatch/pkg/row"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding scanbus and scanalert")
	rows := flag.Int("rows", 200000, "rows per sensor")
	flag.Parse()
	if err := run(*bin, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "busbench:", err)
		os.Exit(1)
	}
}

var sensors = []string{"edge-a", "edge-b", "edge-c"}

func run(bin string, rows int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "busbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cluster, err := natstest.BuildAndStart(ctx, dir, 3)
	if err != nil {
		return err
	}
	defer cluster.Close()
	url := cluster.URL()
	for k, s := range sensors {
		if err := writeRows(filepath.Join(dir, s+".ndjson"), k, rows); err != nil {
			return err
		}
	}
	total := rows * len(sensors)

	// Publish: three sensors at once.
	start := time.Now()
	var pubs []*exec.Cmd
	var pubErr [3]bytes.Buffer
	for k, s := range sensors {
		c := exec.Command(filepath.Join(bin, "scanbus"), "publish", "--sensor", s, url, filepath.Join(dir, s+".ndjson"))
		c.Stderr = &pubErr[k]
		if err := c.Start(); err != nil {
			return err
		}
		pubs = append(pubs, c)
	}
	for k, c := range pubs {
		if err := c.Wait(); err != nil {
			return fmt.Errorf("scanbus publish %s: %v\n%s", sensors[k], err, pubErr[k].String())
		}
		if !bytes.Contains(pubErr[k].Bytes(), fmt.Appendf(nil, "%d rows read, %d published, 0 dropped", rows, rows)) {
			return fmt.Errorf("scanbus publish %s lost rows: %s", sensors[k], pubErr[k].String())
		}
	}
	pubSecs := time.Since(start).Seconds()

	conn, err := natsbus.Dial(url, natsbus.Options{Name: "busbench"})
	if err != nil {
		return err
	}
	defer conn.Close()
	one, oneLate, err := consume(ctx, conn, bin, url, total, []string{"one"})
	if err != nil {
		return err
	}
	two, twoLate, err := consume(ctx, conn, bin, url, total, []string{"two-1", "two-2"})
	if err != nil {
		return err
	}
	fmt.Printf("rows through NATS JetStream (3-node cluster on 127.0.0.1, R3 file streams), %d rows from 3 sensors:\n", total)
	fmt.Printf("  3 sensors → broker (scanbus publish ×3): %.0f rows/s (%.2f s)\n", float64(total)/pubSecs, pubSecs)
	fmt.Printf("  broker → 1 central scanalert --subscribe --subnets: %.0f rows/s (%.2f s, %d rows late)\n", float64(total)/one, one, oneLate)
	fmt.Printf("  broker → 2 central instances (--instance 1/2, 2/2): %.0f rows/s (%.2f s, %d rows late), %.2f× one\n",
		float64(total)/two, two, twoLate, one/two)
	// For bench/run.sh.
	fmt.Printf("figures: publish=%.0f one=%.0f two=%.0f\n", float64(total)/pubSecs, float64(total)/one, float64(total)/two)
	return nil
}

// consume runs one central instance per consumer name until the broker has
// delivered them everything, and returns the seconds that took and the rows
// they counted late, after checking their summaries account for every row.
func consume(ctx context.Context, conn *natsbus.Conn, bin, url string, total int, consumers []string) (float64, int, error) {
	start := time.Now()
	var cmds []*exec.Cmd
	errs := make([]bytes.Buffer, len(consumers))
	for i, name := range consumers {
		c := exec.Command(filepath.Join(bin, "scanalert"), "--subscribe", url, "--subnets", "--format", "eve", "--sensor", "central",
			"--consumer", name, "--instance", fmt.Sprintf("%d/%d", i+1, len(consumers)))
		c.Stderr = &errs[i]
		if err := c.Start(); err != nil {
			return 0, 0, err
		}
		cmds = append(cmds, c)
	}
	// Done when the broker has delivered everything and the instances
	// have acknowledged all they will (the merge holds the last rows).
	done, err := conn.WaitSettled(ctx, natsbus.RowsStream, consumers, time.Second, 10*time.Minute)
	if err != nil {
		return 0, 0, err
	}
	secs := done.Sub(start).Seconds()
	handed, late := 0, 0
	re := regexp.MustCompile(`(\d+) rows from the bus .* (\d+) rows late, (\d+) held`)
	for i, c := range cmds {
		_ = c.Process.Signal(syscall.SIGINT)
		if err := c.Wait(); err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
				return 0, 0, fmt.Errorf("scanalert %s: %v\n%s", consumers[i], err, errs[i].String())
			}
		}
		m := re.FindStringSubmatch(errs[i].String())
		if m == nil {
			return 0, 0, fmt.Errorf("scanalert %s said no counts:\n%s", consumers[i], errs[i].String())
		}
		n, _ := strconv.Atoi(m[1])
		l, _ := strconv.Atoi(m[2])
		h, _ := strconv.Atoi(m[3])
		handed += n + h
		late += l
	}
	if handed != total {
		return 0, 0, fmt.Errorf("%d rows through the rule (or held), %d published", handed, total)
	}
	return secs, late, nil
}

// writeRows writes n classified rows of sensor k: sessions ending 50 µs
// apart in packet time (20 k rows/s a sensor), the sensors 1 ms apart,
// from sources spread over 4096 /24s, one in a hundred anomalous.
func writeRows(name string, k, n int) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := row.NewWriter(f, "ndjson", row.SessionSchema(false).With(row.Score, row.Prediction), row.WriterOptions{})
	if err != nil {
		return err
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano() + int64(k)*1e6
	dst := netip.MustParseAddr("10.200.0.1")
	for i := range n {
		t := base + int64(i)*50e3
		r := row.Row{StartRequest: t - 20e3, EndRequest: t, StartResponse: t - 10e3, EndResponse: t, Duration: 20e-6,
			SrcIP: netip.AddrFrom4([4]byte{10, byte(i % 16), byte(i / 16 % 256), byte(1 + k)}), DstIP: dst,
			SrcPort: uint16(30000 + i%30000), DstPort: 80, SYN: 2, ACK: 4, FIN: 2, PSH: 2, Packets: 10, SrcPackets: 5, DstPackets: 5,
			SrcBytes: 100, DstBytes: 900, InitWindow: 64240, InitOptLen: 20, InitDF: 1, InitFlags: 2, Answer: 1, Handshake: 1, Score: 0.1}
		if i%100 == 0 {
			r.Prediction, r.Score, r.DstPort = 1, 0.9, uint16(1+i%1000)
		}
		if err := w.Write(&r); err != nil {
			return err
		}
	}
	return w.Close()
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"scanwatch/pkg/clitest"
	"scanwatch/pkg/row"
)

func needRootAndNmap(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture test needs root (AF_PACKET); run as root, as CI does")
	}
	for _, tool := range []string{"nmap", "tcpdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("live capture test needs %s (apt-get install %s)", tool, tool)
		}
	}
}

// scanRows returns the CSV lines of nmap's raw SYN probes (window 1024) to
// ports 1-100, sorted: the rows that belong to the test's scan and to no
// other loopback traffic.
func scanRows(t *testing.T, csv string) []string {
	t.Helper()
	r, err := row.NewReader(strings.NewReader(csv), "output", "csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csv), "\n")[1:]
	var out []string
	for i := 0; ; i++ {
		var x row.Row
		if err := r.Read(&x); err != nil {
			break
		}
		if x.DstPort >= 1 && x.DstPort <= 100 && x.InitWindow == 1024 && x.SYN >= 1 {
			out = append(out, lines[i])
		}
	}
	sort.Strings(out)
	return out
}

func TestLiveSYNScanOnLoopback(t *testing.T) {
	needRootAndNmap(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "live.pcap")
	td := exec.Command("tcpdump", "-i", "lo", "-U", "-w", pcap, "tcp and portrange 1-100")
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	liveReady = func() { close(ready) }
	defer func() { liveReady = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr clitest.Buffer
	done := make(chan int)
	saved := filepath.Join(dir, "saved.pcap")
	// The same filter as tcpdump's: other loopback traffic (another test's,
	// a stray client's) would otherwise change the ctx_* columns of the live
	// rows and not those of tcpdump's capture.
	go func() {
		done <- Run(ctx, []string{"-i", "lo", "-w", saved, "--user=", "tcp and portrange 1-100"}, nil, &stdout, &stderr)
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("pcapsess exited %d: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("pcapsess did not open lo")
	}
	time.Sleep(500 * time.Millisecond) // tcpdump opens its socket too
	nmap := exec.CommandContext(ctx, "nmap", "-sS", "-Pn", "-n", "-p", "1-100", "--max-retries", "1", "127.0.0.1")
	if out, err := nmap.CombinedOutput(); err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	// Rows must leave by themselves once the window (0.5 s) has passed,
	// without waiting for more packets or for the end.
	time.Sleep(1500 * time.Millisecond)
	live := scanRows(t, stdout.String())
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if len(live) < 95 || len(live) > 110 {
		t.Fatalf("got %d scan sessions to ports 1-100 before stopping, want ~100:\n%s", len(live), strings.Join(live, "\n"))
	}
	for _, l := range live {
		f := strings.Split(l, ",")
		if f[9] != "1" || f[12] != "1" { // SYN=1 and RST=1 (closed port, or the scanner's reset)
			t.Errorf("unexpected flags in %s", l)
		}
	}
	if !strings.Contains(stderr.String(), "kernel:") {
		t.Errorf("no kernel drop counts in the summary: %q", stderr.String())
	}
	// Replaying what the live run saved gives byte-identical output.
	var replay, rerr bytes.Buffer
	if code := Run(context.Background(), []string{"-r", saved, "-q"}, nil, &replay, &rerr); code != 0 {
		t.Fatalf("replay exit %d: %s", code, rerr.String())
	}
	if replay.String() != stdout.String() {
		t.Errorf("replay of -w differs from the live rows:\nlive:\n%s\nreplay:\n%s", stdout.String(), replay.String())
	}
	// tcpdump's own capture of the same traffic gives the same sessions;
	// its socket stamps packets itself, so times may differ by a few µs.
	td.Process.Signal(syscall.SIGINT)
	td.Wait()
	replay.Reset()
	if code := Run(context.Background(), []string{"-r", pcap}, nil, &replay, &rerr); code != 0 {
		t.Fatalf("tcpdump replay exit %d: %s", code, rerr.String())
	}
	again := scanRows(t, replay.String())
	if strings.Join(sessionKeys(again), "\n") != strings.Join(sessionKeys(live), "\n") {
		t.Errorf("tcpdump replay differs from live:\nlive:\n%s\nreplay:\n%s", strings.Join(live, "\n"), strings.Join(again, "\n"))
	}
}

// sessionKeys drops the time columns of CSV lines.
func sessionKeys(lines []string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Split(l, ",")
		out = append(out, strings.Join(f[5:], ","))
	}
	sort.Strings(out)
	return out
}

// TestLiveDropsToNobody runs the real binary: once capturing, it must no
// longer be root.
func TestLiveDropsToNobody(t *testing.T) {
	needRootAndNmap(t)
	bin := filepath.Join(t.TempDir(), "pcapsess")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-i", "lo", "-q")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var uid string
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "Uid:") {
				uid = strings.Fields(l)[2] // effective uid
			}
		}
		if uid != "0" {
			break
		}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this machine")
	}
	if uid != nobody.Uid {
		t.Fatalf("effective uid %s while capturing, want nobody (%s); stderr: %s", uid, nobody.Uid, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
	}
}

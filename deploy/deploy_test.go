package deploy

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"scanwatch/pkg/netns"
)

// install runs `just install` into a temporary tree and returns its root.
func install(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("just"); err != nil {
		t.Skip("needs just (apt-get install just, or npm i -g rust-just)")
	}
	root := t.TempDir()
	// The tree is world-readable so that the unprivileged run can use it.
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("just", "install", root+"/usr/local", root+"/etc", root+"/system")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("just install: %v\n%s", err, out)
	}
	return root
}

// TestUnitVerifies: systemd-analyze verify passes on the installed unit
// (an instance for lo) without a word, and its security exposure stays
// low.
func TestUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("needs systemd-analyze (apt-get install systemd; just deps installs it)")
	}
	root := install(t)
	units := filepath.Join(root, "system")
	if err := os.Symlink("scanwatch@.service", filepath.Join(units, "scanwatch@lo.service")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", "scanwatch@lo.service")
	cmd.Dir = units
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "scanwatch") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	cmd = exec.Command("systemd-analyze", "security", "--offline=true", "scanwatch@lo.service")
	cmd.Dir = units
	out, _ = cmd.CombinedOutput()
	var level float64
	for _, l := range strings.Split(string(out), "\n") {
		if i := strings.Index(l, "Overall exposure level for scanwatch@lo.service: "); i >= 0 {
			fmt.Sscanf(l[i+len("Overall exposure level for scanwatch@lo.service: "):], "%g", &level)
		}
	}
	if level == 0 || level > 2.5 {
		t.Errorf("exposure level %v, want at most 2.5:\n%s", level, out)
	}
}

// TestSensorScriptUnprivileged runs the installed scanwatch-sensor on the
// target end of a veth pair as nobody with CAP_NET_RAW alone (ambient, as
// the unit gives it), while nmap scans the target from the scanner
// namespace, then stops it with SIGTERM as systemd does. The capture works
// without root; the EVE file gets the scan's alerts; every stage ends
// cleanly.
func TestSensorScriptUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, setpriv)")
	}
	if why := netns.Available(); why != "" {
		t.Skip(why)
	}
	for _, tool := range []string{"setpriv", "nmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, p := installAndPair(t, ctx)
	work := filepath.Join(root, "work")
	if err := os.Mkdir(work, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(work, 0o777)
	eve := filepath.Join(work, "eve.json")
	sensor := exec.Command("ip", "netns", "exec", p.Target,
		"setpriv", "--reuid="+nobody.Uid, "--regid="+nobody.Gid, "--clear-groups",
		"--inh-caps=-all,+net_raw", "--ambient-caps=-all,+net_raw", "--bounding-set=-all,+net_raw",
		filepath.Join(root, "usr/local/lib/scanwatch/scanwatch-sensor"), p.TargetIf)
	sensor.Env = append(os.Environ(), "SCANWATCH_EVE="+eve, "TMPDIR="+work, "SCANWATCH_WORKERS=2",
		"SCANWATCH_SCANALERT_ARGS=--episode-quiet 2s")
	var stderr bytes.Buffer
	sensor.Stderr = &stderr
	if err := sensor.Start(); err != nil {
		t.Fatal(err)
	}
	defer sensor.Process.Kill()
	time.Sleep(2 * time.Second) // the sockets open
	scan := exec.CommandContext(ctx, "ip", "netns", "exec", p.Scanner, "nmap", "-sS", "-Pn", "-n", "-T4",
		"--max-retries", "1", "-p", "1-300", p.TargetV4)
	if out, err := scan.CombinedOutput(); err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second) // the probes' sessions go idle
	sensor.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- sensor.Wait() }()
	select {
	case err = <-done:
	case <-time.After(40 * time.Second):
		t.Fatalf("scanwatch-sensor still running 40 s after SIGTERM:\n%s", stderr.String())
	}
	t.Logf("scanwatch-sensor stderr:\n%s", stderr.String())
	log := stderr.String()
	if !strings.Contains(log, "kernel: ") || strings.Contains(log, "operation not permitted") {
		t.Fatalf("pcapsess did not capture as nobody with CAP_NET_RAW:\n%s", log)
	}
	if err != nil {
		t.Fatalf("scanwatch-sensor: %v", err)
	}
	if !strings.Contains(log, "pcapsess exit 0, scanclass exit 0, scanalert exit 3") {
		t.Errorf("the script did not report every stage's clean end (scanalert 3: alerts raised):\n%s", log)
	}
	data, rerr := os.ReadFile(eve)
	if rerr != nil || !bytes.Contains(data, []byte(`"event_type":"alert"`)) ||
		!bytes.Contains(data, []byte(`"src_ip":"`+p.ScannerV4+`"`)) {
		t.Errorf("no EVE alert naming the scanner %s in %s (%v):\n%s", p.ScannerV4, eve, rerr, data)
	}
}

// TestSensorScriptStageFailure: when a stage fails (here scanclass, given a
// model file that does not exist, at once), the script stops the capture,
// reports every stage's status and exits 1, which the unit answers with a
// restart. (It once waited for ever here: the stop was a SIGINT, which a
// script's background job ignores until pcapsess has set up its handler.)
func TestSensorScriptStageFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	if why := netns.Available(); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, p := installAndPair(t, ctx)
	sensor := exec.CommandContext(ctx, "ip", "netns", "exec", p.Target,
		filepath.Join(root, "usr/local/lib/scanwatch/scanwatch-sensor"), p.TargetIf)
	sensor.Env = append(os.Environ(), "SCANWATCH_EVE="+filepath.Join(root, "eve.json"), "TMPDIR="+root,
		"SCANWATCH_WORKERS=1", "SCANWATCH_SCANCLASS_ARGS=--model "+filepath.Join(root, "no-such-model.txt"))
	var stderr bytes.Buffer
	sensor.Stderr = &stderr
	err := sensor.Run()
	log := stderr.String()
	t.Logf("scanwatch-sensor stderr:\n%s", log)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("scanwatch-sensor: %v, want exit status 1", err)
	}
	// pcapsess exits 0, or 143 when the SIGTERM came before it set up its
	// handler; either way it was stopped and scanclass's failure reported.
	if !strings.Contains(log, "scanwatch-sensor: "+p.TargetIf+": pcapsess exit ") || !strings.Contains(log, ", scanclass exit ") ||
		strings.Contains(log, "scanclass exit 0") {
		t.Errorf("the script did not report the stages' statuses with scanclass's failure:\n%s", log)
	}
}

// installAndPair installs the sensor into a temporary root and makes a
// scanner/target namespace pair, removed when the test ends.
func installAndPair(t *testing.T, ctx context.Context) (string, *netns.Pair) {
	t.Helper()
	root := install(t)
	p, err := netns.New(ctx, 200+rand.IntN(50))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return root, p
}

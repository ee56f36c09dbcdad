// Package e2e runs the real tools together, as a user would: the live
// pipeline `pcapsess -i lo | scanclass | scanalert`, real nmap scans and
// real clients from trafficgen, and the replay of the saved capture. The
// end-to-end test and the latency benchmark (internal/latencybench) share it.
//
// Everything here needs root (live capture, raw nmap probes) and sends
// packets only on loopback.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"scanwatch/pkg/alert"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/row"
)

// Bins are the paths of the binaries the pipelines run.
type Bins struct {
	Pcapsess, Scanclass, Scanalert, Scanbus, Trafficgen string
}

// BinsIn names the binaries in dir (as `just build` leaves them in bin/).
func BinsIn(dir string) Bins {
	return Bins{
		Pcapsess:   filepath.Join(dir, "pcapsess"),
		Scanclass:  filepath.Join(dir, "scanclass"),
		Scanalert:  filepath.Join(dir, "scanalert"),
		Scanbus:    filepath.Join(dir, "scanbus"),
		Trafficgen: filepath.Join(dir, "trafficgen"),
	}
}

// Build compiles the tools into dir with one `go build` (run inside the
// module, so it builds the working tree under test).
func Build(ctx context.Context, dir string) (Bins, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"scanwatch/cmd/pcapsess", "scanwatch/cmd/scanclass", "scanwatch/cmd/scanalert", "scanwatch/cmd/scanbus", "scanwatch/cmd/trafficgen")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Bins{}, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return BinsIn(dir), nil
}

// Options configure a live pipeline.
type Options struct {
	Interface string       // capture interface; "" = lo
	Namespace string       // run pcapsess inside this network namespace (ip netns exec)
	Hosts     []netip.Addr // pcapsess --host: keep only this traffic (other tests share lo)
	Save      string       // pcapsess -w: save the packets for a replay
	// ScanalertArgs are extra scanalert flags (--quiet 1s, --log FILE ...).
	ScanalertArgs []string
	// Stderr receives the three tools' stderr (summaries, errors); nil = discarded.
	Stderr io.Writer
	// Publish, when set, makes the pipeline a sensor: its last stage is
	// `scanbus publish --sensor Sensor URL` instead of scanalert.
	Publish *Publish
}

// Publish names the bus a sensor publishes to, and the sensor.
type Publish struct {
	URL, Sensor string
}

// Alert is one EVE record as scanalert wrote it, with the wall-clock time
// at which the line could be read from its stdout.
type Alert struct {
	alert.Record
	Line     string
	Received time.Time
}

// Pipeline is a running `pcapsess -i | scanclass | scanalert --format eve`
// (or `| scanbus publish`), or a central `scanalert --subscribe` alone.
type Pipeline struct {
	cmds    []*exec.Cmd
	alerter *exec.Cmd // the scanalert, whose exit status 3 means alerts
	mu      sync.Mutex
	alerts  []Alert
	readErr error
	read    chan struct{} // closed when scanalert's stdout ended
}

// Start launches the live pipeline and returns once pcapsess is capturing:
// it has opened its socket and dropped root (to nobody, its default
// --user), which it does only after the socket is open.
func Start(ctx context.Context, b Bins, o Options) (*Pipeline, error) {
	iface := o.Interface
	if iface == "" {
		iface = "lo"
	}
	capArgs := []string{"-i", iface}
	for _, h := range o.Hosts {
		capArgs = append(capArgs, "--host", h.String())
	}
	if o.Save != "" {
		capArgs = append(capArgs, "-w", o.Save)
	}
	var stderr io.Writer = io.Discard
	if o.Stderr != nil {
		stderr = cliutil.LockedWriter(o.Stderr)
	}
	capture := exec.Command(b.Pcapsess, capArgs...)
	if o.Namespace != "" {
		// ip netns exec execs: the process is pcapsess itself.
		capture = exec.Command("ip", append([]string{"netns", "exec", o.Namespace, b.Pcapsess}, capArgs...)...)
	}
	classify := exec.Command(b.Scanclass)
	detect := exec.Command(b.Scanalert, append([]string{"--format", "eve"}, o.ScanalertArgs...)...)
	p := &Pipeline{cmds: []*exec.Cmd{capture, classify, detect}, alerter: detect, read: make(chan struct{})}
	if o.Publish != nil {
		detect = exec.Command(b.Scanbus, "publish", "--sensor", o.Publish.Sensor, o.Publish.URL)
		p.cmds[2], p.alerter = detect, nil
	}
	for _, c := range p.cmds {
		c.Stderr = stderr
	}
	var err error
	if classify.Stdin, err = capture.StdoutPipe(); err != nil {
		return nil, err
	}
	if detect.Stdin, err = classify.StdoutPipe(); err != nil {
		return nil, err
	}
	out, err := detect.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Downstream first, so that no row waits on a process not yet there.
	for i := len(p.cmds) - 1; i >= 0; i-- {
		if err := p.cmds[i].Start(); err != nil {
			p.kill()
			return nil, fmt.Errorf("start %s: %w", p.cmds[i].Path, err)
		}
	}
	go p.collect(out)
	if err := waitDropped(ctx, capture.Process.Pid, 10*time.Second); err != nil {
		p.kill()
		return nil, fmt.Errorf("pcapsess did not start capturing: %w", err)
	}
	return p, nil
}

// waitDropped waits until pid runs as a user other than root: pcapsess
// drops privileges right after opening its socket.
func waitDropped(ctx context.Context, pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return fmt.Errorf("process %d is gone", pid)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "Uid:" && f[1] != "0" {
				return nil
			}
			if strings.HasPrefix(l, "State:") && strings.Contains(l, "zombie") {
				return fmt.Errorf("process %d exited", pid)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still root after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *Pipeline) collect(out io.Reader) {
	defer close(p.read)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		now := time.Now()
		a := Alert{Line: sc.Text(), Received: now}
		if err := json.Unmarshal(sc.Bytes(), &a.Record); err != nil {
			p.mu.Lock()
			p.readErr = fmt.Errorf("scanalert output line %q: %w", sc.Text(), err)
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		p.alerts = append(p.alerts, a)
		p.mu.Unlock()
	}
}

// Alerts returns the records read so far.
func (p *Pipeline) Alerts() []Alert {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Alert(nil), p.alerts...)
}

// Stop sends SIGINT to pcapsess, which writes its open sessions and exits;
// scanclass and scanalert then see the end of their input, as with a replay.
// It returns scanalert's exit status (3 = alerts raised) once all three have
// exited, or an error if any failed or they take longer than limit.
func (p *Pipeline) Stop(limit time.Duration) (int, error) {
	_ = p.cmds[0].Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, c := range p.cmds {
			err := c.Wait()
			var ee *exec.ExitError
			switch {
			case err == nil:
			case c == p.alerter && errors.As(err, &ee) && ee.ExitCode() == 3:
			default:
				errs = append(errs, fmt.Errorf("%s: %w", filepath.Base(c.Path), err))
			}
		}
		<-p.read
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		if err == nil {
			err = p.readErr
		}
		return p.cmds[len(p.cmds)-1].ProcessState.ExitCode(), err
	case <-time.After(limit):
		p.kill()
		<-done
		return -1, fmt.Errorf("pipeline still running %s after SIGINT: killed", limit)
	}
}

// StartCentral launches a central `scanalert --subscribe URL --format eve
// args...`, its records collected as a pipeline's are. Stop sends it
// SIGINT; Kill kills it.
func StartCentral(b Bins, url string, stderr io.Writer, args ...string) (*Pipeline, error) {
	cmd := exec.Command(b.Scanalert, append([]string{"--subscribe", url, "--format", "eve"}, args...)...)
	cmd.Stderr = stderr
	p := &Pipeline{cmds: []*exec.Cmd{cmd}, alerter: cmd, read: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go p.collect(out)
	return p, nil
}

// Kill kills every process of the pipeline with SIGKILL, as a crash
// would, and waits for them.
func (p *Pipeline) Kill() {
	p.kill()
	for _, c := range p.cmds {
		_ = c.Wait()
	}
	<-p.read
}

func (p *Pipeline) kill() {
	for _, c := range p.cmds {
		if c.Process != nil {
			_ = c.Process.Kill()
		}
	}
}

// Replay runs `pcapsess -r FILE [--host ...] | scanclass | scanalert --format
// eve [args]` and returns scanalert's output.
func Replay(ctx context.Context, b Bins, pcap string, hosts []netip.Addr, scanalertArgs ...string) ([]byte, error) {
	args := []string{"-r", pcap, "-q"}
	for _, h := range hosts {
		args = append(args, "--host", h.String())
	}
	var stderrBuf bytes.Buffer
	stderr := cliutil.LockedWriter(&stderrBuf)
	capture := exec.CommandContext(ctx, b.Pcapsess, args...)
	classify := exec.CommandContext(ctx, b.Scanclass)
	detect := exec.CommandContext(ctx, b.Scanalert, append([]string{"--format", "eve", "--no-summary"}, scanalertArgs...)...)
	var out bytes.Buffer
	capture.Stderr, classify.Stderr, detect.Stderr, detect.Stdout = stderr, stderr, stderr, &out
	var err error
	if classify.Stdin, err = capture.StdoutPipe(); err != nil {
		return nil, err
	}
	if detect.Stdin, err = classify.StdoutPipe(); err != nil {
		return nil, err
	}
	cmds := []*exec.Cmd{detect, classify, capture}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, c := range []*exec.Cmd{capture, classify, detect} {
		err := c.Wait()
		var ee *exec.ExitError
		if err != nil && !(c == detect && errors.As(err, &ee) && ee.ExitCode() == 3) {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Base(c.Path), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("replay of %s: %w\n%s", pcap, err, stderrBuf.Bytes())
	}
	return out.Bytes(), nil
}

// Sessions reads a capture back into session rows (`pcapsess -r FILE
// --format ndjson`, then `scanclass` when classify is set, which adds score
// and prediction): the ground truth of when each host sent its first packet,
// and of what the model made of each host's sessions.
func Sessions(ctx context.Context, b Bins, pcap string, hosts []netip.Addr, classify bool) ([]row.Row, error) {
	args := []string{"-r", pcap, "-q", "--format", "ndjson"}
	for _, h := range hosts {
		args = append(args, "--host", h.String())
	}
	cmd := exec.CommandContext(ctx, b.Pcapsess, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pcapsess -r %s: %w\n%s", pcap, err, stderr.Bytes())
	}
	if classify && len(out) > 0 {
		cmd := exec.CommandContext(ctx, b.Scanclass)
		cmd.Stdin, cmd.Stderr = bytes.NewReader(out), &stderr
		if out, err = cmd.Output(); err != nil {
			return nil, fmt.Errorf("scanclass of %s: %w\n%s", pcap, err, stderr.Bytes())
		}
	}
	rd, err := row.NewReader(bytes.NewReader(out), pcap, "ndjson")
	if errors.Is(err, row.ErrEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rows []row.Row
	for {
		var r row.Row
		if err := rd.Read(&r); err == io.EOF {
			return rows, nil
		} else if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
}

// FirstPacket returns, per initiator address, the packet time of its
// first session's first packet at or after from (Unix ns).
func FirstPacket(rows []row.Row, from int64) map[netip.Addr]int64 {
	first := map[netip.Addr]int64{}
	for i := range rows {
		r := &rows[i]
		if r.StartRequest < from {
			continue
		}
		if t, ok := first[r.SrcIP]; !ok || r.StartRequest < t {
			first[r.SrcIP] = r.StartRequest
		}
	}
	return first
}

// Background is a long-running helper process (trafficgen normal) that is
// stopped with SIGINT.
type Background struct {
	cmd    *exec.Cmd
	Stderr bytes.Buffer
	done   chan struct{} // closed once the process has been waited for
	err    error
}

// StartBackground starts name with args; its stderr is kept for reports.
func StartBackground(name string, args ...string) (*Background, error) {
	bg := &Background{cmd: exec.Command(name, args...), done: make(chan struct{})}
	bg.cmd.Stderr = &bg.Stderr
	if err := bg.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { bg.err = bg.cmd.Wait(); close(bg.done) }()
	return bg, nil
}

// Stop interrupts the process and waits up to limit for it (then kills it).
// Calling it again returns the first result.
func (bg *Background) Stop(limit time.Duration) error {
	select {
	case <-bg.done:
		return bg.err
	default:
	}
	_ = bg.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-bg.done:
		return bg.err
	case <-time.After(limit):
		_ = bg.cmd.Process.Kill()
		<-bg.done
		return fmt.Errorf("%s still running %s after SIGINT: killed", filepath.Base(bg.cmd.Path), limit)
	}
}

// Addr returns 127.a.b.host.
func Addr(a, b, host byte) netip.Addr { return netip.AddrFrom4([4]byte{127, a, b, host}) }

// Wait waits for the process to exit by itself.
func (bg *Background) Wait() error {
	<-bg.done
	return bg.err
}

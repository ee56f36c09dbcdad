package dataset

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"scanwatch/pkg/capturerun"
	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/merge"
	"scanwatch/pkg/trafficgen"
)

// Classes configures the seed's kind of data set: every scan technique
// (label 1, OUT/bad.csv) and normal clients (label 0, OUT/good.csv) until
// they gave as many rows as the scans, each class in captures of its own,
// and OUT/merged.csv with the larger class downsampled.
type Classes struct {
	Out        string
	Pcapsess   string // pcapsess binary
	Trafficgen string // trafficgen binary (runs the scans, clients and server)
	Window     time.Duration

	Techniques []trafficgen.Technique
	ScanPorts  trafficgen.PortSet
	Timing     int
	ScanDelay  time.Duration
	MaxRetries int
	// Parallel runs every technique at once in one capture; otherwise each
	// technique has a capture of its own. Parallel needs ScanSources.
	Parallel bool
	// ScanSources[i] is technique i's source address; none = the scanner
	// side's own address (one per capture, so rows still map to techniques).
	ScanSources []netip.Addr
	MinRows     int // fail if the scans gave fewer rows

	NormalSource netip.Addr // the clients' address; zero = the scanner side's own
	NormalPorts  trafficgen.PortSet
	Serve        []uint16 // ports the target's HTTP server listens on
	Rate         float64  // normal actions per second
	Concurrency  int
	Chunk        int // normal actions between row counts
	NormalMax    time.Duration
	Seed         uint64

	Log io.Writer
}

// Build makes the data set on l and returns its manifest (also written to
// OUT/manifest.json, even after a failure, with what was captured).
func (o Classes) Build(ctx context.Context, l capturerun.Launcher) (m *capturerun.Manifest, err error) {
	if o.Parallel && len(o.ScanSources) < len(o.Techniques) {
		return nil, errors.New("parallel scans need a source address per technique")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	log := cliutil.LockedWriter(o.Log)
	o.Log = log
	m = capturerun.NewManifest(l.Network())
	defer func() {
		if werr := m.Write(filepath.Join(o.Out, "manifest.json")); werr != nil && err == nil {
			err = werr
		}
	}()
	target := l.Target()
	cap := func(kind string, label int, kinds map[netip.Addr]string, file *capturerun.ClassFile,
		traffic func(ctx context.Context, r *capturerun.Run) ([]string, error)) error {
		var hosts []netip.Addr
		for a := range kinds {
			hosts = append(hosts, a)
		}
		part, err := capturerun.Capture(ctx, l, capturerun.Options{
			Pcapsess: o.Pcapsess, Window: o.Window, Hosts: hosts, Kind: kind,
			Label: capturerun.ClassLabeler(label, kinds), Log: log,
		}, file, traffic)
		if part != nil {
			m.Captures = append(m.Captures, *part)
		}
		if err != nil {
			return fmt.Errorf("%s capture: %w", kind, err)
		}
		return nil
	}

	// Label 1.
	badPath := filepath.Join(o.Out, "bad.csv")
	bad, err := capturerun.CreateClassFile(badPath)
	if err != nil {
		return m, err
	}
	defer bad.Close()
	source := func(i int) netip.Addr {
		if i < len(o.ScanSources) {
			return o.ScanSources[i]
		}
		return l.MarkerSource()
	}
	scanArgs := func(i int, t trafficgen.Technique) []string {
		args := []string{"scan", "--target", target.String(), "--technique", t.Short(), "--ports", o.ScanPorts.String(),
			"--timing", strconv.Itoa(o.Timing), "--max-retries", strconv.Itoa(o.MaxRetries), "--host-timeout", "1h"}
		args = append(args, allowTarget(target)...)
		if o.ScanDelay > 0 {
			args = append(args, "--scan-delay", o.ScanDelay.String())
		}
		if i < len(o.ScanSources) {
			args = append(args, "--source", o.ScanSources[i].String())
		}
		return args
	}
	groups := [][]int{}
	if o.Parallel {
		all := make([]int, len(o.Techniques))
		for i := range all {
			all[i] = i
		}
		groups = append(groups, all)
	} else {
		for i := range o.Techniques {
			groups = append(groups, []int{i})
		}
	}
	for _, g := range groups {
		kinds := map[netip.Addr]string{}
		var names []string
		for _, i := range g {
			kinds[source(i)] = o.Techniques[i].Short()
			names = append(names, o.Techniques[i].Short())
		}
		err := cap(strings.Join(names, "+"), 1, kinds, bad, func(ctx context.Context, r *capturerun.Run) ([]string, error) {
			cmds := make([]*exec.Cmd, len(g))
			var lines []string
			for j, i := range g {
				args := scanArgs(i, o.Techniques[i])
				cmds[j] = l.Command(ctx, capturerun.Scanner, o.Trafficgen, args...)
				cmds[j].Stderr = log
				lines = append(lines, l.Describe(capturerun.Scanner, "trafficgen", args...))
			}
			return lines, runAll(cmds)
		})
		if err != nil {
			return m, err
		}
	}
	if err := bad.Close(); err != nil {
		return m, err
	}
	badRows := m.Rows(badPath)
	if badRows < o.MinRows {
		return m, fmt.Errorf("scans gave %d rows, fewer than %d", badRows, o.MinRows)
	}

	// Label 0: the target's HTTP server, clients on the scanner side.
	srvArgs := append([]string{"serve", "--target", target.String(), "--ports", portList(o.Serve)}, allowTarget(target)...)
	srv := l.Command(ctx, capturerun.Target, o.Trafficgen, srvArgs...)
	served, stop, err := startServer(srv, log)
	if err != nil {
		return m, err
	}
	defer stop()
	goodPath := filepath.Join(o.Out, "good.csv")
	good, err := capturerun.CreateClassFile(goodPath)
	if err != nil {
		return m, err
	}
	defer good.Close()
	src := o.NormalSource
	if !src.IsValid() {
		src = l.MarkerSource()
	}
	err = cap("normal", 0, map[netip.Addr]string{src: "normal"}, good, func(ctx context.Context, r *capturerun.Run) ([]string, error) {
		lines := []string{l.Describe(capturerun.Target, "trafficgen", srvArgs...)}
		deadline := time.Now().Add(o.NormalMax)
		for chunk := 0; r.Rows() < badRows; chunk++ {
			left := time.Until(deadline)
			if left <= 0 {
				return lines, fmt.Errorf("normal traffic gave %d rows in %s, fewer than the %d scan rows", r.Rows(), o.NormalMax, badRows)
			}
			args := []string{"normal", "--target", target.String(), "--ports", o.NormalPorts.String(), "--served", portList(served),
				"--rate", fmt.Sprint(o.Rate), "--concurrency", strconv.Itoa(o.Concurrency), "--count", strconv.Itoa(o.Chunk),
				"--duration", left.Round(time.Second).String(), "--seed", strconv.FormatUint(o.Seed+uint64(chunk), 10)}
			args = append(args, allowTarget(target)...)
			if o.NormalSource.IsValid() {
				args = append(args, "--source", o.NormalSource.String())
			}
			if chunk == 0 {
				lines = append(lines, l.Describe(capturerun.Scanner, "trafficgen", args...)+
					fmt.Sprintf(" (then --seed %d+chunk, chunks until >= %d rows)", o.Seed, badRows))
			}
			cmd := l.Command(ctx, capturerun.Scanner, o.Trafficgen, args...)
			cmd.Stderr = log
			if err := cmd.Run(); err != nil {
				return lines, fmt.Errorf("trafficgen normal: %w", err)
			}
			// Rows of this chunk's last sessions arrive after --window.
			n, err := r.Sync(ctx)
			if err != nil {
				return lines, err
			}
			fmt.Fprintf(log, "dataset: normal chunk %d: %d rows so far\n", chunk+1, n)
		}
		return lines, nil
	})
	if err != nil {
		return m, err
	}
	if err := good.Close(); err != nil {
		return m, err
	}

	mergedPath := filepath.Join(o.Out, "merged.csv")
	m.Merged, err = BalancedMerge(ctx, mergedPath, o.Seed, badPath, goodPath)
	if err != nil {
		return m, fmt.Errorf("merge: %w", err)
	}
	m.Commands = append(m.Commands, fmt.Sprintf("csvmerge --balance --seed %d %s %s > %s", o.Seed, badPath, goodPath, mergedPath))
	fmt.Fprintf(log, "dataset: bad %d rows, good %d rows, merged %v\n", badRows, m.Rows(goodPath), m.Merged)
	return m, nil
}

// BalancedMerge writes the files' rows to path with the larger class
// downsampled (as csvmerge --balance) and returns rows per label.
func BalancedMerge(ctx context.Context, path string, seed uint64, files ...string) (map[string]int, error) {
	inputs, err := merge.FileInputs(files, nil)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	st, err := merge.Merge(ctx, inputs, f, merge.Options{Require: merge.HarvesterRequire(), Balance: true, Seed: int64(seed), Format: "csv"})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for k, v := range st.PerClass {
		out[strconv.Itoa(k)] = v
	}
	return out, nil
}

// allowTarget lifts trafficgen's loopback guard for a namespace target.
func allowTarget(target netip.Addr) []string {
	if target.IsLoopback() {
		return nil
	}
	return []string{"--allow-target", target.String()}
}

func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// runAll runs the commands at once and waits for all of them.
func runAll(cmds []*exec.Cmd) error {
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Go(func() { errs[i] = c.Run() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startServer starts `trafficgen serve` and waits for its "ready PORTS"
// line; stop closes its stdin (it then exits) and waits.
func startServer(cmd *exec.Cmd, log io.Writer) (ports []uint16, stop func(), err error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start trafficgen serve: %w", err)
	}
	stop = func() { in.Close(); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	list, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if ok {
		var set trafficgen.PortSet
		if set, err = trafficgen.ParsePorts(list); err == nil {
			for i := range set.Len() {
				ports = append(ports, set.At(i))
			}
			go io.Copy(io.Discard, out)
			return ports, stop, nil
		}
	}
	stop()
	return nil, nil, fmt.Errorf("trafficgen serve did not start (%q, %v)", line, err)
}

package trafficgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ScanOptions describe one nmap invocation.
type ScanOptions struct {
	Nmap      string // nmap binary; "" means "nmap" from PATH
	Target    netip.Addr
	Also      []netip.Addr // more hosts to scan in the same run (a sweep)
	Technique Technique
	Ports     PortSet
	Timing    int           // -T0..5; <0 leaves nmap's default (T3)
	ScanDelay time.Duration // --scan-delay; 0 = none
	// MaxRetries bounds retransmissions of unanswered probes; FIN, NULL and
	// Xmas probes to open ports never get an answer, so nmap's default of 10
	// would only add duplicate packets.
	MaxRetries int
	Source     netip.Addr // -S; zero = kernel's choice
	SourcePort int        // -g; 0 = random
	Interface  string     // -e; "" = lo for loopback targets when Source is set
	// HostTimeout bounds the whole scan inside nmap too (--host-timeout).
	HostTimeout time.Duration
}

// Args returns nmap's argument list (never a shell string).
func (o ScanOptions) Args() []string {
	args := []string{o.Technique.Flag, "-Pn", "-n", "-p", o.Ports.String()}
	if o.Target.Is6() {
		args = append(args, "-6")
	}
	if o.Timing >= 0 {
		args = append(args, "-T"+strconv.Itoa(o.Timing))
	}
	if o.ScanDelay > 0 {
		args = append(args, "--scan-delay", nmapDuration(o.ScanDelay))
	}
	args = append(args, "--max-retries", strconv.Itoa(o.MaxRetries))
	if o.HostTimeout > 0 {
		args = append(args, "--host-timeout", nmapDuration(o.HostTimeout))
	}
	if o.Source.IsValid() {
		args = append(args, "-S", o.Source.String())
	}
	iface := o.Interface
	// nmap wants -e with -S even for connect scans (it refuses to guess the
	// device of a source address), though it warns that connect() ignores it.
	if iface == "" && o.Source.IsValid() && isLoopback(o.Target) {
		iface = "lo"
	}
	if iface != "" {
		args = append(args, "-e", iface)
	}
	if o.SourcePort > 0 {
		args = append(args, "-g", strconv.Itoa(o.SourcePort))
	}
	args = append(args, o.Target.String())
	for _, a := range o.Also {
		args = append(args, a.String())
	}
	return args
}

// nmapDuration writes d in nmap's time syntax (ms granularity).
func nmapDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// CommandLine renders the invocation for humans and truth logs.
func (o ScanOptions) CommandLine() string {
	return o.nmapPath() + " " + strings.Join(o.Args(), " ")
}

func (o ScanOptions) nmapPath() string {
	if o.Nmap == "" {
		return "nmap"
	}
	return o.Nmap
}

// Preflight checks what a scan needs before any packet is sent: the nmap
// binary, and root for raw-socket techniques.
func Preflight(nmap string, techniques []Technique) (string, error) {
	return preflight(nmap, techniques, os.Geteuid())
}

func preflight(nmap string, techniques []Technique, euid int) (string, error) {
	if nmap == "" {
		nmap = "nmap"
	}
	path, err := exec.LookPath(nmap)
	if err != nil {
		return "", fmt.Errorf("nmap not found (%s): install it with `sudo apt-get install nmap`", nmap)
	}
	if euid != 0 {
		for _, t := range techniques {
			if t.Raw {
				return "", fmt.Errorf("technique %s (%s) sends raw packets and needs root: run as root (sudo), or use only sT (connect)", t.Short(), t.Name)
			}
		}
	}
	return path, nil
}

// RunScan runs nmap once. nmap's own report goes to out (stderr in the CLI:
// it is for humans). Cancelling ctx kills nmap.
func RunScan(ctx context.Context, o ScanOptions, out io.Writer) error {
	cmd := exec.CommandContext(ctx, o.nmapPath(), o.Args()...)
	cmd.Stdout = out
	cmd.Stderr = out
	// Let nmap finish cleanly on cancellation when it can; kill after 2 s.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s: exit status %d", o.CommandLine(), ee.ExitCode())
		}
		return fmt.Errorf("%s: %w", o.CommandLine(), err)
	}
	return nil
}

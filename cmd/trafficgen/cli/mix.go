package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"scanwatch/pkg/cliutil"
	"scanwatch/pkg/trafficgen"
)

// MixCmd is `trafficgen mix`, the harvester's injector.
type MixCmd struct {
	Target
	Steps      int           `default:"200" help:"Number of steps; each is one normal action or, with probability --p, one scan."`
	P          float64       `name:"p" default:"0.10" help:"Probability that a step is a scan."`
	Seed       uint64        `default:"1" help:"Seed of the plan: the same seed gives the same steps."`
	Technique  string        `default:"sT,sS,sF,sN,sX" help:"Techniques a scan step picks from (see scan --help)."`
	ScanPorts  string        `name:"scan-ports" default:"0-2500" help:"Ports a scan step takes a window of."`
	ScanMin    int           `name:"scan-min" default:"24" help:"Smallest scan window (ports)."`
	ScanMax    int           `name:"scan-max" default:"60" help:"Largest scan window (ports)."`
	Ports      string        `default:"1-12000" help:"Port range of normal HTTP sweeps."`
	Serve      string        `placeholder:"PORTS" help:"Start trafficgen's own HTTP server on these target ports for keep-alive HTTP and TCP exchanges."`
	Source     string        `default:"127.0.0.2" help:"Local address the normal clients bind to."`
	ScanSource string        `name:"scan-source" default:"127.0.0.3" help:"nmap source address (-S ADDR -e lo)."`
	Rate       string        `default:"20/s" help:"Steps per second (a scan step takes as long as nmap does)."`
	Duration   time.Duration `default:"5m" help:"Stop after this long."`
	Timing     int           `default:"4" help:"nmap -T0..5 for scan steps."`
	MaxRetries int           `name:"max-retries" default:"1" help:"nmap --max-retries."`
	ScanDelay  time.Duration `name:"scan-delay" help:"nmap --scan-delay."`
	Timeout    time.Duration `default:"2s" help:"Per-action timeout of normal steps."`
	Nmap       string        `default:"nmap" help:"nmap binary."`
	Truth      string        `default:"-" placeholder:"FILE" help:"Ground-truth NDJSON log, one record per step (- = stdout)."`
	PlanOnly   bool          `name:"plan" help:"Print the plan as NDJSON and exit without sending anything."`
}

func (c *MixCmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	f, err := parseTrafficFlags(c.Technique, c.ScanPorts, "--scan-ports", c.Ports, "--ports", c.Serve, c.Rate)
	if err != nil {
		return err
	}
	techs, span, ports, serve, rate := f.techs, f.scanPorts, f.normalPorts, f.serve, f.rate
	if c.Steps <= 0 || c.Duration <= 0 {
		return cliutil.Usagef("--steps and --duration must be > 0")
	}
	if c.Timing < 0 || c.Timing > 5 || c.MaxRetries < 0 || c.MaxRetries > 10 {
		return cliutil.Usagef("--timing must be within 0..5 and --max-retries within 0..10")
	}
	target, err := c.Target.resolve(ctx)
	if err != nil {
		return err
	}
	if len(serve) > 0 && !c.PlanOnly {
		srv, err := trafficgen.Serve(target, serve)
		if err != nil {
			return err
		}
		defer srv.Close()
		serve = srv.Ports() // --serve 0 means a free port
	}
	plan, err := trafficgen.Plan(c.Seed, c.Steps, c.P, trafficgen.PlanConfig{
		Techniques: techs, ScanSpan: span, ScanPortsMin: c.ScanMin, ScanPortsMax: c.ScanMax,
		NormalPorts: ports, Serve: serve,
	})
	if err != nil {
		return cliutil.Usage(err)
	}
	src, err := trafficgen.ParseSource(c.Source, target)
	if err != nil {
		return cliutil.Usagef("--source: %v", err)
	}
	scanSrc, err := trafficgen.ParseSource(c.ScanSource, target)
	if err != nil {
		return cliutil.Usagef("--scan-source: %v", err)
	}
	if src.IsValid() && src == scanSrc {
		return cliutil.Usagef("--source and --scan-source are both %s: the capture could not tell them apart", src)
	}
	truth, closeTruth, err := openTruth(c.Truth, stdout)
	if err != nil {
		return err
	}
	defer closeTruth()
	if c.PlanOnly {
		for _, s := range plan {
			rec := trafficgen.TruthRecord{Step: s.Index, Kind: s.Kind, Target: target.String()}
			if s.Kind == trafficgen.KindScan {
				rec.Technique, rec.Ports = s.Technique.Short(), s.Ports.String()
			} else {
				rec.Action, rec.Ports = string(s.Normal.Action), strconv.Itoa(int(s.Normal.Port))
			}
			if err := truth.Write(rec); err != nil {
				return err
			}
		}
		return nil
	}
	var used []trafficgen.Technique
	for _, s := range plan {
		if s.Kind == trafficgen.KindScan {
			used = append(used, s.Technique)
		}
	}
	nmap := c.Nmap
	if len(used) > 0 {
		if nmap, err = trafficgen.Preflight(c.Nmap, used); err != nil {
			return err
		}
	}
	st, err := trafficgen.RunMix(ctx, trafficgen.MixOptions{
		Plan: plan, Target: target, Source: src, ScanSource: scanSrc, Rate: rate, Duration: c.Duration,
		Timeout: c.Timeout, Truth: truth, Log: stderr, Concurrency: 1,
		Scan: trafficgen.ScanOptions{Nmap: nmap, Timing: c.Timing, MaxRetries: c.MaxRetries, ScanDelay: c.ScanDelay, HostTimeout: c.Duration},
	})
	if st != nil {
		fmt.Fprintf(stderr, "%s: mix: %d scans (%d failed), %d normal steps: %s\n", tool, st.Scans, st.ScanErrors, st.Normal, st.Actions)
	}
	return err
}

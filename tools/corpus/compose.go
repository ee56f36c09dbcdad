package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"scanwatch/pkg/capturerun"
	"scanwatch/pkg/corpus"
	"scanwatch/pkg/truth"
)

// ComposeCmd is `corpus compose`: each PAIR is BASE=SCAN, two capture
// names (corpus list); the scan's first scanner becomes the busiest IPv4
// client of the base, a third of the way into it. The composed captures and
// their manifest go to --out.
type ComposeCmd struct {
	Out   string   `default:"datasets/composed" help:"Output directory."`
	At    float64  `default:"0.33" help:"Where the scan starts, as a fraction of the base's time span."`
	Pairs []string `arg:"" help:"BASE=SCAN capture names."`
}

func (c *ComposeCmd) run(ctx context.Context, caps []corpus.Capture, stderr io.Writer) error {
	byName := map[string]*corpus.Capture{}
	for i := range caps {
		byName[caps[i].Name] = &caps[i]
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	m := capturerun.NewManifest("composed: scans of our own captures put on busy clients of other people's captures (corpus compose)")
	m.Commands = []string{"corpus compose --out " + c.Out + " " + strings.Join(c.Pairs, " ")}
	for _, pair := range c.Pairs {
		b, s, ok := strings.Cut(pair, "=")
		base, scan := byName[b], byName[s]
		if !ok || base == nil || scan == nil || len(scan.Scanners) == 0 {
			return fmt.Errorf("compose %q: want BASE=SCAN, two captures of corpus list, the second with a scanner", pair)
		}
		host, n, err := corpus.BusiestClient(ctx, base)
		if err != nil {
			return err
		}
		if n < 20 {
			return fmt.Errorf("compose %q: the busiest IPv4 client of %s has %d sessions; want a busy one (≥ 20)", pair, b, n)
		}
		scanner, err := netipParse(scan.Scanners[0].Address)
		if err != nil {
			return err
		}
		name := filepath.Base(b) + "+" + filepath.Base(s)
		path := filepath.Join(c.Out, name+".pcap.gz")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
		sc, err := corpus.Composition{Base: base, Scan: scan, Scanner: scanner, Host: host, At: c.At}.Write(zw)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("compose %q: %w", pair, err)
		}
		m.Captures = append(m.Captures, capturerun.Part{Kind: name, Pcap: filepath.Base(path), Scanners: []truth.Scanner{sc},
			Notes: map[string]string{"base": b, "base_source": base.Source, "scan": s, "scan_source": scan.Source}})
		fmt.Fprintf(stderr, "%s: compose: %s: %s (%d sessions in %s) scans %s ports %s\n", tool, path, host, n, b, strings.Join(sc.Hosts, ","), sc.Ports)
	}
	return m.Write(filepath.Join(c.Out, "manifest.json"))
}

func netipParse(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("scanner address %q: %v", s, err)
	}
	return a, nil
}

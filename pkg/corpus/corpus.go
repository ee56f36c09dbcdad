// Package corpus is the repository's labelled captures: our own data sets
// (datasets/NAME/manifest.json, written by package capturerun, with a pcap
// and its scanners' ground truth per capture) and other people's captures
// (datasets/public/manifest.json). It turns any of them into labelled
// session rows, exactly as pcapsess -r would, for training, for the
// leave-one-source-out table and for `just eval`.
package corpus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"scanwatch/pkg/capture"
	"scanwatch/pkg/row"
	"scanwatch/pkg/session"
	"scanwatch/pkg/truth"
)

// Capture is one labelled capture.
type Capture struct {
	Path    string // the capture file
	Name    string // short name: set/file
	Source  string // who made it, for leave-one-source-out: "own/lo", "public/arkime/arkime"
	Network string
	Class   string // "normal" (no scanner) or "scan"
	// Uses are the other sources a composed capture is made of: leaving a
	// source out leaves these out too.
	Uses     []string
	Scanners []truth.Scanner
	rules    *truth.Rules
}

// Label labels a row of the capture by its ground truth.
func (c *Capture) Label(r *row.Row) (label, scanner int) { return c.rules.Label(r) }

// IsScanner reports whether a is one of the capture's scanners.
func (c *Capture) IsScanner(a interface{ String() string }) bool {
	for _, s := range c.Scanners {
		if s.Address == a.String() {
			return true
		}
	}
	return false
}

// manifest covers both manifest kinds: capturerun's (network, captures with
// pcap and scanners) and the public corpus's (captures with file, class,
// source_repo and scanners).
type manifest struct {
	Network  string `json:"network"`
	Captures []struct {
		Pcap       string          `json:"pcap"`
		File       string          `json:"file"`
		Class      string          `json:"class"`
		SourceRepo string          `json:"source_repo"`
		Scanners   []truth.Scanner `json:"scanners"`
		// Notes is free text in the public manifest, an object (capturerun's
		// Part.Notes) in composed ones.
		Notes json.RawMessage `json:"notes"`
	} `json:"captures"`
}

// Load reads every manifest.json one level below dir (datasets/) and
// returns the captures they describe, sorted by name. Data sets without
// pcaps (rows only) are skipped.
func Load(dir string) ([]Capture, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "manifest.json"))
	if err != nil {
		return nil, err
	}
	var out []Capture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var m manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		set := filepath.Base(filepath.Dir(p))
		for _, mc := range m.Captures {
			c := Capture{Scanners: mc.Scanners, Network: m.Network}
			switch {
			case mc.SourceRepo != "":
				c.Path = filepath.Join(dir, set, mc.File)
				c.Source = "public/" + mc.SourceRepo
				c.Network = "public: " + mc.SourceRepo
			case mc.Pcap != "":
				c.Path = filepath.Join(dir, set, mc.Pcap)
				c.Source = "own/" + set
				var notes struct {
					BaseSource string `json:"base_source"`
					ScanSource string `json:"scan_source"`
				}
				_ = json.Unmarshal(mc.Notes, &notes) // absent or not an object: no sources used
				for _, u := range []string{notes.BaseSource, notes.ScanSource} {
					if u != "" {
						c.Uses = append(c.Uses, u)
					}
				}
			default:
				continue
			}
			c.Name = set + "/" + strings.TrimSuffix(strings.TrimSuffix(filepath.Base(c.Path), ".gz"), ".pcap")
			c.Class = "normal"
			if len(c.Scanners) > 0 {
				c.Class = "scan"
			}
			if mc.Class != "" && mc.Class != c.Class && !(mc.Class == "mixed" && c.Class == "scan") {
				return nil, fmt.Errorf("%s: %s is class %q but lists %d scanners", p, c.Name, mc.Class, len(c.Scanners))
			}
			if c.rules, err = truth.Compile(c.Scanners); err != nil {
				return nil, fmt.Errorf("%s: %s: %v", p, c.Name, err)
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Rows reads the capture as pcapsess -r does with cfg and hands every
// session row, labelled by the ground truth, to emit (the row is reused).
func Rows(ctx context.Context, c *Capture, cfg session.Config, emit func(r *row.Row, scanner int) error) error {
	return rows(ctx, c, cfg, Both, emit)
}

// Half is which packets of a capture a one-way view keeps.
type Half int

const (
	Both       Half = iota
	ClientHalf      // packets from the higher TCP port to the lower: what clients send
	ServerHalf      // packets from the lower TCP port to the higher: what servers send
)

// OneWayRows is Rows over one half of the capture's packets, as a sensor
// on an asymmetric route (or a SPAN of one direction) sees them: sessions
// whose answers were never seen, and sessions that start mid-stream with
// the server's packets. Training on them keeps a model from taking such
// sessions for unanswered probes.
func OneWayRows(ctx context.Context, c *Capture, cfg session.Config, half Half, emit func(r *row.Row, scanner int) error) error {
	return rows(ctx, c, cfg, half, emit)
}

func rows(ctx context.Context, c *Capture, cfg session.Config, half Half, emit func(r *row.Row, scanner int) error) error {
	src, err := capture.OpenFile(c.Path, nil)
	if err != nil {
		return err
	}
	defer src.Close()
	dec, err := session.NewDecoder(src.Link)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	t := session.NewTable(cfg, func(r *row.Row) error {
		label, sc := c.Label(r)
		r.Label = label
		return emit(r, sc)
	})
	if half == Both {
		err = t.Run(ctx, src, dec, session.RunOptions{})
	} else {
		err = oneWay(src, src.Link, half, func(data []byte, ts int64) error { return t.Packet(data, ts, dec) })
		if err == nil {
			err = t.Flush()
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	return nil
}

// oneWay hands f the TCP packets of src that go the half's way.
func oneWay(src gopacket.PacketDataSource, link layers.LinkType, half Half, f func(data []byte, ts int64) error) error {
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := gopacket.NewPacket(data, link, gopacket.Lazy)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.SrcPort == tcp.DstPort || (tcp.SrcPort > tcp.DstPort) != (half == ClientHalf) {
			continue
		}
		if err := f(data, session.Microseconds(ci.Timestamp.UnixNano())); err != nil {
			return err
		}
	}
}

package corpus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"scanwatch/pkg/row"
	"scanwatch/pkg/truth"
)

// Pipeline runs the user's pipeline, pcapsess -r | scanclass | scanalert,
// from built binaries.
type Pipeline struct {
	Bin       string   // directory of pcapsess, scanclass, scanalert
	Model     string   // scanclass --model; "" = the embedded default
	AlertArgs []string // extra scanalert flags
}

// Result is what the pipeline made of one capture, against its ground truth.
type Result struct {
	Name    string  `json:"name"`
	Source  string  `json:"source"`
	Class   string  `json:"class"`
	Seconds float64 `json:"seconds"` // first to last packet

	Sessions     int `json:"sessions"`
	ScanSessions int `json:"scan_sessions"`
	// Sessions wrongly called scans (label 0, prediction 1), and scan
	// sessions called scans.
	FalseSessions int `json:"false_sessions"`
	TrueSessions  int `json:"true_sessions"`

	Scanners    []ScannerResult `json:"scanners,omitempty"`
	FalseAlerts []string        `json:"false_alerts,omitempty"` // alerted addresses that are no scanner
	// Scan sessions and those called scans, per ground-truth technique.
	PerTechnique map[string][2]int `json:"per_technique,omitempty"`
}

// ScannerResult is one scanner of the ground truth.
type ScannerResult struct {
	Address    string   `json:"address"`
	Techniques []string `json:"techniques"`
	Alerted    bool     `json:"alerted"`
	Named      string   `json:"named,omitempty"`      // the techniques its last alert record named
	Right      *bool    `json:"right,omitempty"`      // named its one technique (single-technique scanners)
	LatencyMs  *float64 `json:"latency_ms,omitempty"` // first probe to start record, packet time
}

// Run runs the pipeline over c.
func (p Pipeline) Run(ctx context.Context, c *Capture) (*Result, error) {
	res := &Result{Name: c.Name, Source: c.Source, Class: c.Class, PerTechnique: map[string][2]int{}}
	pcapsess := exec.CommandContext(ctx, filepath.Join(p.Bin, "pcapsess"), "-r", c.Path, "-q")
	var classArgs []string
	if p.Model != "" {
		classArgs = append(classArgs, "--model", p.Model)
	}
	scanclass := exec.CommandContext(ctx, filepath.Join(p.Bin, "scanclass"), classArgs...)
	scanalert := exec.CommandContext(ctx, filepath.Join(p.Bin, "scanalert"), append([]string{"--format", "eve", "--no-summary"}, p.AlertArgs...)...)
	var errs [3]strings.Builder
	pcapsess.Stderr, scanclass.Stderr, scanalert.Stderr = &errs[0], &errs[1], &errs[2]
	var err error
	if scanclass.Stdin, err = pcapsess.StdoutPipe(); err != nil {
		return nil, err
	}
	classOut, err := scanclass.StdoutPipe()
	if err != nil {
		return nil, err
	}
	alertIn, err := scanalert.StdinPipe()
	if err != nil {
		return nil, err
	}
	alertOut, err := scanalert.StdoutPipe()
	if err != nil {
		return nil, err
	}
	for _, cmd := range []*exec.Cmd{pcapsess, scanclass, scanalert} {
		if err := cmd.Start(); err != nil {
			return nil, err
		}
	}
	var records []eveRecord
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(alertOut)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r eveRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				readErr = fmt.Errorf("scanalert output: %v", err)
				continue
			}
			records = append(records, r)
		}
	})
	first := map[string]int64{} // each scanner's first probe
	var starts []int64
	rowErr := func() error {
		defer alertIn.Close()
		rd, err := row.NewReader(classOut, "scanclass", "csv")
		if err != nil {
			return err
		}
		w, err := row.NewWriter(alertIn, "csv", rd.Schema(), row.WriterOptions{})
		if err != nil {
			return err
		}
		var r row.Row
		for {
			if err := rd.Read(&r); err == io.EOF {
				return w.Close()
			} else if err != nil {
				return err
			}
			if err := w.Write(&r); err != nil {
				return err
			}
			res.Sessions++
			if s := startOf(&r); s != 0 {
				starts = append(starts, s)
			}
			label, sc := c.Label(&r)
			if label == 0 {
				if r.Prediction == 1 {
					res.FalseSessions++
				}
				continue
			}
			res.ScanSessions++
			t := strings.Join(c.Scanners[sc].Techniques, "+")
			n := res.PerTechnique[t]
			n[0]++
			if r.Prediction == 1 {
				res.TrueSessions++
				n[1]++
			}
			res.PerTechnique[t] = n
			a := c.Scanners[sc].Address
			if s := startOf(&r); s != 0 && (first[a] == 0 || s < first[a]) {
				first[a] = s
			}
		}
	}()
	if rowErr != nil {
		io.Copy(io.Discard, classOut)
	}
	wg.Wait()
	var waitErrs []error
	for i, cmd := range []*exec.Cmd{pcapsess, scanclass, scanalert} {
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if i == 2 && errors.As(err, &ee) && ee.ExitCode() == 3 {
				continue // scanalert: alerts were raised
			}
			waitErrs = append(waitErrs, fmt.Errorf("%s: %v: %s", filepath.Base(cmd.Path), err, strings.TrimSpace(errs[i].String())))
		}
	}
	if err := errors.Join(append(waitErrs, rowErr, readErr)...); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	res.Seconds = span(starts)
	if len(res.PerTechnique) == 0 {
		res.PerTechnique = nil
	}
	res.score(c, records, first)
	return res, nil
}

// span is how long a capture's sessions cover, in seconds: the gaps between
// consecutive session starts, each counted up to an hour, so that a capture
// stitched together from days apart (or with a clock that jumped by
// decades, as some public ones have) counts its traffic, not its calendar.
func span(starts []int64) float64 {
	slices.Sort(starts)
	var total int64
	for i := 1; i < len(starts); i++ {
		total += min(starts[i]-starts[i-1], int64(time.Hour))
	}
	return float64(total) / 1e9
}

func startOf(r *row.Row) int64 {
	if r.StartRequest != 0 {
		return r.StartRequest
	}
	return r.StartResponse
}

type eveRecord struct {
	Timestamp string `json:"timestamp"`
	SrcIP     string `json:"src_ip"`
	Alert     struct {
		Signature string `json:"signature"`
	} `json:"alert"`
	Scan struct {
		State string `json:"state"`
	} `json:"scan"`
}

// named is the technique part of the signature "scanwatch: nmap SYN scan from A".
func (r *eveRecord) named() string {
	s, _ := strings.CutPrefix(r.Alert.Signature, "scanwatch: nmap ")
	s, _, _ = strings.Cut(s, " scan from ")
	return s
}

func (res *Result) score(c *Capture, records []eveRecord, first map[string]int64) {
	alerted := map[string]bool{}
	for _, r := range records {
		if r.Scan.State == "start" && !alerted[r.SrcIP] {
			alerted[r.SrcIP] = true
			a, err := netip.ParseAddr(r.SrcIP)
			if err != nil || !c.rules.IsScanner(a) {
				res.FalseAlerts = append(res.FalseAlerts, r.SrcIP)
			}
		}
	}
	// One result per scanner address: a capture may list one address
	// several times (one scan after another, over other ports).
	var scanners []truth.Scanner
	for _, s := range c.Scanners {
		i := slices.IndexFunc(scanners, func(x truth.Scanner) bool { return x.Address == s.Address })
		if i < 0 {
			scanners = append(scanners, truth.Scanner{Address: s.Address, Techniques: slices.Clone(s.Techniques)})
			continue
		}
		for _, t := range s.Techniques {
			if !slices.Contains(scanners[i].Techniques, t) {
				scanners[i].Techniques = append(scanners[i].Techniques, t)
			}
		}
	}
	for _, s := range scanners {
		sr := ScannerResult{Address: s.Address, Techniques: s.Techniques, Alerted: alerted[s.Address]}
		for _, r := range records {
			if r.SrcIP != s.Address {
				continue
			}
			sr.Named = r.named()
			if r.Scan.State == "start" && sr.LatencyMs == nil && first[s.Address] != 0 {
				if t, err := time.Parse("2006-01-02T15:04:05.000000-0700", r.Timestamp); err == nil {
					ms := float64(t.UnixNano()-first[s.Address]) / 1e6
					sr.LatencyMs = &ms
				}
			}
		}
		if len(s.Techniques) == 1 && s.Techniques[0] != "other" && sr.Alerted {
			right := sr.Named == s.Techniques[0]
			sr.Right = &right
		}
		res.Scanners = append(res.Scanners, sr)
	}
	slices.Sort(res.FalseAlerts)
}

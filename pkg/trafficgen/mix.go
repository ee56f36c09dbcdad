package trafficgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Kind of a mix step and of a truth record.
const (
	KindNormal = "normal"
	KindScan   = "scan"
)

// PlanConfig is what the mix scheduler draws from.
type PlanConfig struct {
	Techniques   []Technique // scans pick one uniformly
	ScanSpan     PortSet     // scans take a contiguous window of this set
	ScanPortsMin int         // window size bounds ("a few dozen")
	ScanPortsMax int
	NormalPorts  PortSet  // sweep range of normal steps
	Serve        []uint16 // served ports of normal steps
}

// Step is one planned step of a mix.
type Step struct {
	Index     int
	Kind      string     // KindNormal or KindScan
	Normal    NormalStep // for normal steps
	Technique Technique  // for scans
	Ports     PortSet    // for scans
}

// Plan is the mix scheduler: a pure function of its arguments. Each step is a
// scan with probability p, else one normal action. The same seed always gives
// the same plan, so a run can be repeated and its ground truth re-derived.
func Plan(seed uint64, steps int, p float64, cfg PlanConfig) ([]Step, error) {
	if steps < 0 {
		return nil, fmt.Errorf("steps must be ≥ 0, got %d", steps)
	}
	if p < 0 || p > 1 {
		return nil, fmt.Errorf("scan probability must be within 0..1, got %g", p)
	}
	if p > 0 && len(cfg.Techniques) == 0 {
		return nil, fmt.Errorf("no scan techniques")
	}
	if p > 0 && cfg.ScanSpan.Len() == 0 {
		return nil, fmt.Errorf("no scan ports")
	}
	if p < 1 && cfg.NormalPorts.Len() == 0 {
		return nil, fmt.Errorf("no normal ports")
	}
	lo, hi := cfg.ScanPortsMin, cfg.ScanPortsMax
	if lo < 1 || hi < lo {
		return nil, fmt.Errorf("scan window %d..%d is not a range of positive sizes", lo, hi)
	}
	r := rand.New(rand.NewPCG(seed, 0x6d6978)) // "mix"
	plan := make([]Step, 0, steps)
	for i := range steps {
		s := Step{Index: i}
		if r.Float64() < p {
			s.Kind = KindScan
			s.Technique = cfg.Techniques[r.IntN(len(cfg.Techniques))]
			n := min(lo+r.IntN(hi-lo+1), cfg.ScanSpan.Len())
			start := r.IntN(cfg.ScanSpan.Len() - n + 1)
			s.Ports = window(cfg.ScanSpan, start, n)
		} else {
			s.Kind = KindNormal
			s.Normal = drawNormal(r, cfg.NormalPorts, cfg.Serve)
		}
		plan = append(plan, s)
	}
	return plan, nil
}

// window returns ports start..start+n-1 of set, as compact ranges.
func window(set PortSet, start, n int) PortSet {
	var out PortSet
	for i := start; i < start+n; i++ {
		p := set.At(i)
		if k := len(out) - 1; k >= 0 && out[k].Hi != 65535 && out[k].Hi+1 == p {
			out[k].Hi = p
			continue
		}
		out = append(out, PortRange{p, p})
	}
	return out
}

// TruthRecord is one line of the ground-truth log. Times are wall-clock
// RFC 3339 with nanoseconds: packet timestamps come from the same clock, so
// a detector's rows can be matched against [Start, End].
type TruthRecord struct {
	Step      int    `json:"step"`
	Kind      string `json:"kind"`
	Start     string `json:"start,omitempty"`
	End       string `json:"end,omitempty"`
	Target    string `json:"target"`
	Source    string `json:"source,omitempty"`
	Technique string `json:"technique,omitempty"`
	Action    string `json:"action,omitempty"`
	Ports     string `json:"ports"`
	Command   string `json:"command,omitempty"`
	Error     string `json:"error,omitempty"`
}

// TruthLog writes TruthRecords as NDJSON, one per line, flushed per record
// so that a live scorer can follow the file.
type TruthLog struct {
	enc *json.Encoder
}

// NewTruthLog writes to w (which should be unbuffered or flushed by the caller).
func NewTruthLog(w io.Writer) *TruthLog { return &TruthLog{enc: json.NewEncoder(w)} }

// Write appends one record.
func (t *TruthLog) Write(r TruthRecord) error {
	if t == nil {
		return nil
	}
	return t.enc.Encode(r)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// MixOptions configure a mix run.
type MixOptions struct {
	Plan        []Step
	Target      netip.Addr
	Source      netip.Addr // normal clients
	ScanSource  netip.Addr // nmap -S
	Scan        ScanOptions
	Rate        float64 // steps per second; 0 = back to back
	Duration    time.Duration
	Timeout     time.Duration
	Truth       *TruthLog
	Log         io.Writer // human progress and nmap output
	Concurrency int
}

// MixStats count what a mix run did.
type MixStats struct {
	Normal, Scans, ScanErrors int
	Actions                   *NormalStats
}

// RunMix executes the plan in order, one step at a time like the harvester's
// injector, until the plan ends, Duration passes or ctx is cancelled.
func RunMix(ctx context.Context, o MixOptions) (*MixStats, error) {
	if o.Duration <= 0 {
		return nil, fmt.Errorf("duration must be > 0")
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	client := NewClient(o.Target, o.Source, max(o.Concurrency, 1), o.Timeout)
	defer client.Close()
	st := &MixStats{Actions: &NormalStats{}}
	var tick <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
		defer t.Stop()
		tick = t.C
	}
	for i, s := range o.Plan {
		if tick != nil && i > 0 {
			select {
			case <-tick:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		rec := TruthRecord{Step: s.Index, Kind: s.Kind, Target: o.Target.String()}
		start := time.Now()
		var err error
		switch s.Kind {
		case KindScan:
			so := o.Scan
			so.Target, so.Technique, so.Ports, so.Source = o.Target, s.Technique, s.Ports, o.ScanSource
			rec.Technique, rec.Ports, rec.Command = s.Technique.Short(), s.Ports.String(), so.CommandLine()
			if o.ScanSource.IsValid() {
				rec.Source = o.ScanSource.String()
			}
			if o.Log != nil {
				fmt.Fprintln(o.Log, "trafficgen: step", s.Index, ":", rec.Command)
			}
			err = RunScan(ctx, so, o.Log)
			st.Scans++
			if err != nil && ctx.Err() == nil {
				st.ScanErrors++
			}
		default:
			rec.Action, rec.Ports = string(s.Normal.Action), fmt.Sprint(s.Normal.Port)
			if o.Source.IsValid() {
				rec.Source = o.Source.String()
			}
			err = client.Do(ctx, s.Normal)
			if ctx.Err() == nil {
				st.Actions.add(s.Normal.Action, err)
			}
			st.Normal++
		}
		end := time.Now()
		if ctx.Err() != nil {
			rec.Error = "interrupted"
		} else if err != nil {
			rec.Error = err.Error()
		}
		rec.Start, rec.End = stamp(start), stamp(end)
		if werr := o.Truth.Write(rec); werr != nil {
			return st, fmt.Errorf("truth log: %w", werr)
		}
		if s.Kind == KindScan && err != nil && ctx.Err() == nil {
			return st, err // nmap itself failed: the truth would lie from here on
		}
	}
	return st, nil
}

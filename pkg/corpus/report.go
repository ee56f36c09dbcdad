package corpus

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Totals sum a group of results.
type Totals struct {
	Captures      int
	Sessions      int
	FalseSessions int
	WorstShare    float64 // the largest per-capture share of normal sessions called scans
	WorstName     string
	AlertedCaps   int // captures with a false alert
	FalseAlerts   int
	Hours         float64
	Scanners      int
	Alerted       int
	Single        int // alerted single-technique scanners
	Right         int // ... whose technique was named right
	Latencies     []float64
}

// Sum totals the results r keeps.
func Sum(results []Result, keep func(*Result) bool) Totals {
	var t Totals
	for i := range results {
		r := &results[i]
		if !keep(r) {
			continue
		}
		t.Captures++
		normal := r.Sessions - r.ScanSessions
		t.Sessions += normal
		t.FalseSessions += r.FalseSessions
		if normal > 0 {
			if share := float64(r.FalseSessions) / float64(normal); share > t.WorstShare {
				t.WorstShare, t.WorstName = share, r.Name
			}
		}
		if len(r.FalseAlerts) > 0 {
			t.AlertedCaps++
		}
		t.FalseAlerts += len(r.FalseAlerts)
		if r.Class == "normal" {
			t.Hours += r.Seconds / 3600
		}
		for _, s := range r.Scanners {
			t.Scanners++
			if s.Alerted {
				t.Alerted++
			}
			if s.Right != nil {
				t.Single++
				if *s.Right {
					t.Right++
				}
			}
			if s.LatencyMs != nil {
				t.Latencies = append(t.Latencies, *s.LatencyMs)
			}
		}
	}
	return t
}

// Share is the fraction of normal sessions called scans.
func (t Totals) Share() float64 {
	if t.Sessions == 0 {
		return 0
	}
	return float64(t.FalseSessions) / float64(t.Sessions)
}

// Percentile of the latencies (p in 0..1), or 0 with none.
func (t Totals) Percentile(p float64) float64 {
	if len(t.Latencies) == 0 {
		return 0
	}
	l := append([]float64(nil), t.Latencies...)
	sort.Float64s(l)
	i := int(p*float64(len(l)-1) + 0.5)
	return l[i]
}

func isPublic(r *Result) bool { return strings.HasPrefix(r.Source, "public/") }

// SummaryLine is the one line that says how the detector does on other
// people's traffic.
func SummaryLine(results []Result) string {
	pn := Sum(results, func(r *Result) bool { return isPublic(r) && r.Class == "normal" })
	ps := Sum(results, func(r *Result) bool { return isPublic(r) && r.Class == "scan" })
	return fmt.Sprintf("public ordinary captures: %d with alerts of %d (%d false alerts), %d of %d sessions called scans (%.2f%%, worst %.2f%%); public scans: %d of %d scanners alerted, technique right %d of %d",
		pn.AlertedCaps, pn.Captures, pn.FalseAlerts, pn.FalseSessions, pn.Sessions, 100*pn.Share(), 100*pn.WorstShare,
		ps.Alerted, ps.Scanners, ps.Right, ps.Single)
}

// Markdown writes the per-capture table and the totals.
func Markdown(w io.Writer, results []Result) {
	fmt.Fprintln(w, "| capture | class | sessions | normal called scans | scanners alerted | technique named | false alerts | latency ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		normal := r.Sessions - r.ScanSessions
		share := ""
		if normal > 0 {
			share = fmt.Sprintf("%d/%d (%.1f%%)", r.FalseSessions, normal, 100*float64(r.FalseSessions)/float64(normal))
		}
		var alerted, named, lat []string
		n := 0
		for _, s := range r.Scanners {
			if s.Alerted {
				n++
				named = append(named, s.Named)
				if s.LatencyMs != nil {
					lat = append(lat, fmt.Sprintf("%.0f", *s.LatencyMs))
				}
			} else {
				alerted = append(alerted, "missed "+s.Address)
			}
		}
		sc := ""
		if len(r.Scanners) > 0 {
			sc = fmt.Sprintf("%d/%d %s", n, len(r.Scanners), strings.Join(alerted, " "))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", r.Name, r.Class, r.Sessions, share, strings.TrimSpace(sc),
			strings.Join(named, ", "), strings.Join(r.FalseAlerts, " "), strings.Join(lat, " "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| group | captures | with false alerts | false alerts | normal sessions called scans | worst capture | scanners alerted | technique right | latency p50 / p95 ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, g := range []struct {
		name string
		keep func(*Result) bool
	}{
		{"public ordinary", func(r *Result) bool { return isPublic(r) && r.Class == "normal" }},
		{"public with scans", func(r *Result) bool { return isPublic(r) && r.Class == "scan" }},
		{"own ordinary", func(r *Result) bool { return !isPublic(r) && r.Class == "normal" }},
		{"own with scans", func(r *Result) bool { return !isPublic(r) && r.Class == "scan" }},
	} {
		t := Sum(results, g.keep)
		if t.Captures == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d/%d (%.2f%%) | %.2f%% | %d/%d | %d/%d | %.0f / %.0f |\n", g.name, t.Captures, t.AlertedCaps, t.FalseAlerts,
			t.FalseSessions, t.Sessions, 100*t.Share(), 100*t.WorstShare, t.Alerted, t.Scanners, t.Right, t.Single, t.Percentile(0.5), t.Percentile(0.95))
	}
	all := Sum(results, func(*Result) bool { return true })
	if all.Hours > 0 {
		fmt.Fprintf(w, "\nfalse alerts: %d in all captures; %.2f hours of ordinary captures (%.1f false alerts per hour of ordinary traffic)\n",
			all.FalseAlerts, all.Hours, float64(Sum(results, func(r *Result) bool { return r.Class == "normal" }).FalseAlerts)/all.Hours)
	}
	// Recall per technique, scan sessions called scans.
	per := map[string][2]int{}
	for _, r := range results {
		for t, n := range r.PerTechnique {
			p := per[t]
			p[0] += n[0]
			p[1] += n[1]
			per[t] = p
		}
	}
	var techs []string
	for t := range per {
		techs = append(techs, t)
	}
	sort.Strings(techs)
	fmt.Fprintln(w, "\n| technique (ground truth) | scan sessions | called scans | recall |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, t := range techs {
		p := per[t]
		fmt.Fprintf(w, "| %s | %d | %d | %.4f |\n", t, p[0], p[1], float64(p[1])/float64(max(p[0], 1)))
	}
	fmt.Fprintf(w, "\n%s\n", SummaryLine(results))
}

// Regressions compares results with committed figures: a scanner alerted
// then and missed now, a capture with more false alerts, fewer techniques
// named right, or clearly more normal sessions called scans.
func Regressions(then, now []Result) []string {
	byName := map[string]*Result{}
	for i := range now {
		byName[now[i].Name] = &now[i]
	}
	var out []string
	for _, old := range then {
		cur := byName[old.Name]
		if cur == nil {
			out = append(out, fmt.Sprintf("%s: capture gone", old.Name))
			continue
		}
		was := map[string]ScannerResult{}
		for _, s := range old.Scanners {
			was[s.Address] = s
		}
		for _, s := range cur.Scanners {
			w := was[s.Address]
			if w.Alerted && !s.Alerted {
				out = append(out, fmt.Sprintf("%s: scanner %s no longer alerted", cur.Name, s.Address))
			}
			if w.Right != nil && *w.Right && (s.Right == nil || !*s.Right) {
				out = append(out, fmt.Sprintf("%s: scanner %s: technique named %q, was %q", cur.Name, s.Address, s.Named, w.Named))
			}
		}
		if len(cur.FalseAlerts) > len(old.FalseAlerts) {
			out = append(out, fmt.Sprintf("%s: false alerts %v, were %v", cur.Name, cur.FalseAlerts, old.FalseAlerts))
		}
		if cur.FalseSessions > old.FalseSessions+max(2, old.FalseSessions/10) {
			out = append(out, fmt.Sprintf("%s: %d normal sessions called scans, were %d", cur.Name, cur.FalseSessions, old.FalseSessions))
		}
	}
	return out
}

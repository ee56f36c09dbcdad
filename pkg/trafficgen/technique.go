package trafficgen

import (
	"fmt"
	"strings"
)

// Technique is one nmap TCP scan type.
type Technique struct {
	Name string // long name: connect, syn, ...
	Flag string // nmap option: -sT, -sS, ...
	// Raw techniques craft packets on a raw socket, which needs root
	// (CAP_NET_RAW); connect uses the kernel's connect() and does not.
	Raw bool
}

// Techniques lists every technique trafficgen can run, in nmap's order.
var Techniques = []Technique{
	{"connect", "-sT", false},
	{"syn", "-sS", true},
	{"fin", "-sF", true},
	{"null", "-sN", true},
	{"xmas", "-sX", true},
	{"ack", "-sA", true},
	{"window", "-sW", true},
	{"maimon", "-sM", true},
}

// DefaultTechniques are the five the harvester trained on.
const DefaultTechniques = "sT,sS,sF,sN,sX"

// Short is the name without the dash, as used in flags and truth logs: "sT".
func (t Technique) Short() string { return strings.TrimPrefix(t.Flag, "-") }

// TechniqueByName accepts "sT", "-sT", "connect" (any case for long names).
func TechniqueByName(name string) (Technique, bool) {
	n := strings.TrimSpace(name)
	for _, t := range Techniques {
		if n == t.Flag || n == t.Short() || strings.EqualFold(n, t.Name) {
			return t, true
		}
	}
	return Technique{}, false
}

// ParseTechniques parses a comma-separated list; duplicates are kept once.
func ParseTechniques(s string) ([]Technique, error) {
	var out []Technique
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("technique list %q: empty item", s)
		}
		t, ok := TechniqueByName(name)
		if !ok {
			return nil, fmt.Errorf("unknown technique %q (known: %s)", strings.TrimSpace(name), techniqueNames())
		}
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	return out, nil
}

func techniqueNames() string {
	var names []string
	for _, t := range Techniques {
		names = append(names, t.Short()+"|"+t.Name)
	}
	return strings.Join(names, ", ")
}

package capturerun

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"os"
	"os/exec"
	"scanwatch/pkg/truth"
	"strings"
	"time"
)

// Manifest is a data set's manifest.json: how it was made and what came out.
type Manifest struct {
	Made     string         `json:"made"`
	Host     string         `json:"host"`
	Kernel   string         `json:"kernel"`
	Network  string         `json:"network"`
	Commands []string       `json:"commands"`       // what remakes the set
	Link     string         `json:"link,omitempty"` // what the link did: the delay line's frames, drops and lateness
	Captures []Part         `json:"captures"`
	Merged   map[string]int `json:"merged_rows_per_label,omitempty"`
}

// Part is one capture: its rows are lines First..Last of File (line 1 is
// the header).
type Part struct {
	File      string            `json:"file"`
	Kind      string            `json:"kind"`
	Rows      int               `json:"rows"`
	First     int               `json:"first_line"`
	Last      int               `json:"last_line"`
	PerLabel  map[string]int    `json:"rows_per_label"`
	PerKind   map[string]int    `json:"rows_per_kind"`
	PerSource map[string]int    `json:"rows_per_source"`
	Capture   string            `json:"capture_command"`
	Traffic   []string          `json:"traffic_commands"`
	Summary   string            `json:"capture_summary"`
	Pcap      string            `json:"pcap,omitempty"`
	Scanners  []truth.Scanner   `json:"scanners,omitempty"` // the ground truth that labelled its rows, when rules did
	Started   string            `json:"started"`
	Finished  string            `json:"finished"`
	Seconds   string            `json:"seconds"`
	Notes     map[string]string `json:"notes,omitempty"`
}

// NewManifest starts a manifest for network, stamped with this machine.
func NewManifest(network string) *Manifest {
	host, _ := os.Hostname()
	uname, _ := exec.Command("uname", "-srm").Output()
	return &Manifest{Made: stamp(time.Now()), Host: host, Kernel: strings.TrimSpace(string(uname)), Network: network}
}

// Write writes the manifest as indented JSON. Paths inside the manifest's
// own directory are written relative to it, so that the data set reads the
// same on every machine.
func (m *Manifest) Write(path string) error {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return err
	}
	rel := strings.NewReplacer(dir+string(filepath.Separator), "")
	out := *m
	out.Captures = slices.Clone(m.Captures)
	for i := range out.Captures {
		p := &out.Captures[i]
		p.File, p.Pcap, p.Capture = rel.Replace(p.File), rel.Replace(p.Pcap), rel.Replace(p.Capture)
	}
	out.Commands = slices.Clone(m.Commands)
	for i := range out.Commands {
		out.Commands[i] = rel.Replace(out.Commands[i])
	}
	b, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadManifest reads a manifest written by Write.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &m, nil
}

// Rows totals the rows of the captures of file.
func (m *Manifest) Rows(file string) int {
	n := 0
	for _, p := range m.Captures {
		if p.File == file {
			n += p.Rows
		}
	}
	return n
}

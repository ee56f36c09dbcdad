package alert

import (
	"encoding/json"
	"time"
)

// Record is one EVE line as AppendEVE writes it, for programs that read
// scanalert's output back (tests, latency measurements, SIEM glue).
type Record struct {
	Timestamp   EVETime `json:"timestamp"`
	FlowID      int64   `json:"flow_id"`
	InIface     string  `json:"in_iface"`
	EventType   string  `json:"event_type"`
	SrcIP       string  `json:"src_ip"`
	SrcPort     int     `json:"src_port"`
	DestIP      string  `json:"dest_ip"`
	DestPort    int     `json:"dest_port"`
	Proto       string  `json:"proto"`
	CommunityID string  `json:"community_id"`
	Host        string  `json:"host"`
	Alert       struct {
		Action      string              `json:"action"`
		GID         int                 `json:"gid"`
		SignatureID int                 `json:"signature_id"`
		Rev         int                 `json:"rev"`
		Signature   string              `json:"signature"`
		Category    string              `json:"category"`
		Severity    int                 `json:"severity"`
		Metadata    map[string][]string `json:"metadata"`
	} `json:"alert"`
	Scan struct {
		State                   string         `json:"state"`
		Episode                 int            `json:"episode"`
		Reason                  string         `json:"reason"`
		Scanner                 string         `json:"scanner"`
		Aggregate               string         `json:"aggregate"`
		Sources                 []string       `json:"sources"`
		SourceCount             int            `json:"source_count"`
		MoreSources             bool           `json:"more_sources"`
		Sensors                 []string       `json:"sensors"`
		MoreSensors             bool           `json:"more_sensors"`
		Targets                 []string       `json:"targets"`
		TargetCount             int            `json:"target_count"`
		MoreTargets             bool           `json:"more_targets"`
		Ports                   string         `json:"ports"`
		PortCount               int            `json:"port_count"`
		Techniques              map[string]int `json:"techniques"`
		NmapOptions             string         `json:"nmap_options"`
		OpenPorts               string         `json:"open_ports"`
		OpenPortCount           int            `json:"open_port_count"`
		OpenServices            []string       `json:"open_services"`
		MoreOpenServices        bool           `json:"more_open_services"`
		Anomalies               int            `json:"anomalies"`
		Sessions                int            `json:"sessions"`
		WindowAnomalies         int            `json:"window_anomalies"`
		WindowSessions          int            `json:"window_sessions"`
		WindowAnomalousServices int            `json:"window_anomalous_services"`
		WindowServices          int            `json:"window_services"`
		Rule                    string         `json:"rule"`
		Ratio                   float64        `json:"ratio"`
		First                   EVETime        `json:"first"`
		Last                    EVETime        `json:"last"`
		MeanScore               *float64       `json:"mean_score"`
	} `json:"scan"`
}

// EVETime is a time in EVETimeLayout.
type EVETime struct{ time.Time }

// UnmarshalJSON parses "2025-01-15T12:49:08.025898+0000".
func (t *EVETime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(EVETimeLayout, s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

package alert

import (
	"net/netip"
	"strconv"
	"time"

	"scanwatch/pkg/row"
)

// EVETimeLayout is Suricata's EVE timestamp: microseconds and a numeric zone
// without a colon, "2025-01-15T12:49:08.025898+0000".
const EVETimeLayout = "2006-01-02T15:04:05.000000-0700"

// Signature is the alert's one-line name: "scanwatch: nmap SYN scan from
// 10.0.0.5", or for a subnet "scanwatch: nmap SYN scan from 10.0.0.0/24 (8
// sources)".
func (e *Event) Signature() string {
	s := "scanwatch: nmap " + e.Summary() + " scan from " + e.ScannerName()
	if e.Subnet {
		s += " (" + strconv.Itoa(e.SourceCount) + " sources)"
	}
	return s
}

// ScannerName is the scanner's address, or a subnet episode's subnet.
func (e *Event) ScannerName() string {
	if e.Subnet {
		return e.Scope.String()
	}
	return e.Scanner.String()
}

// mitre is alert.metadata: the MITRE ATT&CK technique a port scan is,
// in the form Suricata's rule metadata takes in EVE (key → list of
// values), as Emerging Threats' scan rules tag it.
const mitre = `"metadata":{"mitre_tactic_id":["TA0007"],"mitre_tactic_name":["Discovery"],` +
	`"mitre_technique_id":["T1046"],"mitre_technique_name":["Network_Service_Discovery"]}`

// AppendEVE appends e as one line of Suricata EVE JSON (event_type "alert")
// with a "scan" object carrying the attribution, and a newline. The
// five-tuple, flow_id and community_id are those of the episode's first
// anomalous session. Fields come in a fixed order so that the same input
// always gives the same bytes. README.md lists them; pkg/alert/eve.schema.json
// is their schema.
func AppendEVE(b []byte, e *Event, sensor Sensor) []byte {
	f := e.FirstFlow
	b = append(b, `{"timestamp":`...)
	b = appendJSONTime(b, e.Time)
	b = append(b, `,"flow_id":`...)
	b = strconv.AppendInt(b, e.FlowID(), 10)
	if sensor.InIface != "" {
		b = append(b, `,"in_iface":`...)
		b = appendJSONString(b, sensor.InIface)
	}
	b = append(b, `,"event_type":"alert","src_ip":`...)
	b = appendJSONAddr(b, e.Scanner)
	b = append(b, `,"src_port":`...)
	b = strconv.AppendUint(b, uint64(f.Src.Port()), 10)
	b = append(b, `,"dest_ip":`...)
	b = appendJSONAddr(b, f.Dst.Addr())
	b = append(b, `,"dest_port":`...)
	b = strconv.AppendUint(b, uint64(f.Dst.Port()), 10)
	b = append(b, `,"proto":"TCP","community_id":`...)
	b = appendJSONString(b, e.CommunityID())
	b = append(b, `,"host":`...)
	b = appendJSONString(b, sensor.Host)
	b = append(b, `,"alert":{"action":"allowed","gid":1,"signature_id":`...)
	b = strconv.AppendInt(b, int64(e.SignatureID()), 10)
	b = append(b, `,"rev":1,"signature":`...)
	b = appendJSONString(b, e.Signature())
	b = append(b, `,"category":"Attempted Information Leak","severity":`...)
	b = strconv.AppendInt(b, int64(e.Severity()), 10)
	b = append(b, ',')
	b = append(b, mitre...)
	b = append(b, `},"scan":{"state":"`...)
	b = append(b, e.State.String()...)
	b = append(b, `","episode":`...)
	b = strconv.AppendInt(b, int64(e.Episode), 10)
	if e.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, e.Reason)
	}
	b = append(b, `,"scanner":`...)
	b = appendJSONString(b, e.ScannerName())
	if e.Subnet {
		b = append(b, `,"aggregate":"subnet","sources":`...)
		b = appendJSONAddrs(b, e.Sources)
		b = append(b, `,"source_count":`...)
		b = strconv.AppendInt(b, int64(e.SourceCount), 10)
		if e.MoreSources {
			b = append(b, `,"more_sources":true`...)
		}
	}
	if len(e.Sensors) > 0 {
		b = append(b, `,"sensors":[`...)
		for i, s := range e.Sensors {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
		if e.MoreSensors {
			b = append(b, `,"more_sensors":true`...)
		}
	}
	b = append(b, `,"targets":`...)
	b = appendJSONAddrs(b, e.Targets)
	b = append(b, `,"target_count":`...)
	b = strconv.AppendInt(b, int64(e.TargetCount), 10)
	if e.MoreTargets {
		b = append(b, `,"more_targets":true`...)
	}
	b = append(b, `,"ports":`...)
	b = appendJSONString(b, e.Ports)
	b = append(b, `,"port_count":`...)
	b = strconv.AppendInt(b, int64(e.PortCount), 10)
	b = append(b, `,"techniques":{`...)
	var all Tech
	for i, t := range e.Techniques {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.Tech.String())
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(t.Sessions), 10)
		all |= t.Tech
	}
	b = append(b, `},"nmap_options":`...)
	b = appendJSONString(b, all.Options())
	b = append(b, `,"open_ports":`...)
	b = appendJSONString(b, e.OpenPorts)
	b = append(b, `,"open_port_count":`...)
	b = strconv.AppendInt(b, int64(e.OpenPortCount), 10)
	b = append(b, `,"open_services":[`...)
	for i, svc := range e.Open {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = svc.AppendTo(b)
		b = append(b, '"')
	}
	b = append(b, ']')
	if e.MoreOpen {
		b = append(b, `,"more_open_services":true`...)
	}
	b = append(b, `,"anomalies":`...)
	b = strconv.AppendInt(b, int64(e.Anomalies), 10)
	b = append(b, `,"sessions":`...)
	b = strconv.AppendInt(b, int64(e.Sessions), 10)
	b = append(b, `,"window_anomalies":`...)
	b = strconv.AppendInt(b, int64(e.WindowAnomalies), 10)
	b = append(b, `,"window_sessions":`...)
	b = strconv.AppendInt(b, int64(e.WindowSessions), 10)
	b = append(b, `,"window_anomalous_services":`...)
	b = strconv.AppendInt(b, int64(e.WindowAnomalousServices), 10)
	b = append(b, `,"window_services":`...)
	b = strconv.AppendInt(b, int64(e.WindowServices), 10)
	b = append(b, `,"rule":"`...)
	b = append(b, e.Rule.String()...)
	b = append(b, `","ratio":`...)
	b = strconv.AppendFloat(b, round4(e.Ratio()), 'f', -1, 64)
	b = append(b, `,"first":`...)
	b = appendJSONTime(b, e.First)
	b = append(b, `,"last":`...)
	b = appendJSONTime(b, e.Last)
	if e.HasScore {
		b = append(b, `,"mean_score":`...)
		b = strconv.AppendFloat(b, round4(e.MeanScore), 'f', -1, 64)
	}
	return append(b, "}}\n"...)
}

// AppendText appends e as one human line and a newline:
//
//	2025-01-15 12:49:08.025898 ALERT start #1 nmap SYN scan from 10.0.0.5 → 10.0.0.9 ports 1-1000 (1000) techniques SYN:1000 window 998/1000 (99.8%)
func AppendText(b []byte, e *Event) []byte {
	b = appendTime(b, e.Time, row.TimeLayout)
	b = append(b, " ALERT "...)
	b = append(b, e.State.String()...)
	b = append(b, " #"...)
	b = strconv.AppendInt(b, int64(e.Episode), 10)
	b = append(b, " nmap "...)
	b = append(b, e.Summary()...)
	b = append(b, " scan from "...)
	b = append(b, e.ScannerName()...)
	if e.Subnet {
		b = append(b, " ("...)
		b = strconv.AppendInt(b, int64(e.SourceCount), 10)
		b = append(b, " sources)"...)
	}
	if len(e.Sensors) > 0 {
		b = append(b, " seen by "...)
		for i, s := range e.Sensors {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, s...)
		}
	}
	b = append(b, " → "...)
	for i, a := range e.Targets {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.AppendTo(b)
	}
	if e.TargetCount > len(e.Targets) || e.MoreTargets {
		b = append(b, ",..."...)
	}
	b = append(b, " ports "...)
	b = append(b, e.Ports...)
	b = append(b, " ("...)
	b = strconv.AppendInt(b, int64(e.PortCount), 10)
	b = append(b, ") techniques"...)
	for i, t := range e.Techniques {
		if i == 0 {
			b = append(b, ' ')
		} else {
			b = append(b, ", "...)
		}
		b = append(b, t.Tech.String()...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(t.Sessions), 10)
	}
	if e.OpenPortCount > 0 {
		b = append(b, " open "...)
		b = append(b, e.OpenPorts...)
	}
	b = append(b, " anomalies "...)
	b = strconv.AppendInt(b, int64(e.Anomalies), 10)
	a, n := e.Counts()
	b = append(b, " window "...)
	b = strconv.AppendInt(b, int64(a), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ' ')
	b = append(b, e.Rule.String()...)
	b = append(b, " ("...)
	b = strconv.AppendFloat(b, 100*e.Ratio(), 'f', 1, 64)
	b = append(b, "%)"...)
	if e.Reason != "" {
		b = append(b, " ["...)
		b = append(b, e.Reason...)
		b = append(b, ']')
	}
	return append(b, '\n')
}

func round4(v float64) float64 {
	return float64(int64(v*1e4+0.5)) / 1e4
}

func appendTime(b []byte, ns int64, layout string) []byte {
	return time.Unix(0, ns).UTC().AppendFormat(b, layout)
}

func appendJSONTime(b []byte, ns int64) []byte {
	b = append(b, '"')
	b = appendTime(b, ns, EVETimeLayout)
	return append(b, '"')
}

func appendJSONAddrs(b []byte, as []netip.Addr) []byte {
	b = append(b, '[')
	for i, a := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONAddr(b, a)
	}
	return append(b, ']')
}

func appendJSONAddr(b []byte, a netip.Addr) []byte {
	b = append(b, '"')
	if a.IsValid() {
		b = a.AppendTo(b)
	}
	return append(b, '"')
}

// appendJSONString quotes s for JSON. Our strings are ASCII names, but quote
// properly anyway: a reason or technique name must never break a line.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

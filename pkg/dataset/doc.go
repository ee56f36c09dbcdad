// Package dataset holds the recipes of scanwatch's data sets: which traffic
// runs in which capture and how its rows are labelled. Every recipe runs on
// any capturerun.Launcher (loopback, a veth pair, the delay line), makes its
// traffic with trafficgen's own commands started on the launcher's scanner
// side, and writes one capturerun.Manifest.
package dataset

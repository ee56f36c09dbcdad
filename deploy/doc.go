// Package deploy holds the sensor service: the systemd unit
// scanwatch@.service, its pipeline script scanwatch-sensor and the example
// environment file, installed by `just install`. Its tests install them
// under a temporary prefix, verify the unit with systemd-analyze, and run
// the script as the unit would: an unprivileged user whose only
// capability is CAP_NET_RAW, inside a test network namespace.
package deploy

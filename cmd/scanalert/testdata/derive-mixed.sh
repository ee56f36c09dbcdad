#!/bin/sh
# Derives, from mixed.pcap.gz (capture-mixed.sh), the classified rows that
# scanalert's CLI cases and tests read: mixed.csv (every session), normal.csv
# (the normal clients' sessions) and syn.ndjson (the SYN scan's first 40).
# The classification stands for scanclass: the ground truth (the initiator
# address, see capture-mixed.sh), made wrong on purpose for every 10th
# session of each class (10 % false positives, 10 % false negatives).
# TestMixedCapture checks that the files are what this makes of the capture.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp" ../../pcapsess ../../csvmerge
"$tmp/pcapsess" -r mixed.pcap.gz | awk -F, -v OFS=, '
	NR == 1 { print $0, "label", "score", "prediction"; next }
	{
		label = ($6 == "127.0.0.5" || $6 == "127.0.0.6") ? 0 : 1
		pred = label
		if (++seen[label] % 10 == 0) pred = 1 - label
		print $0, label, (pred ? "0.9" : "0.1"), pred
	}' > mixed.csv
awk -F, 'NR == 1 || $36 == 0' mixed.csv > normal.csv
awk -F, 'NR == 1 || ($6 == "127.0.0.2" && ++n <= 40)' mixed.csv | "$tmp/csvmerge" --format ndjson - > syn.ndjson

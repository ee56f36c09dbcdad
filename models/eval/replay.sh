#!/usr/bin/env bash
# Table 3 of models/README.md: the end-to-end scenario (busy keep-alive
# client, 4/s refused-connection client, five -T4 scans of 31 ports) on
# 127.0.91.0/24, captured once and replayed through each MODEL given
# (default: the embedded one). Root (live capture, raw scans). Run from the
# repository root after `just build`.
set -euo pipefail
T=127.0.91.1; WEB=127.0.91.2; REF=127.0.91.3; PORT=18555
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
bin/pcapsess -i lo --host $T --user= -q -w "$d/live.pcap" > /dev/null &
pc=$!
sleep 1
bin/trafficgen normal --target $T --source $WEB --serve $PORT --ports $PORT --rate 40/s --concurrency 4 --count 3000 --duration 45s --seed 7 2>/dev/null &
w=$!
sleep 0.3
bin/trafficgen normal --target $T --source $REF --ports 20000-29999 --rate 4/s --concurrency 1 --count 600 --duration 45s --seed 8 2>/dev/null &
r=$!
sleep 6
i=11
for t in sS sT sF sN sX; do
  bin/trafficgen scan --target $T --source 127.0.91.$i --technique $t --ports $PORT,40100-40129 --timing 4 >/dev/null 2>&1
  i=$((i+1)); sleep 3
done
kill -INT $w $r; wait $w $r || true
sleep 1; kill -INT $pc; wait $pc || true
bin/pcapsess -r "$d/live.pcap" --host $T > "$d/rows.csv"
[ $# -gt 0 ] || set -- ""
for m in "$@"; do
  args=(); [ -n "$m" ] && args=(--model "$m")
  bin/scanclass "${args[@]}" < "$d/rows.csv" > "$d/scored.csv"
  flagged=$(awk -F, 'NR>1{n[$6]++; f[$6]+=$NF} END{split("11 12 13 14 15 2 3",o," "); split("sS sT sF sN sX keep-alive refused",nm," "); for(i=1;i<=7;i++){s="127.0.91."o[i]; printf "%s %d/%d  ", nm[i], f[s], n[s]}}' "$d/scored.csv")
  alerts=$(bin/scanalert < "$d/scored.csv" 2>/dev/null | grep -o '"src_ip":"[0-9.]*"' | sort -u | sed 's/"src_ip":"//; s/"//' | paste -sd' ' || true)
  echo "${m:-embedded}: $flagged| alerts from: $alerts"
done

#!/usr/bin/env bash
# just bench: every performance figure of the README in one run, each as a
# ratio against a reference measured in the same run on the same input.
# Needs root for the live part; installs tshark and Python's xgboost/pandas.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
packets=${PACKETS:-3400000}
rows=${ROWS:-1000000}
export DEBIAN_FRONTEND=noninteractive
need=()
command -v tshark >/dev/null || need+=(tshark)
/usr/bin/python3 -c 'import xgboost, pandas, sklearn' 2>/dev/null || need+=(python3-xgboost python3-pandas python3-sklearn)
command -v nmap >/dev/null || need+=(nmap)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi
just build >/dev/null

secs() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
table=()
row() { table+=("$(printf '| %s | %s | %s | %s |' "$1" "$2" "$3" "$4")"); }

echo "1/9 pcapsess vs tshark on $packets synthetic packets" >&2
go run ./tools/mkpcap -n "$packets" -o "$tmp/bench.pcap"
read ps pm < <(secs $bin/pcapsess -r "$tmp/bench.pcap")
read ts tm < <(secs tshark -n -r "$tmp/bench.pcap" -T fields -e frame.time_epoch -e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport -e tcp.flags)
row "pcapsess -r (packets/s, max RSS; default: a worker per core)" "$(awk -v n=$packets -v s=$ps -v m=$pm 'BEGIN{printf "%.2f M/s, %.0f MB", n/s/1e6, m/1024}')" \
    "$(awk -v n=$packets -v s=$ts -v m=$tm 'BEGIN{printf "tshark -T fields: %.3f M/s, %.0f MB", n/s/1e6, m/1024}')" \
    "$(awk -v a=$ps -v b=$ts 'BEGIN{printf "%.0f× faster", b/a}')"

echo "2/9 pcapsess -r with 2 workers against 1 (best of 3 each)" >&2
bestof3() { local best=; for _ in 1 2 3; do read s _ < <(secs "$@"); best=$(awk -v a="$s" -v b="${best:-1e9}" 'BEGIN{print (a<b)?a:b}'); done; echo "$best"; }
w1=$(bestof3 $bin/pcapsess -r "$tmp/bench.pcap" --workers 1)
w2=$(bestof3 $bin/pcapsess -r "$tmp/bench.pcap" --workers 2)
row "pcapsess -r, 2 workers (packets/s)" "$(awk -v n=$packets -v s=$w2 'BEGIN{printf "%.2f M/s", n/s/1e6}')" \
    "$(awk -v n=$packets -v s=$w1 'BEGIN{printf "1 worker: %.2f M/s", n/s/1e6}')" \
    "$(awk -v a=$w1 -v b=$w2 'BEGIN{printf "%.2f×", a/b}')"

echo "3/9 scanclass vs pandas+xgboost on $rows rows" >&2
$bin/pcapsess -r "$tmp/bench.pcap" > "$tmp/sessions.csv"
n=$(( $(wc -l < "$tmp/sessions.csv") - 1 ))
head -1 "$tmp/sessions.csv" > "$tmp/rows.csv"
for _ in $(seq $(( (rows + n - 1) / n ))); do tail -n +2 "$tmp/sessions.csv"; done > "$tmp/body.csv"
head -n "$rows" "$tmp/body.csv" >> "$tmp/rows.csv"
# The reference trains on our own loopback data set's labelled rows (its
# training is not timed; only reading, scoring and writing the rows are).
go run ./tools/corpus rows --source own/lo > "$tmp/train.csv"
read cs cm < <(secs $bin/scanclass < "$tmp/rows.csv")
read pn pt < <(/usr/bin/python3 bench/scanclass_ref.py "$tmp/train.csv" "$tmp/rows.csv" "$tmp/ref.csv")
row "scanclass CSV→CSV (rows/s)" "$(awk -v n=$rows -v s=$cs 'BEGIN{printf "%.2f M/s", n/s/1e6}')" \
    "$(awk -v n=$pn -v s=$pt 'BEGIN{printf "pandas + xgboost(210): %.3f M/s", n/s/1e6}')" \
    "$(awk -v a=$cs -v b=$pt 'BEGIN{printf "%.1f× faster", b/a}')"

echo "4/9 modelpick GBDT(210) fit vs xgboost fit (the harvester's train set)" >&2
harvester=../shared/seed/datasets/train
if [ -f $harvester/bad.csv ]; then
    { cat $harvester/bad.csv; tail -n +2 $harvester/good.csv; } > "$tmp/harvester.csv"
    gf=$(SCANWATCH_HARVESTER_DATA=$(cd "$harvester/.." && pwd) go test -tags harvester -run '^$' -bench 'GBDTFit210$' -benchtime 10x ./pkg/learn/trees | awk '/BenchmarkGBDTFit210/ {print $3/1e9}')
    read xn xt < <(/usr/bin/python3 bench/xgb_fit_ref.py "$tmp/harvester.csv")
    row "GBDT(210) fit on 24,511 harvester rows" "$(awk -v s=$gf 'BEGIN{printf "%.3f s", s}')" \
        "$(awk -v s=$xt 'BEGIN{printf "xgboost hist: %.3f s", s}')" "$(awk -v a=$gf -v b=$xt 'BEGIN{printf "%.2f× the speed", b/a}')"
fi

echo "5/9 scanalert rows/s" >&2
sa=$(go test -run '^$' -bench 'CSVToEVE/csv' -benchtime 3x ./cmd/scanalert/cli | awk '/CSVToEVE\/csv/ {for (i=1;i<=NF;i++) if ($(i+1)=="rows/s") print $i}')
row "scanalert CSV→EVE (rows/s)" "$(awk -v r=$sa 'BEGIN{printf "%.2f M/s", r/1e6}')" "scanclass on the same machine" \
    "$(awk -v r=$sa -v n=$rows -v s=$cs 'BEGIN{printf "%.1f× scanclass", r/(n/s)}')"

echo "6/9 live capture on lo during nmap -sS -p- --min-rate 20000" >&2
if [ "$(id -u)" = 0 ]; then
    $bin/pcapsess -i lo --user= --workers 1 > /dev/null 2> "$tmp/live.err" & pid=$!
    sleep 1
    nmap -sS -Pn -n -p- --min-rate 20000 --max-retries 0 127.0.0.1 > /dev/null
    sleep 1; kill -INT $pid; wait $pid || true
    row "live pcapsess -i lo, nmap -sS -p- at ≥20 k probes/s" "$(grep -m1 -o 'kernel: .*' "$tmp/live.err")" "—" "—"

    echo "7/9 live capture on a veth pair, 1 and 2 workers, rising packet rates" >&2
    go run ./tools/sensorbench -bin $bin > "$tmp/sensor.txt"
    sed 's/^/    /' "$tmp/sensor.txt" >&2
    s1=$(awk '/^best workers=1 / {print $3}' "$tmp/sensor.txt")
    s2=$(awk '/^best workers=2 / {print $3}' "$tmp/sensor.txt")
    b1=$(sed -n 's/^best workers=1 .* bound=//p' "$tmp/sensor.txt")
    b2=$(sed -n 's/^best workers=2 .* bound=//p' "$tmp/sensor.txt")
    row "live pcapsess -i veth: highest rate read whole, 0 kernel drops" "$(awk -v r=$s2 -v b="$b2" 'BEGIN{printf "2 workers: %.0f k packets/s (limit: %s)", r/1e3, b}')" \
        "$(awk -v r=$s1 -v b="$b1" 'BEGIN{printf "1 worker: %.0f k packets/s (limit: %s)", r/1e3, b}')" "$(awk -v a=$s1 -v b=$s2 'BEGIN{printf "%.2f×", b/a}')"
fi

echo "8/9 rows/s through NATS JetStream: 3 sensors → 3-node cluster → 1 and 2 central instances" >&2
go run ./tools/busbench -bin $bin -rows "${BUSROWS:-200000}" | tee "$tmp/bus.txt" >&2
fig() { grep -o "$1=[0-9]*" "$tmp/bus.txt" | cut -d= -f2; }
pubr=$(fig publish); one=$(fig one); two=$(fig two)
row "JetStream, 3 sensors → 3-node cluster (rows/s)" "$(awk -v r=$pubr 'BEGIN{printf "%.0f k/s", r/1e3}')" "—" "—"
row "JetStream → central scanalert --subscribe (rows/s)" "$(awk -v a=$one -v b=$two 'BEGIN{printf "1 instance: %.0f k/s, 2 instances: %.0f k/s", a/1e3, b/1e3}')" \
    "1 instance" "$(awk -v a=$one -v b=$two 'BEGIN{printf "2 instances: %.2f×", b/a}')"

echo "9/9 first probe → alert through JetStream, against the direct pipeline (live, ~2 min)" >&2
if [ "$(id -u)" = 0 ]; then
    go run ./tools/latencybench -bin $bin -steps 30 -rate 30/m -bus > "$tmp/lat-bus.txt" 2>/dev/null
    go run ./tools/latencybench -bin $bin -steps 30 -rate 30/m > "$tmp/lat-direct.txt" 2>/dev/null
    q() { grep -o "p$2 [0-9]* ms" "$1" | head -1 | awk '{print $2}'; }
    row "first probe → alert through JetStream (p50, p95)" "$(q "$tmp/lat-bus.txt" 50) ms, $(q "$tmp/lat-bus.txt" 95) ms" \
        "pcapsess \\| scanclass \\| scanalert: $(q "$tmp/lat-direct.txt" 50) ms, $(q "$tmp/lat-direct.txt" 95) ms" \
        "$(awk -v a=$(q "$tmp/lat-bus.txt" 95) -v b=$(q "$tmp/lat-direct.txt" 95) 'BEGIN{printf "+%.0f ms at p95", a-b}')"
fi

echo "| benchmark | scanwatch | reference (same run) | ratio |"
echo "|---|---|---|---|"
printf '%s\n' "${table[@]}"
echo
echo "$(date -u +%F), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"

# scanwatch recipes. `just --list` shows them all.
# Recipes that need system packages install them (Debian, apt-get) first.

set shell := ["bash", "-euo", "pipefail", "-c"]

version := `git describe --tags --always --dirty 2>/dev/null || echo dev`
commit := `git rev-parse --short=12 HEAD 2>/dev/null || echo unknown`
builddate := `date -u +%Y-%m-%dT%H:%M:%SZ`
ldflags := "-X scanwatch/pkg/cliutil.Version=" + version + " -X scanwatch/pkg/cliutil.Commit=" + commit + " -X scanwatch/pkg/cliutil.BuildDate=" + builddate
bin := "bin"
tools := "pcapsess scanclass scanalert scanbus csvmerge modelpick trafficgen"

# List recipes.
default:
    @just --list

# Install the Debian packages the tests and the demo use (root only; skips what is there).
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    need=()
    for p in nmap tcpdump tshark curl; do command -v "$p" >/dev/null || need+=("$p"); done
    command -v ip >/dev/null || need+=(iproute2)
    command -v systemd-analyze >/dev/null || need+=(systemd)
    if [ ${#need[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then echo "missing ${need[*]}: run as root or apt-get install ${need[*]}" >&2; exit 1; fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi

# Build tools into bin/ with their version: the six user tools by default, or those named (from cmd/ or tools/).
build *names=tools:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p {{bin}}
    for t in {{names}}; do
        d=cmd/$t; [ -d $d ] || d=tools/$t
        [ -d $d ] || { echo "just build: no cmd/$t or tools/$t" >&2; exit 1; }
        go build -ldflags "{{ldflags}}" -o {{bin}}/$t ./$d
    done

# Install the sensor service (root): pcapsess, scanclass and scanalert in PREFIX/bin, the pipeline script in PREFIX/lib/scanwatch, the unit scanwatch@.service in UNITDIR, the README in PREFIX/share/doc/scanwatch and, unless one is there, ETC/scanwatch/scanwatch.env. Then: systemctl enable --now scanwatch@IFACE.
install prefix="/usr/local" etc="/etc" unitdir="/etc/systemd/system":
    #!/usr/bin/env bash
    set -euo pipefail
    just build pcapsess scanclass scanalert
    install -d "{{prefix}}/bin" "{{prefix}}/lib/scanwatch" "{{prefix}}/share/doc/scanwatch" "{{unitdir}}" "{{etc}}/scanwatch"
    install -m 0755 {{bin}}/pcapsess {{bin}}/scanclass {{bin}}/scanalert "{{prefix}}/bin/"
    sed 's|:-/usr/local/bin}|:-{{prefix}}/bin}|' deploy/scanwatch-sensor > "{{prefix}}/lib/scanwatch/scanwatch-sensor"
    chmod 0755 "{{prefix}}/lib/scanwatch/scanwatch-sensor"
    sed -e 's|/usr/local/|{{prefix}}/|g' -e 's|/etc/scanwatch/|{{etc}}/scanwatch/|g' deploy/scanwatch@.service > "{{unitdir}}/scanwatch@.service"
    install -m 0644 README.md "{{prefix}}/share/doc/scanwatch/README.md"
    [ -e "{{etc}}/scanwatch/scanwatch.env" ] || install -m 0644 deploy/scanwatch.env "{{etc}}/scanwatch/scanwatch.env"
    if [ -d /run/systemd/system ] && [ "{{unitdir}}" = /etc/systemd/system ]; then systemctl daemon-reload; fi
    echo "installed under {{prefix}}; start a sensor with: systemctl enable --now scanwatch@IFACE"

# Run the whole test suite: vet, gofmt, staticcheck (a tool dependency in go.mod), then the tests (live tests need root, nmap and tcpdump; as root it installs them).
test:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$(id -u)" = 0 ]; then just deps; fi
    go vet ./...
    go vet -tags harvester ./...
    test -z "$(gofmt -l $(git ls-files '*.go'))" || { gofmt -l $(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
    go tool staticcheck ./...
    go tool staticcheck -tags harvester ./...
    go test -race -count=1 -timeout 30m ./...

# Benchmark pcapsess against tshark on the same synthetic capture (packets/s, RSS).
bench-pcapsess packets="3400000":
    #!/usr/bin/env bash
    set -euo pipefail
    just build >/dev/null
    command -v tshark >/dev/null || just deps
    f=$(mktemp -d)/bench.pcap
    go run ./tools/mkpcap -n {{packets}} -o "$f"
    t() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
    read ps pm < <(t {{bin}}/pcapsess -r "$f")
    read ts tm < <(t tshark -n -r "$f" -T fields -e frame.time_epoch -e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport -e tcp.flags)
    awk -v n={{packets}} -v ps=$ps -v pm=$pm -v ts=$ts -v tm=$tm 'BEGIN {
        printf "| tool | packets | seconds | packets/s | max RSS MB |\n|---|---|---|---|---|\n"
        printf "| pcapsess | %d | %.2f | %.0f | %.0f |\n", n, ps, n/ps, pm/1024
        printf "| tshark -T fields | %d | %.2f | %.0f | %.0f |\n", n, ts, n/ts, tm/1024
        printf "\npcapsess is %.0fx faster than tshark and uses %.1f%% of its memory\n", ts/ps, 100*pm/tm }'
    rm -f "$f"

# Go micro-benchmarks of every package (with SCANWATCH_HARVESTER_DATA set, also those on the predecessor's data sets).
bench-go:
    go test -run '^$' -bench . -benchmem {{ if env("SCANWATCH_HARVESTER_DATA", "") != "" { "-tags harvester" } else { "" } }} ./...

# The tests on the predecessor's (nmap-harvester's) whole data sets, which the repository does not hold: SCANWATCH_HARVESTER_DATA=/path/to/its/datasets just test-harvester
test-harvester:
    #!/usr/bin/env bash
    set -euo pipefail
    : "${SCANWATCH_HARVESTER_DATA:?set SCANWATCH_HARVESTER_DATA to the datasets folder of the harvester (holding train/ and delayed/)}"
    go test -tags harvester -count=1 -run Harvester ./...

# Flood: a 5 M-packet random-source-port SYN flood (written to a file, never sent) through pcapsess.
bench-flood packets="5000000":
    #!/usr/bin/env bash
    set -euo pipefail
    just build >/dev/null
    d=$(mktemp -d); f=$d/flood.pcap
    go run ./tools/mkpcap -flood -n {{packets}} -o "$f"
    for cap in 600000 10000; do
        /usr/bin/time -f "--max-sessions $cap: %e s, max RSS %M KB" {{bin}}/pcapsess -r "$f" --max-sessions $cap 2>&1 >/dev/null | tail -2
    done
    rm -rf "$d"

# Capture the data sets (root, ~40 min): the mixed recipe on lo, across a veth pair and across the delay line at RTT 1, 20 and 150 ms; each scenario's pcap and its ground truth into datasets/NAME (see datasets/README.md).
dataset:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$(id -u)" != 0 ]; then echo "just dataset needs root (raw nmap scans, live capture, namespaces)" >&2; exit 1; fi
    just deps
    just build pcapsess trafficgen
    gen() { name=$1; shift; {{bin}}/trafficgen dataset --recipe mixed --timing 4 --pcapsess {{bin}}/pcapsess --out datasets/$name "$@"; }
    gen lo --per-technique 600
    gen netns --network netns --netns-id 77 --per-technique 600
    gen delay-1ms --network delay --rtt 1ms --netns-id 81 --per-technique 400
    gen delay-20ms --network delay --rtt 20ms --netns-id 82 --per-technique 400
    gen delay-150ms --network delay --rtt 150ms --netns-id 83 --per-technique 300

# Put the eight netns scans on busy clients of public ordinary captures (datasets/composed; no root needed).
compose:
    #!/usr/bin/env bash
    set -euo pipefail
    just build corpus >/dev/null
    {{bin}}/corpus compose --out datasets/composed \
        public/ITI-c37118_1100_unclean=netns/alone-sS public/cisco-tls_sgt=netns/alone-sT \
        public/kholia-LDP-10-0.0-1422913321=netns/alone-sX public/seladb-PcapExamples-4KHttpRequests=netns/alone-sF \
        public/kholia-MSDP-10-0.0-1491834305=netns/alone-sN public/cisco-iec=netns/alone-sA \
        public/arkime-mqtt_big=netns/alone-sM public/cisco-quic_reordered_frames=netns/alone-sW

# Every performance figure in the README, as ratios against references run on the same inputs (root for the live part).
bench:
    bash bench/run.sh

# Rebuild models/model.txt (the embedded default): GBDT(210) on the portable features of every labelled capture in datasets/ (own and public), classes balanced (see models/README.md).
train:
    #!/usr/bin/env bash
    set -euo pipefail
    just build corpus csvmerge modelpick
    {{bin}}/corpus rows --one-way --min-scan-context 3 | {{bin}}/csvmerge --balance - \
        | {{bin}}/modelpick - --features portable --candidates 'GBDT(210)' --model 'GBDT(210)' --export models/model.txt
    go test -count=1 ./models

# The pipeline (pcapsess -r | scanclass | scanalert) over every labelled capture in datasets/, scored against the ground truth; fails on a regression against datasets/eval.json. `just eval --write` records new figures.
eval *args:
    #!/usr/bin/env bash
    set -euo pipefail
    just build pcapsess scanclass scanalert corpus >/dev/null
    {{bin}}/corpus eval --bin {{bin}} --check {{args}}

# Leave one source out: for every source of labelled captures, the default model's recipe trained on all the others, run over that one (models/README.md).
loso:
    #!/usr/bin/env bash
    set -euo pipefail
    just build pcapsess scanclass scanalert corpus csvmerge modelpick >/dev/null
    {{bin}}/corpus loso --bin {{bin}}

# New captures (just dataset, root; just compose), then a new default model (just train) and its figures (just eval --write).
retrain:
    just dataset
    just compose
    just train
    just eval --write

# Latency of live detection: first probe → alert over the scans of a paced `trafficgen mix` (root, nmap; ~2 min).
bench-latency steps="60" p="0.45" rate="30/m":
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$(id -u)" != 0 ]; then echo "just bench-latency needs root (live capture on lo, raw nmap scans)" >&2; exit 1; fi
    command -v nmap >/dev/null || just deps
    just build >/dev/null
    go run ./tools/latencybench -bin {{bin}} -steps {{steps}} -p {{p}} -rate {{rate}}

# Rows/s through NATS JetStream: 3 sensors (scanbus publish) → a 3-node cluster on 127.0.0.1 ports → 1, then 2 central scanalert --subscribe (no root).
bench-bus rows="200000":
    just build scanbus scanalert >/dev/null
    go run ./tools/busbench -bin {{bin}} -rows {{rows}}

# Latency through NATS JetStream: first probe → alert of a paced `trafficgen mix` on lo, sensor → 3-node cluster → central scanalert (root, nmap; ~1 min).
bench-latency-bus steps="30" p="0.45" rate="30/m":
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$(id -u)" != 0 ]; then echo "just bench-latency-bus needs root (live capture on lo, raw nmap scans)" >&2; exit 1; fi
    command -v nmap >/dev/null || just deps
    just build >/dev/null
    go run ./tools/latencybench -bin {{bin}} -steps {{steps}} -p {{p}} -rate {{rate}} -bus

# The harvester's detector.py, live: trafficgen mix (clients and nmap scans) on lo, watched by pcapsess -i lo | scanclass | scanalert. Run it as yourself: it builds as you and runs with sudo only the two processes that need root. Named parameters, any order: just demo port=18190 steps=600 p=0.05 rate=5/s quiet=2s model=FILE (default: the embedded model). Ctrl-C stops everything.
demo *params:
    #!/usr/bin/env bash
    # No -e: the exit statuses are collected by hand (scanalert's 3 means alerts, not failure).
    set -uo pipefail
    steps=3000 p=0.03 rate=5/s port=18080 quiet=2s model=
    for kv in {{params}}; do
        case "$kv" in
            steps=*|p=*|rate=*|port=*|quiet=*|model=*) printf -v "${kv%%=*}" '%s' "${kv#*=}" ;;
            *) echo "just demo: unknown parameter '$kv' (named, any order: steps=3000 p=0.03 rate=5/s port=18080 quiet=2s model=FILE)" >&2; exit 2 ;;
        esac
    done
    # Root is needed by two processes only: pcapsess -i lo (a raw socket; it drops to nobody
    # once open) and trafficgen mix (raw nmap scans). Everything else runs as the user, so
    # that go is found on the user's PATH (sudo's secure_path drops /usr/local/go/bin).
    if [ "$(id -u)" = 0 ]; then
        asroot=()
    elif command -v sudo >/dev/null; then
        asroot=(sudo --)
        sudo -v || { echo "demo: pcapsess -i lo and the nmap scans need root: sudo failed" >&2; exit 1; }
    else
        echo "demo: pcapsess -i lo and the nmap scans need root, and there is no sudo: run it as root" >&2; exit 1
    fi
    if command -v go >/dev/null; then
        just build >/dev/null || exit 1
    elif [ -x {{bin}}/pcapsess ] && [ -x {{bin}}/trafficgen ]; then
        echo "demo: go is not on this PATH (under sudo, secure_path drops /usr/local/go/bin): using the tools already in {{bin}}/" >&2
    else
        echo "demo: go is not on this PATH, and {{bin}}/ has no tools. Under sudo, secure_path drops /usr/local/go/bin:" >&2
        echo "      run 'just demo' as yourself (it asks sudo for what needs root), or 'sudo env PATH=\"\$PATH\" just demo'." >&2
        exit 1
    fi
    command -v nmap >/dev/null || "${asroot[@]}" just deps || exit 1
    # The mix serves HTTP on 127.0.0.1:port: a port already taken would fail minutes into the run.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        who=$(command -v ss >/dev/null && ss -Htlnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1)
        echo "demo: port $port on 127.0.0.1 is in use${who:+ ($who)}: choose another, e.g. just demo port=$((port + 110))" >&2
        exit 1
    fi
    d=$(mktemp -d /tmp/scanwatch-demo.XXXXXX)
    echo "scanwatch demo: trafficgen mix → lo → pcapsess -i lo | scanclass | scanalert    (Ctrl-C stops)"
    echo "files: $d/{truth.ndjson,alerts.json,trafficgen.log,pcapsess.log}"
    # FIFOs instead of a | pipeline, so that every process has a pid to stop and wait for.
    mkfifo "$d/rows" "$d/scored"
    "${asroot[@]}" {{bin}}/pcapsess -i lo > "$d/rows" 2> "$d/pcapsess.log" & cap=$!
    {{bin}}/scanclass ${model:+--model "$model"} < "$d/rows" > "$d/scored" & cls=$! # its one stderr line names the model
    {{bin}}/scanalert --episode-quiet "$quiet" --in-iface lo --log "$d/alerts.json" < "$d/scored" & det=$!
    # Traffic starts once pcapsess is capturing: it drops root right after opening its socket.
    # (Under sudo, $cap is sudo's pid and pcapsess its child.)
    capturer() { local c; c=$(pgrep -P "$cap" 2>/dev/null | head -1); echo "${c:-$cap}"; }
    for _ in $(seq 100); do
        uid=$(awk '/^Uid:/ {print $2}' "/proc/$(capturer)/status" 2>/dev/null)
        [ -n "$uid" ] && [ "$uid" != 0 ] && break
        sleep 0.05
    done
    "${asroot[@]}" {{bin}}/trafficgen mix --serve "$port" --steps "$steps" --p "$p" --rate "$rate" --duration 30m \
        --truth "$d/truth.ndjson" 2> "$d/trafficgen.log" & gen=$!
    alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
    interrupted=
    trap 'interrupted=1' INT TERM
    # Until Ctrl-C, the end of the mix, or a tool failing. (sleep & wait: the trap runs at once.)
    while [ -z "$interrupted" ] && alive "$gen" && alive "$cap" && kill -0 "$det" 2>/dev/null; do
        sleep 0.2 & wait $! 2>/dev/null
    done
    [ -n "$interrupted" ] || sleep 1 # the mix ended: its last sessions go idle and leave pcapsess
    # On a terminal Ctrl-C already reached every process; this covers kill -INT of the recipe alone.
    # pcapsess writes its open sessions and exits: the end of input flows down to scanalert.
    # (sudo passes SIGINT on to its child.)
    "${asroot[@]}" kill -INT "$gen" "$cap" 2>/dev/null
    for _ in $(seq 100); do alive "$cap" "$cls" "$det" "$gen" || break; sleep 0.1; done
    if alive "$cap" "$cls" "$det" "$gen"; then
        echo "demo: still running 10 s after SIGINT: killing" >&2
        "${asroot[@]}" kill -KILL "$cap" "$gen" 2>/dev/null
        kill -KILL "$cls" "$det" 2>/dev/null
    fi
    wait "$gen"; gst=$?
    wait "$cap"; wait "$cls"
    wait "$det"; st=$?
    scans=$(grep -c '"kind":"scan"' "$d/truth.ndjson" 2>/dev/null)
    starts=$(grep -c '"state":"start"' "$d/alerts.json" 2>/dev/null)
    sources=$(grep '"kind":"scan"' "$d/truth.ndjson" 2>/dev/null | grep -o '"source":"[^"]*"' | cut -d'"' -f4 | sort -u | paste -sd, -)
    echo "demo: ${scans:-0} scans sent (ground truth $d/truth.ndjson), ${starts:-0} alerts raised ($d/alerts.json)"
    if [ "${scans:-0}" -gt "${starts:-0}" ] && [ "${starts:-0}" -gt 0 ]; then
        echo "      Fewer alerts than scans is by design: the mix's scans all come from ${sources:-one address}, and scans from"
        echo "      one address less than --episode-quiet ($quiet) apart are one episode, one alert; its end record names"
        echo "      every technique it saw. A slower mix (rate=20/m: a step every 3 s) gives most scans their own."
        echo "      The alerts, and the scans that started up to each one's last anomaly:"
        # Scan starts and alert ends to the second (ISO, so they sort as text).
        grep '"kind":"scan"' "$d/truth.ndjson" | grep -o '"start":"[^"]*"' | cut -c10-28 > "$d/.scan-starts"
        grep '"state":"end"' "$d/alerts.json" | while read -r rec; do
            sig=$(grep -o '"signature":"scanwatch: [^"]*"' <<<"$rec" | cut -d'"' -f4); sig=${sig#scanwatch: }
            last=$(grep -o '"last":"[^"]*"' <<<"$rec" | cut -c9-27)
            n=$(awk -v prev="${prev:-}" -v last="$last" '$0 > prev && $0 <= last' "$d/.scan-starts" | wc -l)
            echo "        $sig, $(grep -o '"port_count":[0-9]*' <<<"$rec" | cut -d: -f2) ports: $n scan$([ "$n" = 1 ] || echo s)"
            prev=$last
        done
    fi
    tail -1 "$d/trafficgen.log"
    case $st in
        0|3) ;;
        *) echo "demo: scanalert failed (exit $st)" >&2; exit 1 ;;
    esac
    if [ -z "$interrupted" ] && [ "$gst" != 0 ]; then echo "demo: trafficgen mix failed (exit $gst), see $d/trafficgen.log" >&2; exit 1; fi

# Run every fuzz target for FUZZTIME each: a count of inputs (default
# 100000x) or a duration (30s). A count, because Go 1.26's fuzz coordinator
# can fail a target with "context deadline exceeded" when a duration ends
# while a worker is busy (golang/go#75804, fixed in Go 1.27): a flake that
# found nothing.
fuzz fuzztime="100000x":
    #!/usr/bin/env bash
    set -euo pipefail
    for t in pkg/row:FuzzReader pkg/row:FuzzCSVScanner pkg/session:FuzzPacket pkg/session:FuzzCapture \
             pkg/session:FuzzFastPathAgrees pkg/infer:FuzzLoadLightGBM pkg/alert:FuzzDetector; do
        pkg=${t%%:*}; fn=${t##*:}
        echo "fuzz $fn ({{fuzztime}})"
        go test -run '^$' -fuzz "^$fn\$" -fuzztime {{fuzztime}} ./$pkg > /tmp/fuzz-$fn.log 2>&1 || { tail -20 /tmp/fuzz-$fn.log; exit 1; }
    done

#!/bin/sh
# Records testdata/mixed.pcap.gz: normal HTTP clients and five nmap scans,
# all on loopback (127.0.0.0/8 only), about 20 s, bounded in count and time.
# Ground truth is the initiator address:
#   127.0.0.5, 127.0.0.6  normal: curl GETs to a local http.server (port 8081)
#   127.0.0.1  nmap -sT -p 1-200        (connect() cannot spoof its source)
#   127.0.0.2  nmap -sS -p 1-300        (raw, -S spoofs the source on lo)
#   127.0.0.3  nmap -sF -p 1-100        } at the same time: two scanners
#   127.0.0.4  nmap -sX -p 1-100        }
#   127.0.0.7  nmap -sN -p 8070-8100 --scan-delay 200ms   (slow)
# Needs root, nmap, tcpdump, curl, python3.
set -eu
out=${1:-mixed.pcap}
python3 -m http.server 8081 --bind 127.0.0.1 >/dev/null 2>&1 & web=$!
tcpdump -i lo -U -w "$out" 'tcp and net 127.0.0.0/8 and not port 2024' >/dev/null 2>&1 & dump=$!
trap 'kill $web $dump 2>/dev/null' EXIT
sleep 1
client() { # address, pause, count
	i=0; while [ $i -lt "$3" ]; do
		timeout 2 curl -s -o /dev/null --interface "$1" http://127.0.0.1:8081/ || true
		sleep "$2"; i=$((i+1)); done
}
client 127.0.0.5 0.1 150 & c1=$!
client 127.0.0.6 0.3 55 & c2=$!
n() { timeout 60 nmap -n -Pn --max-retries 0 "$@" 127.0.0.1 >/dev/null; }
sleep 2; n -sS -S 127.0.0.2 -e lo -p 1-300
sleep 2; n -sT -p 1-200
sleep 2; n -sF -S 127.0.0.3 -e lo -p 1-100 & f=$!
         n -sX -S 127.0.0.4 -e lo -p 1-100; wait $f
sleep 2; n -sN -S 127.0.0.7 -e lo -p 8070-8100 --scan-delay 200ms
wait $c1 $c2
sleep 1

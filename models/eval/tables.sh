#!/usr/bin/env bash
# Tables 1, 2 and 4 of models/README.md: GBDT(210) per feature set, trained
# on one network and scored on the other (modelpick --holdout), plus the
# slow sets. Run from the repository root after `just build`. No root needed.
set -euo pipefail
LO=datasets/train/merged.csv; NS=datasets/netns/merged.csv
DL=datasets/delayed/merged.csv; NSD=datasets/netns/delayed/merged.csv
PORTABLE=SYN,ACK,FIN,RST,URG,PSH,packets,src_packets,dst_packets,src_bytes,dst_bytes,init_options_len,init_df,fanout,fanout_failed
C='GBDT(210)'
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bin/csvmerge $LO $DL > "$tmp/shipped.csv"
cv() { grep -F "$C " | head -1 | awk '{printf "%s | %s | %s", $2, $5, $11}'; }
ho() { grep -F "$C " | tail -1 | awk '{printf "%s | %s | %s | %s/%s", $2, $3, $5, $12, $13}'; }
echo "Table 1: features | trained on | CV acc | MCC | recall | other-net acc | MCC | recall | FN/FP | lo slow set acc | MCC | recall | FN/FP"
for fs in seed extended portable; do
  f=$fs; [ $fs = portable ] && f=$PORTABLE
  for dir in lo netns; do
    if [ $dir = lo ]; then tr=$LO; ot=$NS; else tr=$NS; ot=$LO; fi
    a=$(bin/modelpick $tr --features "$f" --candidates "$C" --holdout $ot 2>&1)
    b=$(bin/modelpick $tr --features "$f" --candidates "$C" --folds 2 --holdout $DL 2>&1)
    echo "| $fs | $dir | $(echo "$a" | cv) | $(echo "$a" | ho) | $(echo "$b" | ho) |"
  done
done
echo
echo "Table 2: features | CV acc | MCC | recall | netns acc | MCC | recall | FN/FP | netns-slow acc | MCC | recall | FN/FP"
for fs in seed extended portable; do
  f=$fs; [ $fs = portable ] && f=$PORTABLE
  a=$(bin/modelpick "$tmp/shipped.csv" --features "$f" --candidates "$C" --holdout $NS 2>&1)
  b=$(bin/modelpick "$tmp/shipped.csv" --features "$f" --candidates "$C" --folds 2 --holdout $NSD 2>&1)
  echo "| $fs | $(echo "$a" | cv) | $(echo "$a" | ho) | $(echo "$b" | ho) |"
done
echo
echo "Table 4 (shipped model): caught per technique in $NSD (lines from its manifest), normal rows flagged"
bin/scanclass < datasets/netns/delayed/bad.csv | awk -F, 'NR>1{k=(NR<=41)?"sT":(NR<=81)?"sS":(NR<=121)?"sF":(NR<=161)?"sN":"sX"; n[k]++; c[k]+=$NF} END{for(k in n) printf "%s %d/%d  ", k, c[k], n[k]; print ""}'
bin/scanclass < datasets/netns/delayed/good.csv | awk -F, 'NR>1{n++; f+=$NF} END{printf "normal flagged %d/%d\n", f, n}'

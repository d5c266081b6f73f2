#!/usr/bin/env bash
# How cost grows with subscribers per topic and with connections: bench/compare.sh's fanout-q0 (1 publisher at
# 1,000 msg/s to N subscribers of one topic) for N = 10, 100, 1000, and conn-idle for 1,000, 5,000 and 15,000
# connections (conn-idle-Nk), Starling and Mosquitto alternating. Environment as for compare.sh (BENCH_SECONDS, ...).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for n in 10 100 1000; do
  echo "## fanout-q0 with $n subscribers"
  BENCH_FANOUT=$n "$HERE/compare.sh" fanout-q0 | grep '^|'
done
for n in 1 5 15; do
  echo "## conn-idle with ${n},000 connections"
  "$HERE/compare.sh" "conn-idle-${n}k" | grep '^|'
done

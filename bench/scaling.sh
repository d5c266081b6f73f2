#!/usr/bin/env bash
# How cost grows with subscribers per topic and with connections: bench/compare.sh's fanout-q0 (1 publisher at
# 1,000 msg/s to N subscribers of one topic) for N = 10, 100, 1000, and conn-idle for 1,000, 5,000 and 15,000
# connections, Starling and Mosquitto alternating. Environment as for compare.sh (BENCH_SECONDS, BENCH_ROUNDS, ...).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for n in 10 100 1000; do
  echo "## fanout-q0 with $n subscribers"
  BENCH_FANOUT=$n "$HERE/compare.sh" fanout-q0 | grep '^|'
done
for n in 1000 5000 15000; do
  echo "## conn-idle with $n connections"
  BENCH_CONN=$n "$HERE/compare.sh" conn-idle | grep '^|'
done

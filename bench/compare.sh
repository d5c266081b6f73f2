#!/usr/bin/env bash
# Starling vs Mosquitto with `starling bench`, on the scenarios of the independent harness (../shared/perf, mqload),
# run the way it runs them, so that the two harnesses can be compared figure by figure (docs/performance.md).
#
# Usage: bench/compare.sh [SCENARIO ...]      (default: all)
# Scenarios: fanin-q0 fanin-q1 pairs-q1 fanout-q0 q2 lat-q1 conn-idle conn-idle-18k (conn-idle-<N>k: N thousand)
# Environment:
#   BENCH_SECONDS    measured window per run, seconds (default 10)
#   BENCH_WARMUP     seconds from the first delivery to the window (default 4)
#   BENCH_ROUNDS     rounds of (Starling, Mosquitto), alternating (default 3)
#   BENCH_BROKERS    which brokers, in order (default "starling mosquitto")
#   BENCH_GEN_PROCS  generator processes per side (default 1). 2 splits the publishers (and the subscribers, where
#                    there are several) over two processes each: if the rate does not move, the generator is not the
#                    bottleneck.
#   BENCH_FANOUT     subscribers of fanout-q0 (default 1000, the reference's; bench/scaling.sh varies it)
#   BENCH_ARTIFACTS  build output folder (default /tmp/art-bench)
#   BENCH_OUT        folder for logs, per-run JSON and results.tsv (default: a new temporary folder)
#   BENCH_NO_BUILD=1 use the build already in BENCH_ARTIFACTS
# Brokers, as ../shared/perf/README.md runs them: Mosquitto 2.0.11 from bench/mosquitto.conf (the reference's settings:
# port 18841, persistence off, max_queued_messages 1000000, packaged defaults otherwise: max_inflight_messages 20,
# Nagle on); Starling as `starling-server.dll -p 18850 --bind 127.0.0.1 --data-dir DIR` (its default SQLite store
# in a fresh scratch folder per run, default limits and logging).
# Prints one table of medians: delivered msg/s (or latency, connect rate, RSS per connection), broker CPU and the
# generator's own CPU in the window (utime+stime from /proc/PID/stat of every process of the side).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ART="${BENCH_ARTIFACTS:-/tmp/art-bench}"
MEASURE="${BENCH_SECONDS:-10}"
WARMUP="${BENCH_WARMUP:-4}"
ROUNDS="${BENCH_ROUNDS:-3}"
BROKERS="${BENCH_BROKERS:-starling mosquitto}"
PROCS="${BENCH_GEN_PROCS:-1}"
OUT="${BENCH_OUT:-$(mktemp -d /tmp/starling-compare.XXXXXX)}"
MOSQUITTO="${MOSQUITTO:-/usr/sbin/mosquitto}"
mkdir -p "$OUT"
ALL="fanin-q0 fanin-q1 pairs-q1 fanout-q0 q2 lat-q1 conn-idle conn-idle-18k"
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && read -r -a SCENARIOS <<<"$ALL"
for s in "${SCENARIOS[@]}"; do
  [[ " $ALL " == *" $s "* || "$s" =~ ^conn-idle-[0-9]+k$ ]] || { echo "unknown scenario '$s' (known: $ALL)" >&2; exit 2; }
done
[ -x "$MOSQUITTO" ] || [[ " $BROKERS " != *" mosquitto "* ]] || { echo "$MOSQUITTO not found (apt-get install mosquitto)" >&2; exit 2; }

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  echo "building (Release, $ART) ..." >&2
  for p in Starling.Server Starling.Cli; do
    dotnet build "$ROOT/src/$p" -c Release --artifacts-path "$ART" -v q -nologo >>"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
  done
fi
SERVER="$ART/bin/Starling.Server/release/starling-server.dll"
CLI="$ART/bin/Starling.Cli/release/starling.dll"
HZ="$(getconf CLK_TCK)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
ticks() { [ -r "/proc/$1/stat" ] && awk '{sub(/^.*\) /,""); print $12+$13}' "/proc/$1/stat" 2>/dev/null || echo 0; }
sum_ticks() { local s=0 p; for p in "$@"; do s=$((s + $(ticks "$p"))); done; echo "$s"; }
secs() { awk -v t="$1" -v hz="$HZ" 'BEGIN{printf "%.2f", t/hz}'; }
sleep_until() { local d; d=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN{d=t-n; if(d<0)d=0; printf "%.3f", d}'); sleep "$d"; }

BROKER_PID="" PORT=""
start_broker() { # kind log; the port must be free, or another process would be measured
  if (exec 3<>"/dev/tcp/127.0.0.1/$([ "$1" = mosquitto ] && echo 18841 || echo 18850)") 2>/dev/null; then
    echo "port of $1 is in use: stop what listens there first" >&2; return 1
  fi
  if [ "$1" = mosquitto ]; then
    PORT=18841
    "$MOSQUITTO" -c "$ROOT/bench/mosquitto.conf" >"$2" 2>&1 &
  else
    PORT=18850
    rm -rf "$OUT/starling-data" && mkdir -p "$OUT/starling-data"
    dotnet "$SERVER" -p "$PORT" --bind 127.0.0.1 --data-dir "$OUT/starling-data" >"$2" 2>&1 &
  fi
  BROKER_PID=$!
  wait_for_port "$PORT" && kill -0 "$BROKER_PID" 2>/dev/null || { echo "$1 did not start on port $PORT:" >&2; cat "$2" >&2; return 1; }
  sleep 1 # as the reference: let the runtime settle before the baseline RSS
}
stop_broker() { [ -n "$BROKER_PID" ] || return 0; kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; BROKER_PID=""; }
trap stop_broker EXIT # never leave a broker holding the port

bench() { exec dotnet "$CLI" bench "$@"; } # exec: $! of `bench ... &` is the generator itself (CPU from /proc)

# The reference's scenario table (payload 64 B, bench.sh), as `sub ARGS|pub ARGS` for `starling bench`: same clients,
# topics, QoS, in-flight window, fixed rates, and the same --batch-us 200 where the reference batches (not lat-q1).
scenario_args() {
  case "$1" in
    fanin-q0)  echo "-c 1 -t bench/# -q 0 --batch-us 200|-c 50 -t bench/%i -q 0 --max-rate" ;;
    fanin-q1)  echo "-c 1 -t bench/# -q 1 --batch-us 200|-c 50 -t bench/%i -q 1 --max-rate --inflight 10 --batch-us 200" ;;
    pairs-q1)  echo "-c 100 -t bench/%i -q 1 --batch-us 200|-c 100 -t bench/%i -q 1 --max-rate --inflight 10 --batch-us 200" ;;
    fanout-q0) echo "-c 1000 -t bench/fan -q 0 --batch-us 200|-c 1 -t bench/fan -q 0 -I 1" ;;
    q2)        echo "-c 10 -t bench/%i -q 2 --batch-us 200|-c 10 -t bench/%i -q 2 --max-rate --inflight 10 --batch-us 200" ;;
    lat-q1)    echo "-c 10 -t bench/%i -q 1|-c 10 -t bench/%i -q 1 -I 2" ;;
  esac
}

# split COUNT ARGS -> "-c N --first-index K" for process K of PROCS (clients 0..COUNT-1 spread evenly)
part() { local n=$1 k=$2 per; per=$(( (n + PROCS - 1) / PROCS )); local from=$((k * per)); local c=$(( n - from < per ? n - from : per )); echo "$c $from"; }

run_pub_sub() { # scenario kind tag -> "rate p50 p99 genCpu sent"
  local scenario=$1 tag=$3 args sub_args pub_args subs=() pubs=() files=() k
  args="$(scenario_args "$scenario")"; sub_args="${args%%|*}"; pub_args="${args#*|}"
  [ "$scenario" = fanout-q0 ] && [ -n "${BENCH_FANOUT:-}" ] && sub_args="${sub_args/#-c 1000/-c $BENCH_FANOUT}" # bench/scaling.sh
  local nsub npub; nsub=$(sed -E 's/^-c ([0-9]+).*/\1/' <<<"$sub_args"); npub=$(sed -E 's/^-c ([0-9]+).*/\1/' <<<"$pub_args")
  local sprocs=$PROCS; [ "$nsub" -lt "$PROCS" ] && sprocs=1
  for ((k = 0; k < sprocs; k++)); do
    read -r c from <<<"$(PROCS=$sprocs part "$nsub" "$k")"
    rm -f "$OUT/$tag.ready$k" "$OUT/$tag.window$k"
    # shellcheck disable=SC2086
    bench sub -h 127.0.0.1 -p "$PORT" ${sub_args/#-c $nsub/-c $c} --first-index "$from" --prefix "s$k" -k 300 \
      --warmup "$WARMUP" --duration "$MEASURE" --ready-file "$OUT/$tag.ready$k" --window-file "$OUT/$tag.window$k" \
      --json "$OUT/$tag.sub$k.json" >"$OUT/$tag.sub$k.txt" 2>&1 &
    subs+=($!); files+=("$OUT/$tag.sub$k.json")
  done
  for ((k = 0; k < sprocs; k++)); do
    for _ in $(seq 1 900); do [ -f "$OUT/$tag.ready$k" ] && break; sleep 0.1; done
  done
  for ((k = 0; k < PROCS && k < npub; k++)); do
    read -r c from <<<"$(part "$npub" "$k")"
    # shellcheck disable=SC2086
    bench pub -h 127.0.0.1 -p "$PORT" ${pub_args/#-c $npub/-c $c} --first-index "$from" --prefix "p$k" -k 300 \
      --duration "$(awk -v w="$WARMUP" -v m="$MEASURE" 'BEGIN{print w+m+3}')" \
      --json "$OUT/$tag.pub$k.json" >"$OUT/$tag.pub$k.txt" 2>&1 &
    pubs+=($!)
  done
  for _ in $(seq 1 300); do [ -s "$OUT/$tag.window0" ] && break; sleep 0.1; done
  local from to b0 b1 g0 g1
  if [ -s "$OUT/$tag.window0" ]; then
    read -r from to <"$OUT/$tag.window0"
    sleep_until "$from"; b0=$(ticks "$BROKER_PID"); local gp0; gp0=$(sum_ticks "${pubs[@]}")
    sleep_until "$to"; b1=$(ticks "$BROKER_PID"); g1=$(sum_ticks "${pubs[@]}")
    g0=$gp0 # subscribers exit at the window's end: they report their own window CPU (JSON), added below
  else
    b0=0 b1=0 g0=0 g1=0
  fi
  for p in "${pubs[@]}" "${subs[@]}"; do wait "$p" || true; done
  python3 - "${files[@]}" <<'PY'
import json, sys
rate = p50 = p99 = cpu = 0
for f in sys.argv[1:]:
    try:
        d = json.load(open(f))
    except (OSError, ValueError):
        continue
    rate += d["rate"]
    p50 = max(p50, d["latencyUs"]["p50"]); p99 = max(p99, d["latencyUs"]["p99"]); cpu += d["generatorCpuSeconds"]
print(f"{rate:.1f} {p50} {p99} {cpu:.2f}")
PY
  echo "$(secs $((b1 - b0))) $(secs $((g1 - g0)))"
}

run_conn() { # n tag -> "connectRate rssPerConnKiB genCpu"
  local n=$1 tag=$2
  # In the background and waited for: bench() execs, which must not replace this shell.
  bench conn -h 127.0.0.1 -p "$PORT" -c "$n" -k 600 --ifaddr 127.0.0.2-127.0.0.9 --concurrency 64 --duration 1 \
    --broker-pid "$BROKER_PID" --json "$OUT/$tag.conn.json" >"$OUT/$tag.conn.txt" 2>&1 &
  wait $! || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["connectRate"], d["brokerRssPerConnectionKiB"], d["generatorCpuSeconds"], d["connected"])' "$OUT/$tag.conn.json" 2>/dev/null || echo "0 0 0 0"
}

echo "scenarios: ${SCENARIOS[*]}; brokers: $BROKERS; warmup ${WARMUP}s, window ${MEASURE}s, rounds $ROUNDS, generator processes $PROCS; output in $OUT" >&2
RESULTS="$OUT/results.tsv"
printf 'scenario\tbroker\tround\trate\tp50_us\tp99_us\tbroker_cpu_win_s\tgen_cpu_win_s\tconnect_rate\trss_per_conn_kib\tconnected\n' >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
  for scenario in "${SCENARIOS[@]}"; do
    for kind in $BROKERS; do
      tag="$scenario-$kind-$round"
      start_broker "$kind" "$OUT/$tag.broker.log"
      if [[ "$scenario" == conn-idle* ]]; then
        n=10000; [[ "$scenario" =~ ^conn-idle-([0-9]+)k$ ]] && n=$((BASH_REMATCH[1] * 1000))
        read -r crate rss gcpu connected < <(run_conn "$n" "$tag")
        printf '%s\t%s\t%s\t-\t-\t-\t-\t%s\t%s\t%s\t%s\n' "$scenario" "$kind" "$round" "$gcpu" "$crate" "$rss" "$connected" >>"$RESULTS"
      else
        { read -r rate p50 p99 scpu; read -r bcpu pcpu; } < <(run_pub_sub "$scenario" "$kind" "$tag")
        gcpu=$(awk -v a="$scpu" -v b="$pcpu" 'BEGIN{printf "%.2f", a+b}')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t-\t-\n' "$scenario" "$kind" "$round" "$rate" "$p50" "$p99" "$bcpu" "$gcpu" >>"$RESULTS"
      fi
      stop_broker
      echo "  $tag: $(tail -1 "$RESULTS" | cut -f4-)" >&2
      sleep 2 # let TIME_WAIT and memory settle between brokers
    done
  done
done
python3 "$ROOT/bench/summarize.py" "$RESULTS"

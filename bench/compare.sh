#!/usr/bin/env bash
# Starling vs Mosquitto on the same scenarios, alternating A B A B on this machine, with `starling bench`.
#
# Usage: bench/compare.sh [SCENARIO ...]      (default: all)
# Scenarios: fanin-q0 fanin-q1 pairs-q1 fanout-q0 q2 lat-q1 conn-idle
# Environment:
#   BENCH_SECONDS   measured window per run, seconds (default 15; e.g. 3 for a smoke run)
#   BENCH_WARMUP    warmup before the window, seconds (default 2)
#   BENCH_ROUNDS    rounds of (Starling, Mosquitto) (default 3)
#   BENCH_CONN      connections of conn-idle (default 15000; keep under ~18000: 20000 open files per process)
#   BENCH_FANOUT    subscribers of fanout-q0 (default 1000)
#   BENCH_ARTIFACTS build output folder (default /tmp/art-bench)
#   BENCH_OUT       folder for configs, logs and per-run JSON (default: a new temporary folder)
# Prints one table: medians per broker, the Starling/Mosquitto ratio, and broker CPU microseconds per delivered
# message (utime+stime from /proc/PID/stat over the whole run, divided by the messages the subscribers counted).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ART="${BENCH_ARTIFACTS:-/tmp/art-bench}"
SECONDS_WINDOW="${BENCH_SECONDS:-15}"
WARMUP="${BENCH_WARMUP:-2}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNS="${BENCH_CONN:-15000}"
FANOUT="${BENCH_FANOUT:-1000}"
OUT="${BENCH_OUT:-$(mktemp -d /tmp/starling-compare.XXXXXX)}"
mkdir -p "$OUT"
ALL=(fanin-q0 fanin-q1 pairs-q1 fanout-q0 q2 lat-q1 conn-idle)
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=("${ALL[@]}")
for s in "${SCENARIOS[@]}"; do
  [[ " ${ALL[*]} " == *" $s "* ]] || { echo "unknown scenario '$s' (known: ${ALL[*]})" >&2; exit 2; }
done
command -v mosquitto >/dev/null || { echo "mosquitto is not installed (apt-get install mosquitto)" >&2; exit 2; }

echo "building (Release, $ART) ..." >&2
dotnet build "$ROOT/src/Starling.Server" -c Release --artifacts-path "$ART" -v q -nologo >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
dotnet build "$ROOT/src/Starling.Cli" -c Release --artifacts-path "$ART" -v q -nologo >>"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
SERVER="$ART/bin/Starling.Server/release/starling-server.dll"
CLI="$ART/bin/Starling.Cli/release/starling.dll"
CLK_TCK="$(getconf CLK_TCK)"
QUEUE=10000   # max queued messages per client, both brokers

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

BROKER_PID=""
start_broker() { # kind port log
  local kind=$1 port=$2 log=$3
  if [ "$kind" = mosquitto ]; then
    cat >"$OUT/mosquitto-$port.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages $QUEUE
max_inflight_messages 20
max_connections -1
set_tcp_nodelay true
log_type error
log_type warning
CONF
    mosquitto -c "$OUT/mosquitto-$port.conf" >"$log" 2>&1 &
  else
    STARLING_Logging__LogLevel__Default=Warning STARLING_Logging__LogLevel__Starling=Warning \
    STARLING_Limits__MaxQueuedMessages=$QUEUE STARLING_Limits__MaxInflightMessages=20 \
      dotnet "$SERVER" -p "$port" --memory >"$log" 2>&1 &
  fi
  BROKER_PID=$!
  wait_for_port "$port" && return 0
  echo "$kind did not start on port $port:" >&2; cat "$log" >&2; return 1
}
stop_broker() {
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
}

bench() { dotnet "$CLI" bench "$@"; }

# run_pub_sub PORT TAG "SUB ARGS" "PUB ARGS": subscribers first (ready file), then publishers; both write JSON.
run_pub_sub() {
  local port=$1 tag=$2 sub_args=$3 pub_args=$4
  rm -f "$OUT/$tag.ready"
  # shellcheck disable=SC2086
  bench sub -p "$port" $sub_args --warmup "$WARMUP" --duration "$SECONDS_WINDOW" --ready-file "$OUT/$tag.ready" \
    --json "$OUT/$tag.sub.json" >"$OUT/$tag.sub.txt" 2>&1 &
  local sub=$!
  for _ in $(seq 1 600); do [ -f "$OUT/$tag.ready" ] && break; sleep 0.1; done
  # Publishers run a little longer than the subscribers' window (which opens after their first delivery).
  # shellcheck disable=SC2086
  bench pub -p "$port" $pub_args --warmup "$WARMUP" --duration "$(python3 -c "print($SECONDS_WINDOW + 1)")" \
    --json "$OUT/$tag.pub.json" >"$OUT/$tag.pub.txt" 2>&1 || true
  wait "$sub" || true
}

run_one() { # scenario broker round
  local scenario=$1 kind=$2 round=$3 port tag cpu0 cpu1
  port="$(free_port)"
  tag="$scenario-$kind-$round"
  start_broker "$kind" "$port" "$OUT/$tag.broker.log"
  cpu0="$(cpu_ticks "$BROKER_PID")"
  case "$scenario" in
    fanin-q0)  run_pub_sub "$port" "$tag" "-c 1 -t bench/# -q 0" "-c 50 -t bench/%i -q 0 --max-rate" ;;
    fanin-q1)  run_pub_sub "$port" "$tag" "-c 1 -t bench/# -q 1" "-c 50 -t bench/%i -q 1 --max-rate --inflight 10" ;;
    pairs-q1)  run_pub_sub "$port" "$tag" "-c 100 -t bench/pair/%i -q 1" "-c 100 -t bench/pair/%i -q 1 --max-rate --inflight 10" ;;
    fanout-q0) run_pub_sub "$port" "$tag" "-c $FANOUT -t bench/fanout -q 0" "-c 1 -t bench/fanout -q 0 -I 1" ;;
    q2)        run_pub_sub "$port" "$tag" "-c 10 -t bench/q2/%i -q 2" "-c 10 -t bench/q2/%i -q 2 --max-rate --inflight 10" ;;
    lat-q1)    run_pub_sub "$port" "$tag" "-c 10 -t bench/lat/%i -q 1" "-c 10 -t bench/lat/%i -q 1 -I 2" ;;
    conn-idle) bench conn -p "$port" -c "$CONNS" -k 600 --rate 3000 --duration 3 --broker-pid "$BROKER_PID" \
                 --json "$OUT/$tag.conn.json" >"$OUT/$tag.conn.txt" 2>&1 || true ;;
  esac
  cpu1="$(cpu_ticks "$BROKER_PID")"
  stop_broker
  echo "$scenario $kind $round $(( cpu1 - cpu0 ))" >>"$OUT/cpu.txt"
  echo "  $tag done" >&2
}

echo "scenarios: ${SCENARIOS[*]}; window ${SECONDS_WINDOW}s, warmup ${WARMUP}s, rounds $ROUNDS; output in $OUT" >&2
: >"$OUT/cpu.txt"
for scenario in "${SCENARIOS[@]}"; do
  for round in $(seq 1 "$ROUNDS"); do
    run_one "$scenario" starling "$round"
    run_one "$scenario" mosquitto "$round"
  done
done

python3 - "$OUT" "$CLK_TCK" "${SCENARIOS[@]}" <<'PY'
import json, os, statistics, sys
out, clk, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
cpu = {}
for line in open(os.path.join(out, "cpu.txt")):
    s, k, r, t = line.split()
    cpu[(s, k, r)] = int(t) / clk

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def runs(s, k):
    rs = sorted({r for (s2, k2, r) in cpu if s2 == s and k2 == k}, key=int)
    for r in rs:
        tag = os.path.join(out, f"{s}-{k}-{r}")
        yield r, load(tag + ".sub.json"), load(tag + ".pub.json"), load(tag + ".conn.json"), cpu[(s, k, r)]

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def metrics(s, k):
    m = {}
    for r, sub, pub, conn, secs in runs(s, k):
        if s == "conn-idle":
            vals = {"connect rate (conn/s)": conn and conn["connectRate"],
                    "broker KiB per connection": conn and conn["brokerRssPerConnectionKiB"],
                    "connected": conn and conn["connected"]}
            cpu_per = None
        else:
            vals = {"delivered msg/s": sub and sub["rate"], "published msg/s": pub and pub["rate"]}
            if s == "lat-q1":
                vals = {"latency p50 ms": sub and sub["latencyUs"]["p50"] / 1000, "latency p99 ms": sub and sub["latencyUs"]["p99"] / 1000,
                        "delivered msg/s": sub and sub["rate"]}
            delivered = sub and sub["totalReceived"]
            published = pub and pub["totalSent"]
            cpu_per = secs * 1e6 / delivered if delivered else None
            vals["broker CPU us/published msg"] = secs * 1e6 / published if published else None
        vals["broker CPU us/delivered msg"] = cpu_per
        for key, v in vals.items():
            m.setdefault(key, []).append(v)
    return {key: (med(v), v) for key, v in m.items()}

def fmt(x):
    if x is None: return "n/a"
    if abs(x) >= 100: return f"{x:,.0f}"
    return f"{x:.3g}"

print()
print(f"| scenario | metric | Starling (median) | Mosquitto (median) | Starling/Mosquitto | runs S / M |")
print(f"|---|---|---:|---:|---:|---|")
for s in scenarios:
    ms, mm = metrics(s, "starling"), metrics(s, "mosquitto")
    for key in ms:
        a, b = ms[key][0], mm.get(key, (None, []))[0]
        ratio = f"{a / b:.2f}" if a is not None and b else "n/a"
        print(f"| {s} | {key} | {fmt(a)} | {fmt(b)} | {ratio} | {' '.join(fmt(v) for v in ms[key][1])} / {' '.join(fmt(v) for v in mm.get(key, (None, []))[1])} |")
PY

#!/usr/bin/env bash
# Throughput with Mosquitto's own clients: `mosquitto_pub -l` pipes N lines at QoS Q to `mosquitto_sub -C N`, against
# Starling and against Mosquitto on the same machine, alternating, fresh broker per run. Prints the wall time from
# the first line written to the last line received, msg/s per run, medians and the Starling/Mosquitto ratio.
#
# Usage: bench/mosquitto-clients.sh            (defaults: 100,000 messages, QoS 1, 3 rounds, MQTT 3.1.1)
# Environment: COUNT, QOS, ROUNDS, VERSION (mqttv31 | mqttv311 | mqttv5), BENCH_ARTIFACTS (default /tmp/art-bench)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ART="${BENCH_ARTIFACTS:-/tmp/art-bench}"
COUNT="${COUNT:-100000}"
QOS="${QOS:-1}"
ROUNDS="${ROUNDS:-3}"
VERSION="${VERSION:-mqttv311}"
OUT="$(mktemp -d /tmp/starling-publ.XXXXXX)"
command -v mosquitto >/dev/null || { echo "mosquitto is not installed (apt-get install mosquitto mosquitto-clients)" >&2; exit 2; }

echo "building (Release, $ART) ..." >&2
dotnet build "$ROOT/src/Starling.Server" -c Release --artifacts-path "$ART" -v q -nologo >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
SERVER="$ART/bin/Starling.Server/release/starling-server.dll"
seq 1 "$COUNT" >"$OUT/lines.txt"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

run() { # kind round -> prints msg/s
  local kind=$1 round=$2 port pid
  port="$(free_port)"
  if [ "$kind" = mosquitto ]; then
    # Both brokers queue up to COUNT messages for the subscriber, so the test measures delivery, not the drop policy.
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages %s\n' "$port" "$COUNT" >"$OUT/m.conf"
    mosquitto -c "$OUT/m.conf" >"$OUT/$kind-$round.log" 2>&1 &
  else
    STARLING_Logging__LogLevel__Default=Warning STARLING_Limits__MaxQueuedMessages="$COUNT" \
      dotnet "$SERVER" -p "$port" --memory >"$OUT/$kind-$round.log" 2>&1 &
  fi
  pid=$!
  wait_for_port "$port" || { echo "$kind did not start on port $port" >&2; cat "$OUT/$kind-$round.log" >&2; exit 1; }
  mosquitto_sub -p "$port" -V "$VERSION" -q "$QOS" -t bench/lines -C "$COUNT" -W 120 -i "sub-$round" >"$OUT/received.txt" &
  local sub=$!
  # mosquitto_sub has no "subscribed" signal: give it a moment (a late subscription shows as "received X of N").
  sleep 0.5
  local t0 t1
  t0=$(date +%s.%N)
  mosquitto_pub -p "$port" -V "$VERSION" -q "$QOS" -t bench/lines -l -i "pub-$round" <"$OUT/lines.txt"
  wait "$sub" || true
  t1=$(date +%s.%N)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local got
  got=$(wc -l <"$OUT/received.txt")
  [ "$got" = "$COUNT" ] || echo "  $kind round $round: received $got of $COUNT" >&2
  python3 -c "print(f'{$COUNT / ($t1 - $t0):.0f}')"
}

declare -a S M
for r in $(seq 1 "$ROUNDS"); do
  S+=("$(run starling "$r")")
  M+=("$(run mosquitto "$r")")
  echo "  round $r: starling ${S[-1]} msg/s, mosquitto ${M[-1]} msg/s" >&2
done
python3 - "${S[*]}" "${M[*]}" "$COUNT" "$QOS" "$VERSION" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
m = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(s), statistics.median(m)
print(f"mosquitto_pub -l | mosquitto_sub -C {sys.argv[3]}, QoS {sys.argv[4]}, {sys.argv[5]}: "
      f"Starling {a:,.0f} msg/s, Mosquitto {b:,.0f} msg/s, ratio {a / b:.2f} (medians of {len(s)})")
PY

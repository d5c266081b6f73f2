#!/usr/bin/env bash
# The one test command of Starling (see README.md).
#
#  1. installs what the tests need when it is missing (Debian: mosquitto, mosquitto-clients, python3-paho-mqtt, and
#     nodejs, npm, chromium for Starling.Operations.Tests, which npm-installs mqtt and playwright-core at test time);
#  2. builds the solution once (Release);
#  3. runs every test project under tests/ with `dotnet test --no-build`, one after the other, never stopping at the
#     first failing project, each writing a .trx file;
#  4. runs two repository checks, each counted as one test (passed or failed) in the final line:
#       format             `dotnet format whitespace --verify-no-changes` over src/, tests/ and bench/ (naming and the
#                          other style rules are enforced by the build itself, see .editorconfig); prints the files
#                          that need `dotnet format`;
#       allocation-budget  `Starling.Benchmarks --allocation-gate bench/allocation-budget.json`: the whole broker must
#                          not allocate more per published message than the budget (docs/performance.md);
#  5. reads the .trx counters and prints one line per project and check, then, as the very last line,
#     `N passed, M failed`.
#
# Exit status: 0 only when no test failed, at least one test passed and every project built and ran.
# A project that failed to build, crashed, timed out or wrote no .trx counts as (at least) one failure.
#
# Environment knobs (all optional):
#   STARLING_ARTIFACTS_PATH     build output folder (passed as --artifacts-path), e.g. to keep parallel builds apart
#   STARLING_TEST_FILTER        passed to `dotnet test --filter`
#   STARLING_TEST_PROJECTS      space-separated project names to run (default: every tests/*/*.Tests.csproj and both
#                               checks); the checks run when it is unset or names them (`format`, `allocation-budget`)
#   STARLING_PROJECT_TIMEOUT    seconds one project may run before it is killed (default 600)
#   STARLING_TOTAL_TIMEOUT      seconds the whole script may take, build included (default 1500); projects that
#                               would start after it ran out are counted as failed
#   STARLING_SKIP_INSTALL=1     do not try to install test dependencies
set -uo pipefail

cd "$(dirname "$0")"
ROOT="$(pwd)"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

CONFIG=Release
PROJECT_TIMEOUT="${STARLING_PROJECT_TIMEOUT:-600}"
TOTAL_TIMEOUT="${STARLING_TOTAL_TIMEOUT:-1500}"
RESULTS="$ROOT/artifacts/test-results"
ARTIFACT_ARGS=()
if [[ -n "${STARLING_ARTIFACTS_PATH:-}" ]]; then
    ARTIFACT_ARGS=(--artifacts-path "$STARLING_ARTIFACTS_PATH")
    RESULTS="$STARLING_ARTIFACTS_PATH/test-results"
fi

log() { printf '==> %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------------------------
# 1. Test dependencies.
# ---------------------------------------------------------------------------------------------------------------
deps_present() {
    command -v mosquitto_pub >/dev/null 2>&1 &&
        command -v mosquitto_sub >/dev/null 2>&1 &&
        { command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]]; } &&
        /usr/bin/python3 -c 'import paho.mqtt' >/dev/null 2>&1 &&
        command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && [[ -x /usr/bin/chromium ]]
}

install_deps() {
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            log "not root and no sudo: cannot install test dependencies"
            return 1
        fi
    fi
    # Node.js may come from elsewhere (e.g. a nodejs package that bundles npm): ask for it only when it is missing.
    local extra=()
    command -v node >/dev/null 2>&1 || extra+=(nodejs)
    command -v npm >/dev/null 2>&1 || extra+=(npm)
    [[ -x /usr/bin/chromium ]] || extra+=(chromium)
    log "installing test dependencies (mosquitto, mosquitto-clients, python3-paho-mqtt ${extra[*]})"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        mosquitto-clients mosquitto python3-paho-mqtt "${extra[@]}" </dev/null || return 1
    # The Debian package may start a system broker on 1883; the tests use their own free ports, but a stray
    # service only gets in the way, so stop it and keep it from starting at boot.
    "${sudo[@]}" service mosquitto stop </dev/null >/dev/null 2>&1 || true
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        "${sudo[@]}" systemctl disable --now mosquitto </dev/null >/dev/null 2>&1 || true
    fi
}

if [[ "${STARLING_SKIP_INSTALL:-0}" != 1 ]] && ! deps_present; then
    install_deps || log "WARNING: installing test dependencies failed; interop tests will fail"
fi
if deps_present; then
    log "test dependencies: mosquitto $( (mosquitto -h 2>/dev/null || /usr/sbin/mosquitto -h 2>/dev/null) | head -n1 | awk '{print $3}'), paho-mqtt $(/usr/bin/python3 -c 'import paho.mqtt; print(paho.mqtt.__version__)' 2>/dev/null)"
fi

# ---------------------------------------------------------------------------------------------------------------
# 2. Build once.
# ---------------------------------------------------------------------------------------------------------------
declare -A BUILD_FAILED=()
EXTRA_FAILED=0
EXTRA_NOTES=()

mapfile -t PROJECTS < <(find tests -mindepth 2 -maxdepth 2 -name '*.Tests.csproj' | sort)
if [[ -n "${STARLING_TEST_PROJECTS:-}" ]]; then
    wanted=" ${STARLING_TEST_PROJECTS} "
    filtered=()
    for p in "${PROJECTS[@]}"; do
        name="$(basename "$p" .csproj)"
        [[ "$wanted" == *" $name "* ]] && filtered+=("$p")
    done
    PROJECTS=("${filtered[@]}")
fi

build_solution() {
    timeout --kill-after=30 "$((TOTAL_TIMEOUT - SECONDS))" dotnet build Starling.slnx -c "$CONFIG" "${ARTIFACT_ARGS[@]}" "$@" </dev/null
}

log "dotnet build Starling.slnx -c $CONFIG"
if ! build_solution &&
    # A crashed shared compiler server ("Unable to find the specified file" from the Csc task) fails a build that
    # is fine; one retry without build servers tells the two apart. A real compile error fails again, quickly.
    ! { log "build failed; retrying once without build servers" && build_solution --disable-build-servers -p:UseSharedCompilation=false; }; then
    log "solution build FAILED; building each test project on its own to see which can still run"
    EXTRA_FAILED=$((EXTRA_FAILED + 1))
    EXTRA_NOTES+=("Starling.slnx: build failed (counted as 1 failure)")
    build_logs="$(mktemp -d)"
    for p in "${PROJECTS[@]}"; do
        name="$(basename "$p" .csproj)"
        if ! dotnet build "$p" -c "$CONFIG" "${ARTIFACT_ARGS[@]}" --disable-build-servers -p:UseSharedCompilation=false \
            </dev/null >"$build_logs/$name.log" 2>&1; then
            BUILD_FAILED[$name]=1
            grep -E ' error ' "$build_logs/$name.log" | sort -u | head -n 20
        fi
    done
fi

# ---------------------------------------------------------------------------------------------------------------
# 3. Run every test project.
# ---------------------------------------------------------------------------------------------------------------
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

# attr NAME FILE: the value of attribute NAME on the <Counters .../> element of a .trx file (0 when absent).
attr() {
    local v
    v="$(tr '\n' ' ' <"$2" | grep -o '<Counters [^>]*' | head -n1 | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]\+')"
    echo "${v:-0}"
}

TOTAL_PASSED=0
TOTAL_FAILED=$EXTRA_FAILED
SUMMARY=()
START_ALL=$SECONDS

for p in "${PROJECTS[@]}"; do
    name="$(basename "$p" .csproj)"
    if [[ -n "${BUILD_FAILED[$name]:-}" ]]; then
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        SUMMARY+=("$name: BUILD FAILED (counted as 1 failure)")
        continue
    fi
    left=$((TOTAL_TIMEOUT - SECONDS))
    if ((left < 30)); then
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        SUMMARY+=("$name: NOT RUN, the ${TOTAL_TIMEOUT}s time budget ran out (counted as 1 failure)")
        continue
    fi
    limit=$((left < PROJECT_TIMEOUT ? left : PROJECT_TIMEOUT))
    log "dotnet test $name (time limit ${limit}s)"
    start=$SECONDS
    args=(test "$p" -c "$CONFIG" --no-build "${ARTIFACT_ARGS[@]}"
        --results-directory "$RESULTS"
        --logger "trx;LogFileName=$name.trx"
        --blame-hang-timeout 3m)
    if [[ -n "${STARLING_TEST_FILTER:-}" ]]; then
        args+=(--filter "$STARLING_TEST_FILTER")
    fi
    timeout --kill-after=30 "$limit" dotnet "${args[@]}" </dev/null
    rc=$?
    secs=$((SECONDS - start))
    trx="$RESULTS/$name.trx"
    if [[ ! -s "$trx" ]]; then
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        if [[ $rc == 124 || $rc == 137 ]]; then
            SUMMARY+=("$name: TIMED OUT after ${secs}s, no results (counted as 1 failure)")
        else
            SUMMARY+=("$name: CRASHED or did not run (exit $rc, no .trx; counted as 1 failure)")
        fi
        continue
    fi
    passed=$(attr passed "$trx")
    failed=$(( $(attr failed "$trx") + $(attr error "$trx") + $(attr timeout "$trx") + $(attr aborted "$trx") ))
    total=$(attr total "$trx")
    skipped=$(attr notExecuted "$trx")
    note=""
    if [[ $rc != 0 && $failed == 0 ]]; then
        # dotnet test failed but no test did: the test host crashed, hung or was killed.
        failed=1
        note=" (exit $rc with no failed test: run aborted, counted as 1 failure)"
    fi
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    SUMMARY+=("$name: $passed passed, $failed failed, $skipped skipped of $total in ${secs}s$note")
done

# ---------------------------------------------------------------------------------------------------------------
# 4. Repository checks, one test each.
# ---------------------------------------------------------------------------------------------------------------
want_check() { [[ -z "${STARLING_TEST_PROJECTS:-}" || " ${STARLING_TEST_PROJECTS} " == *" $1 "* ]]; }

# run_check NAME LIMIT COMMAND...: runs COMMAND (output in $RESULTS/NAME.log) and counts one passed or failed test.
# Sets CHECK_LOG for the caller to explain a failure.
run_check() {
    local name="$1" limit="$2"
    shift 2
    local left=$((TOTAL_TIMEOUT - SECONDS))
    CHECK_LOG="$RESULTS/$name.log"
    if ((left < 30)); then
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        SUMMARY+=("$name: NOT RUN, the ${TOTAL_TIMEOUT}s time budget ran out (counted as 1 failure)")
        return 1
    fi
    ((limit > left)) && limit=$left
    log "$name (time limit ${limit}s)"
    local start=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@" </dev/null >"$CHECK_LOG" 2>&1
    rc=$?
    if [[ $rc == 0 ]]; then
        TOTAL_PASSED=$((TOTAL_PASSED + 1))
        SUMMARY+=("$name: passed in $((SECONDS - start))s")
        return 0
    fi
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    if [[ $rc == 124 || $rc == 137 ]]; then
        SUMMARY+=("$name: TIMED OUT after $((SECONDS - start))s (counted as 1 failure)")
    else
        SUMMARY+=("$name: FAILED (exit $rc, counted as 1 failure; log $CHECK_LOG)")
    fi
    return 1
}

# Whitespace only: it reads the files without loading the projects (seconds, offline), while a full `dotnet format`
# loads and compiles the solution once more (3-7 minutes here) to re-check what the build already enforces.
if want_check format &&
    ! run_check format 300 dotnet format whitespace . --folder --include src/ tests/ bench/ --verify-no-changes; then
    echo "format: these files need \`dotnet format whitespace . --folder --include src/ tests/ bench/\`:"
    grep -o '^[^(]*(' "$CHECK_LOG" | tr -d '(' | sed "s|^$ROOT/||" | sort -u | sed 's/^/  /'
    grep -v ' error WHITESPACE' "$CHECK_LOG" | head -n 20
fi

# Bytes, not time: the verdict does not depend on the load of the machine (see AllocationGate.cs).
if want_check allocation-budget &&
    ! run_check allocation-budget 300 dotnet run --no-build -c "$CONFIG" "${ARTIFACT_ARGS[@]}" --project bench/Starling.Benchmarks \
        -- --allocation-gate "$ROOT/bench/allocation-budget.json"; then
    tail -n 20 "$CHECK_LOG"
fi
if want_check allocation-budget && [[ -s "$RESULTS/allocation-budget.log" ]]; then
    grep '^allocation gate:' "$RESULTS/allocation-budget.log" | sed 's/^/  /'
fi

# ---------------------------------------------------------------------------------------------------------------
# 5. Summary. The very last line is exactly `N passed, M failed`.
# ---------------------------------------------------------------------------------------------------------------
echo
log "summary (results in $RESULTS, $((SECONDS - START_ALL))s of tests)"
for n in "${EXTRA_NOTES[@]}"; do echo "  $n"; done
for s in "${SUMMARY[@]}"; do echo "  $s"; done
if [[ ${#PROJECTS[@]} == 0 && ${#SUMMARY[@]} == 0 ]]; then
    echo "  no test project found"
fi
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"

if [[ $TOTAL_FAILED == 0 && $TOTAL_PASSED -gt 0 ]]; then
    exit 0
fi
exit 1

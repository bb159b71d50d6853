#!/usr/bin/env bash
# End-to-end tests of `ordermux serve` with real, unmodified third-party client libraries.
#
#   tests/clients/run.sh [scenario ...]      # default: all scenarios
#
# Scenarios: bigcommerce_py node_bigcommerce commercelayer_sdk kitsu wpapi
# Environment:
#   ORDERMUX_BIN           use this binary instead of building target/debug/ordermux
#   ORDERMUX_CLIENTS_KEEP  1 = keep the scratch folder (libraries, store, server log) for inspection
#   SCENARIO_TIMEOUT       seconds per client script (default 120)
# Needs: cargo (unless ORDERMUX_BIN), node >= 20 with npm, python3 with venv; network access to the npm
# registry and PyPI for the installs. Everything is installed into a scratch folder outside the repo.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ALL_SCENARIOS=(bigcommerce_py node_bigcommerce commercelayer_sdk kitsu wpapi)
SCENARIO_TIMEOUT="${SCENARIO_TIMEOUT:-120}"

if [ "$#" -gt 0 ]; then
  SCENARIOS=("$@")
  for s in "${SCENARIOS[@]}"; do
    case " ${ALL_SCENARIOS[*]} " in
      *" $s "*) ;;
      *) echo "error: unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})" >&2; exit 2 ;;
    esac
  done
else
  SCENARIOS=("${ALL_SCENARIOS[@]}")
fi

for tool in node npm python3 timeout; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is required" >&2; exit 2; }
done

# --- the binary -------------------------------------------------------------------------------------
if [ -n "${ORDERMUX_BIN:-}" ]; then
  BIN="$ORDERMUX_BIN"
else
  echo "building ordermux (debug)..." >&2
  (cd "$REPO" && cargo build --quiet --bin ordermux)
  BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/ordermux"
fi
[ -x "$BIN" ] || { echo "error: ordermux binary not found at $BIN" >&2; exit 2; }
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# --- scratch folder and cleanup ---------------------------------------------------------------------
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/ordermux-clients-XXXXXXXX")"
SERVER_PID=""

cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # bounded wait: 100 x 0.1 s, then SIGKILL
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "warning: ordermux did not stop within 10 s of SIGTERM; sending SIGKILL" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${ORDERMUX_CLIENTS_KEEP:-0}" = "1" ]; then
    echo "scratch folder kept: $SCRATCH" >&2
  else
    rm -rf "$SCRATCH"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the client libraries (pinned) ------------------------------------------------------------------
# Scripts are copied next to node_modules so that ES module imports resolve there.
cp "$HERE"/package.json "$HERE"/*.mjs "$HERE"/*.py "$HERE"/requirements.txt "$SCRATCH"/
[ -f "$HERE/package-lock.json" ] && cp "$HERE/package-lock.json" "$SCRATCH"/

echo "installing npm packages into $SCRATCH..." >&2
if [ -f "$SCRATCH/package-lock.json" ]; then
  (cd "$SCRATCH" && npm ci --no-audit --no-fund --loglevel=error >"$SCRATCH/npm.log" 2>&1) \
    || { cat "$SCRATCH/npm.log" >&2; echo "error: npm ci failed" >&2; exit 2; }
else
  (cd "$SCRATCH" && npm install --no-audit --no-fund --loglevel=error >"$SCRATCH/npm.log" 2>&1) \
    || { cat "$SCRATCH/npm.log" >&2; echo "error: npm install failed" >&2; exit 2; }
fi

echo "installing PyPI packages into a venv..." >&2
python3 -m venv "$SCRATCH/venv"
"$SCRATCH/venv/bin/pip" install --quiet --disable-pip-version-check -r "$SCRATCH/requirements.txt" \
  >"$SCRATCH/pip.log" 2>&1 || { cat "$SCRATCH/pip.log" >&2; echo "error: pip install failed" >&2; exit 2; }

# --- the gateway ------------------------------------------------------------------------------------
mkdir -p "$SCRATCH/data"
"$BIN" serve --config "$REPO/gateway.toml" --listen 127.0.0.1:0 --data-dir "$SCRATCH/data" \
  >"$SCRATCH/server.out" 2>"$SCRATCH/server.log" &
SERVER_PID=$!

PORT=""
# bounded wait for "listening on http://127.0.0.1:PORT": 300 x 0.1 s
for _ in $(seq 1 300); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "error: ordermux exited during start-up; its log:" >&2
    cat "$SCRATCH/server.out" "$SCRATCH/server.log" >&2
    exit 2
  fi
  PORT="$(sed -n 's#^listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$SCRATCH/server.out" | head -n1)"
  [ -n "$PORT" ] && break
  sleep 0.1
done
if [ -z "$PORT" ]; then
  echo "error: ordermux did not print 'listening on http://127.0.0.1:PORT' within 30 s; its log:" >&2
  cat "$SCRATCH/server.out" "$SCRATCH/server.log" >&2
  exit 2
fi
export ORDERMUX_URL="http://127.0.0.1:$PORT"
echo "ordermux listening on $ORDERMUX_URL (pid $SERVER_PID)" >&2

# --- the scenarios ----------------------------------------------------------------------------------
run_scenario() {
  case "$1" in
    bigcommerce_py)    (cd "$SCRATCH" && PYTHONDONTWRITEBYTECODE=1 timeout "$SCENARIO_TIMEOUT" ./venv/bin/python bigcommerce_py.py) ;;
    node_bigcommerce)  (cd "$SCRATCH" && timeout "$SCENARIO_TIMEOUT" node node_bigcommerce.mjs) ;;
    commercelayer_sdk) (cd "$SCRATCH" && timeout "$SCENARIO_TIMEOUT" node commercelayer_sdk.mjs) ;;
    kitsu)             (cd "$SCRATCH" && timeout "$SCENARIO_TIMEOUT" node kitsu.mjs) ;;
    wpapi)             (cd "$SCRATCH" && timeout "$SCENARIO_TIMEOUT" node wpapi.mjs) ;;
  esac
}

failed=0
for s in "${SCENARIOS[@]}"; do
  if run_scenario "$s" >"$SCRATCH/$s.log" 2>&1; then
    echo "PASS $s"
  else
    rc=$?
    [ "$rc" -eq 124 ] && echo "  (timed out after ${SCENARIO_TIMEOUT}s)" >>"$SCRATCH/$s.log"
    echo "FAIL $s"
    sed 's/^/    /' "$SCRATCH/$s.log"
    failed=$((failed + 1))
  fi
done

if [ "$failed" -gt 0 ]; then
  echo "$failed of ${#SCENARIOS[@]} scenario(s) failed" >&2
  exit 1
fi
echo "all ${#SCENARIOS[@]} scenario(s) passed" >&2

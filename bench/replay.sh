#!/usr/bin/env bash
# Replay benchmark for `ordermux replay` (a benchmark, not a test). Generates COUNT realistic create requests
# (default 100000) split over the three dialects (bench/gen_orders.py --dialect mixed), then replays them into the
# embedded shop of a fresh data directory, one dialect file after the other:
#   run 1: every order is new (created);
#   run 2: the same files again, every order already done (skipped by its source id);
#   small: COUNT/10 orders into another fresh data directory, to see whether peak memory grows with the input.
# Each replay runs under /usr/bin/time -v (peak RSS, wall time) and writes its --report JSON
# ({"read", "created", "already_done", "failed", "elapsed_ms", ...}); rates come from the report (wall time when a
# report lacks elapsed_ms). Prints per-dialect and total orders, seconds, orders/s, the run 2 / run 1 speed ratio,
# peak RSS of both sizes, and the targets: run 1 >= 2000 orders/s, run 2 >= 10x faster, memory flat.
#
#   bench/replay.sh                        # 100 000 orders
#   COUNT=3000 bench/replay.sh             # a quick run
#   CONCURRENCY=32 SEED=2 KEEP=1 bench/replay.sh   # keep the scratch directory (its path is printed)
#   ORDERMUX_BIN=/path/to/ordermux bench/replay.sh  # measure another build (no cargo build)
#   SYNCHRONOUS=normal bench/replay.sh     # [store] synchronous = "normal" (no fsync per commit)
#   TARGETS=0 bench/replay.sh              # no target verdicts (bench/pgo.sh's training, on an instrumented build)
#
# Exit status: 0 when every replay ran and its report adds up (targets missed are reported, not fatal); 1 when a
# replay failed, timed out, or its report says orders failed or were miscounted; 2 when `ordermux replay` is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

COUNT="${COUNT:-100000}"
CONCURRENCY="${CONCURRENCY:-128}"   # replay's own default into the embedded shop
SEED="${SEED:-1}"
# The store's durability ([store] synchronous): "full" (the default, fsync per commit) or "normal".
SYNCHRONOUS="${SYNCHRONOUS:-full}"
# Every command is bounded: one replay, the generator, the build.
STEP_TIMEOUT="${STEP_TIMEOUT:-1800}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-3600}"
DIALECTS=(fluentcart commercelayer bigcommerce)

case "$COUNT" in
  '' | *[!0-9]*) echo "COUNT must be a whole number, got ${COUNT@Q}" >&2; exit 2 ;;
esac
if [ "$COUNT" -lt 30 ] || [ "$COUNT" -gt 10000000 ]; then
  echo "COUNT must be from 30 to 10000000 (the memory check replays COUNT/10, at least 3 orders)" >&2
  exit 2
fi
case "$SYNCHRONOUS" in
  full | normal) ;;
  *) echo "SYNCHRONOUS must be full or normal, got ${SYNCHRONOUS@Q}" >&2; exit 2 ;;
esac
case "$CONCURRENCY" in
  '' | *[!0-9]*) echo "CONCURRENCY must be a whole number, got ${CONCURRENCY@Q}" >&2; exit 2 ;;
esac
SMALL=$((COUNT / 10))

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time from the OS packages (for peak RSS)" >&2
  (apt-get install -y time || (apt-get update && apt-get install -y time)) >/dev/null
fi

# ORDERMUX_BIN: another build of ordermux to measure (default: the release build, built here).
bin="${ORDERMUX_BIN:-}"
if [ -z "$bin" ]; then
  echo "building the release binary" >&2
  timeout "$BUILD_TIMEOUT" cargo build --release --bin ordermux >&2
  bin="$repo/target/release/ordermux"
fi
if ! "$bin" replay --help >/dev/null 2>&1; then
  echo "this ordermux has no replay subcommand ($("$bin" --version 2>/dev/null || echo '?')); nothing to benchmark" >&2
  exit 2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ordermux-replay-XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  trap 'echo "kept $tmp" >&2' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi

# A minimal configuration: the repository catalog, one client, and the markets of the shipped gateway.toml
# (a Commerce Layer create names its market; without markets every Commerce Layer order would be refused).
write_config() { # <file> <data dir>
  cat >"$1" <<EOF
[defaults]
currency = "USD"

[server]
data_dir = "$2"

[store]
synchronous = "$SYNCHRONOUS"

[catalog]
file = "$repo/catalog.toml"

[[markets]]
id = "usd"
number = 1
code = "usd"
name = "United States"
currency = "USD"

[[markets]]
id = "eur"
number = 2
code = "eur"
name = "Europe"
currency = "EUR"

[[markets]]
id = "jpy"
number = 3
code = "jpy"
name = "Japan"
currency = "JPY"

[[clients]]
id = "bench"
secret = "bench-secret-not-demo"
bigcommerce_store_hash = "bench"
EOF
}
mkdir -p "$tmp/data" "$tmp/data-small" "$tmp/orders" "$tmp/orders-small"
write_config "$tmp/gateway.toml" "$tmp/data"
write_config "$tmp/gateway-small.toml" "$tmp/data-small"
timeout 60 "$bin" check-config --config "$tmp/gateway.toml" >&2

echo "generating $COUNT orders (seed $SEED) and $SMALL for the memory check" >&2
timeout "$STEP_TIMEOUT" python3 bench/gen_orders.py --count "$COUNT" --dialect mixed --seed "$SEED" \
  --out-dir "$tmp/orders"
# The same buyer pool as the full run, so the small run is the full run's prefix.
timeout "$STEP_TIMEOUT" python3 bench/gen_orders.py --count "$SMALL" --dialect mixed --seed "$SEED" \
  --buyers "$((COUNT / 3))" --out-dir "$tmp/orders-small"

# Log lines per order would measure the terminal, not the replay.
export RUST_LOG="${RUST_LOG:-warn}"
errors=0
replay() { # <config> <orders dir> <dialect> <label>
  local config="$1" dir="$2" d="$3" label="$4" rc=0
  echo "replay $label $d ($(wc -l <"$dir/$d.ndjson") orders)" >&2
  /usr/bin/time -v -o "$tmp/time-$d-$label.txt" \
    timeout "$STEP_TIMEOUT" "$bin" replay --config "$config" --to embedded --from-file "$dir/$d.ndjson" \
    --dialect "$d" --concurrency "$CONCURRENCY" --report "$tmp/report-$d-$label.json" \
    >"$tmp/stdout-$d-$label.txt" 2>"$tmp/stderr-$d-$label.txt" || rc=$?
  if [ "$rc" -ne 0 ]; then
    errors=$((errors + 1))
    if [ "$rc" -eq 124 ]; then
      echo "  timed out after ${STEP_TIMEOUT}s" >&2
    else
      echo "  exit status $rc; last lines of its stderr:" >&2
    fi
    tail -n 5 "$tmp/stderr-$d-$label.txt" | sed 's/^/    /' >&2
  fi
}

for d in "${DIALECTS[@]}"; do replay "$tmp/gateway.toml" "$tmp/orders" "$d" 1; done
for d in "${DIALECTS[@]}"; do replay "$tmp/gateway.toml" "$tmp/orders" "$d" 2; done
for d in "${DIALECTS[@]}"; do replay "$tmp/gateway-small.toml" "$tmp/orders-small" "$d" small; done

echo "ordermux $(git rev-parse --short HEAD 2>/dev/null || echo '?'): $COUNT orders, concurrency $CONCURRENCY," \
  "synchronous $SYNCHRONOUS, $(nproc) cores"
status=0
TARGETS="${TARGETS:-1}" python3 - "$tmp" "$COUNT" "$SMALL" "${DIALECTS[@]}" <<'PY' || status=$?
import json
import os
import re
import sys
from pathlib import Path

tmp, count, small, dialects = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
problems = []


def lines(d, orders_dir):
    try:
        with open(tmp / orders_dir / f"{d}.ndjson", "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def gnu_time(path):
    """(wall seconds, peak RSS KiB) from /usr/bin/time -v output."""
    wall, rss = None, None
    try:
        text = path.read_text()
    except OSError:
        return None, None
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    if m:
        secs = 0.0
        for part in m.group(1).split(":"):
            secs = secs * 60 + float(part)
        wall = secs
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        rss = int(m.group(1))
    return wall, rss


def run(d, label, orders_dir):
    report_path = tmp / f"report-{d}-{label}.json"
    wall, rss = gnu_time(tmp / f"time-{d}-{label}.txt")
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError) as e:
        problems.append(f"{d} run {label}: no readable report ({e})")
        report = {}
    num = lambda k: report.get(k) if isinstance(report.get(k), (int, float)) else None
    elapsed = num("elapsed_ms")
    secs = elapsed / 1000 if elapsed is not None else wall
    read = num("read")
    expected = lines(d, orders_dir)
    if read is None:
        read = expected  # only for the rate; the report is already flagged
    elif read != expected:
        problems.append(f"{d} run {label}: read {read} of {expected} orders")
    failed = num("failed") or 0
    if failed:
        problems.append(f"{d} run {label}: {failed} orders failed")
    created, done = num("created"), num("already_done")
    if report and label in ("1", "small") and created != expected:
        problems.append(f"{d} run {label}: created {created}, expected {expected} (a fresh data directory)")
    if report and label == "2" and done != expected:
        problems.append(f"{d} run {label}: already_done {done}, expected {expected} (everything was replayed)")
    return {"orders": read, "secs": secs, "wall": wall, "rss": rss, "created": created, "done": done,
            "failed": failed, "from_report": elapsed is not None}


def rate(orders, secs):
    return orders / secs if secs else float("nan")


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib is not None else "?"


runs = {label: {d: run(d, label, "orders-small" if label == "small" else "orders") for d in dialects}
        for label in ("1", "2", "small")}
totals = {}
hdr = f"{'run':<6} {'dialect':<14} {'orders':>8} {'created':>8} {'skipped':>8} {'failed':>6} {'seconds':>9} " \
      f"{'orders/s':>10} {'wall s':>8} {'peak RSS':>11}"
print(hdr)
print("-" * len(hdr))
for label, per in runs.items():
    for d, r in per.items():
        secs = f"{r['secs']:.2f}" if r["secs"] is not None else "?"
        wall = f"{r['wall']:.2f}" if r["wall"] is not None else "?"
        note = "" if r["from_report"] else "  (seconds: wall time, no elapsed_ms)"
        created, done = ("?" if v is None else str(v) for v in (r["created"], r["done"]))
        print(f"{label:<6} {d:<14} {r['orders']:>8} {created:>8} {done:>8} {r['failed']:>6} "
              f"{secs:>9} {rate(r['orders'], r['secs']):>10.0f} {wall:>8} {mib(r['rss']):>11}{note}")
    orders = sum(r["orders"] for r in per.values())
    secs = sum(r["secs"] or 0 for r in per.values())
    rss = max((r["rss"] for r in per.values() if r["rss"] is not None), default=None)
    totals[label] = {"orders": orders, "secs": secs, "rate": rate(orders, secs), "rss": rss}
    print(f"{label:<6} {'total':<14} {orders:>8} {'':>8} {'':>8} {'':>6} {secs:>9.2f} "
          f"{totals[label]['rate']:>10.0f} {'':>8} {mib(rss):>11}")
    print("-" * len(hdr))

first, second, small_run = totals["1"], totals["2"], totals["small"]
ratio = second["rate"] / first["rate"] if first["rate"] else float("nan")
peak = max((t["rss"] for t in (first, second) if t["rss"] is not None), default=None)
print(f"first run:  {first['orders']} orders in {first['secs']:.2f} s = {first['rate']:.0f} orders/s")
print(f"second run: {second['orders']} orders in {second['secs']:.2f} s = {second['rate']:.0f} orders/s "
      f"(all already done)")
print(f"second/first speed: {ratio:.1f}x")
print(f"peak RSS: {mib(peak)} for {count} orders (runs 1 and 2), {mib(small_run['rss'])} for {small} orders "
      f"(fresh data directory)")

targets = []
targets.append(("first run >= 2000 orders/s", first["rate"] >= 2000, f"{first['rate']:.0f} orders/s"))
targets.append(("second run >= 10x faster", ratio >= 10, f"{ratio:.1f}x"))
if peak is not None and small_run["rss"]:
    growth = peak / small_run["rss"]
    # Flat: ten times the orders costs at most a quarter more memory (or 32 MiB, for small absolute sizes).
    flat = peak <= max(small_run["rss"] * 1.25, small_run["rss"] + 32 * 1024)
    targets.append(("memory flat (10x the orders, <= 1.25x or +32 MiB peak RSS)", flat,
                    f"{mib(small_run['rss'])} -> {mib(peak)}, {growth:.2f}x"))
else:
    targets.append(("memory flat", False, "peak RSS unknown"))
for name, ok, detail in targets:
    if os.environ.get("TARGETS") != "0":
        print(f"target {'PASS' if ok else 'MISS'}: {name}: {detail}")
for p in problems:
    print(f"error: {p}")
sys.exit(1 if problems else 0)
PY
if [ "$errors" -ne 0 ]; then
  echo "error: $errors replay command(s) failed (their stderr is above)" >&2
  status=1
fi
exit "$status"

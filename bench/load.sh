#!/usr/bin/env bash
# HTTP load benchmark for `ordermux serve` (a benchmark, not a test): starts the gateway on a fresh data
# directory, then drives it with wrk for DURATION seconds (default 60) on CONNECTIONS keep-alive connections
# (default 200) with a mix of creates and reads across the three dialects (bench/load.lua). Prints requests/s,
# p50/p99 latency, error counts and the server's peak RSS. Fails when any request errored.
#
#   bench/load.sh                  # 60 s, 200 connections
#   DURATION=10 bench/load.sh      # a quick run
#   UNIQUE_BUYERS=1 bench/load.sh  # every Commerce Layer create with a new customer (as in a migration)
#   ORDERMUX_BIN=path bench/load.sh          # another build of ordermux (no cargo build)
#   BASE_URL=http://127.0.0.1:8080 bench/load.sh  # drive a gateway already running with gateway.toml's demo client
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-60}"
CONNECTIONS="${CONNECTIONS:-200}"
THREADS="${THREADS:-2}"

if ! command -v wrk >/dev/null; then
  echo "installing wrk from the OS packages" >&2
  (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null
fi

data="$(mktemp -d "${TMPDIR:-/tmp}/ordermux-load-XXXXXX")"
server=""
stop() { if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; rm -rf "$data"; }
trap stop EXIT
base="${BASE_URL:-}"
if [ -z "$base" ]; then
  bin="${ORDERMUX_BIN:-}"
  if [ -z "$bin" ]; then
    cargo build --release --bin ordermux >&2
    bin=./target/release/ordermux
  fi
  log="$data/server.log"
  # One log line per request would measure the terminal, not the gateway.
  # The per-client budget is a product feature, not what this measures.
  RUST_LOG=warn ORDERMUX__SERVER__RATE_LIMIT_QUOTA="${ORDERMUX__SERVER__RATE_LIMIT_QUOTA:-1000000000}" \
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db" >"$data/stdout" 2>"$log" &
  server=$!
  for _ in $(seq 1 100); do
    base="$(grep -o 'http://[0-9.:]*' "$data/stdout" 2>/dev/null || true)"
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { echo "server did not start" >&2; cat "$log" >&2; exit 1; }
fi
# One order per dialect to read back, and a Commerce Layer token.
bc_id="$(curl -sf -H 'X-Auth-Token: demo-secret' -H 'Content-Type: application/json' "$base/stores/demo/v2/orders" \
  -d '{"billing_address":{"first_name":"A","last_name":"B","street_1":"1 Main St","city":"Austin","zip":"78701","country_iso2":"US","email":"seed@example.com"},"products":[{"product_id":111,"quantity":1}]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
fc_id="$(curl -sf -u demo:demo-secret -H 'Content-Type: application/json' "$base/wp-json/fluent-cart/v2/orders" \
  -d '{"customer_id":1,"order_items":[{"object_id":1001,"quantity":1}]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["order_id"])')"
token="$(curl -sf -H 'Content-Type: application/json' "$base/oauth/token" \
  -d '{"grant_type":"client_credentials","client_id":"demo","client_secret":"demo-secret"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
cl_id="$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/vnd.api+json' -H 'Accept: application/vnd.api+json' \
  "$base/api/orders" -d '{"data":{"type":"orders","attributes":{"customer_email":"seed@example.com"},"relationships":{"market":{"data":{"type":"markets","id":"usd"}}}}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')"

echo "ordermux $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $base: ${DURATION}s, $CONNECTIONS connections, $THREADS wrk threads, $(nproc) cores${UNIQUE_BUYERS:+, a new buyer on every Commerce Layer create}"
out="$(CL_TOKEN="$token" CL_ORDER_ID="$cl_id" FC_ORDER_ID="$fc_id" BC_ORDER_ID="$bc_id" \
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s bench/load.lua "$base")"
echo "$out"
result="$(echo "$out" | grep '^RESULT')"
# Where the time goes, per operation: the server's own latency histograms (from the request's first byte to its
# reply), as bucket bounds, so a tail can be traced to the requests that make it.
curl -sf "$base/metrics" | python3 -c '
import re, sys
hist = {}
for line in sys.stdin:
    m = re.match(r"ordermux_request_duration_seconds_bucket\{(.*)\} (\S+)", line)
    if not m:
        continue
    labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(1)))
    key = (labels["dialect"], labels["operation"])
    hist.setdefault(key, []).append((float(labels["le"]), float(m.group(2))))
def quantile(buckets, q):
    total = buckets[-1][1]
    for le, n in buckets:
        if n >= q * total:
            return le
print("per operation (server-side, bucket upper bounds):")
for (dialect, op), b in sorted(hist.items()):
    b.sort()
    if b[-1][1]:
        print(f"  {dialect:>13} {op:<14} n={int(b[-1][1]):>7} p50<={quantile(b, 0.5)*1e3:g}ms p99<={quantile(b, 0.99)*1e3:g}ms")
'

if [ -n "$server" ]; then
  rss_kib="$(grep VmHWM /proc/$server/status | awk '{print $2}')"
  echo "$result peak_rss_mib=$((rss_kib / 1024))"
fi
case "$result" in
  *"errors_status=0 errors_socket=0"*) ;;
  *) echo "load run had errors" >&2; exit 1 ;;
esac

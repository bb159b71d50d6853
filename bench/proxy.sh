#!/usr/bin/env bash
# Pass-through benchmark (a benchmark, not a test): ordermux as a reverse proxy vs nginx `proxy_pass`, side by
# side in one run, both in front of the same fast upstream stub (an nginx answering a fixed JSON body).
# The proxy under test and the stub are pinned to CPU 0, wrk to CPU 1, so a proxy's CPU cost shows in throughput.
# Reports requests/s, p50/p99 for each and the ratio ordermux / nginx (target: >= 0.9).
#
#   bench/proxy.sh                     # 30 s per proxy, 100 connections
#   DURATION=10 bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-30}"
CONNECTIONS="${CONNECTIONS:-100}"

need() { command -v "$1" >/dev/null || (apt-get install -y "$2" >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y "$2" >/dev/null)); }
need wrk wrk
need nginx nginx
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (proxy+stub on one, wrk on the other)" >&2; exit 1; }

cargo build --release --bin ordermux >&2
dir="$(mktemp -d "${TMPDIR:-/tmp}/ordermux-proxy-XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
stub_port="$(free_port)"; nginx_port="$(free_port)"; ordermux_port="$(free_port)"

nginx_conf() { # name, body of the http block
  mkdir -p "$dir/$1"
  cat >"$dir/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/$1/nginx.pid;
error_log $dir/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/$1; proxy_temp_path $dir/$1; fastcgi_temp_path $dir/$1; uwsgi_temp_path $dir/$1; scgi_temp_path $dir/$1;
  $2
}
CONF
}
nginx_conf stub "server { listen 127.0.0.1:$stub_port; keepalive_requests 1000000; location / { default_type application/json; return 200 '{\"id\":100,\"status\":\"Pending\",\"total_inc_tax\":\"55.0000\"}'; } }"
nginx_conf proxy "upstream stub { server 127.0.0.1:$stub_port; keepalive 128; }
  server { listen 127.0.0.1:$nginx_port; keepalive_requests 1000000;
    location / { proxy_pass http://stub; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_set_header X-Forwarded-For \$remote_addr; proxy_set_header X-Forwarded-Proto http; proxy_set_header X-Forwarded-Host \$host; } }"
taskset -c 0 nginx -c "$dir/stub/nginx.conf" -p "$dir/stub" & pids+=($!)
taskset -c 0 nginx -c "$dir/proxy/nginx.conf" -p "$dir/proxy" & pids+=($!)

cat >"$dir/gateway.toml" <<CONF
[server]
listen = "127.0.0.1:$ordermux_port"
data_dir = "data"
rate_limit_quota = 1000000000
[[clients]]
id = "bench"
secret = "bench-secret-not-demo"
[[backends]]
name = "stub"
type = "bigcommerce"
base_url = "http://127.0.0.1:$stub_port"
[[routes]]
dialect = "bigcommerce"
store_hash = "stub"
backend = "stub"
CONF
RUST_LOG=warn env ${TOKIO_WORKER_THREADS:+TOKIO_WORKER_THREADS=$TOKIO_WORKER_THREADS} taskset -c 0 ./target/release/ordermux serve --config "$dir/gateway.toml" >"$dir/ordermux.out" 2>"$dir/ordermux.err" & pids+=($!)

for port in "$stub_port" "$nginx_port" "$ordermux_port"; do
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/stores/stub/v2/orders/100" && break; sleep 0.1; done
done

run() { # label, port
  local out
  out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H 'X-Auth-Token: shop-token' \
    "http://127.0.0.1:$2/stores/stub/v2/orders/100")"
  local rps p50 p99 errors
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
  p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
  errors="$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')"
  echo "$1 rps=$rps p50=$p50 p99=$p99 ${errors:+errors: $errors}"
}
echo "pass-through GET, ${DURATION}s, $CONNECTIONS connections; proxy and stub on CPU 0, wrk on CPU 1"
direct="$(run stub-direct "$stub_port")"; echo "$direct"
ng="$(run nginx "$nginx_port")"; echo "$ng"
om="$(run ordermux "$ordermux_port")"; echo "$om"
python3 - "$ng" "$om" <<'PY'
import sys
def rps(line): return float(line.split("rps=")[1].split()[0])
print(f"ratio ordermux/nginx = {rps(sys.argv[2]) / rps(sys.argv[1]):.2f} (target >= 0.90)")
PY

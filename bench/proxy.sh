#!/usr/bin/env bash
# Upstream benchmark (a benchmark, not a test): ordermux in front of a shop vs nginx `proxy_pass`, side by side in
# one run, both in front of the same fast upstream stub (an nginx answering BigCommerce documents from a fixture).
#   1. pass-through: BigCommerce GET /orders/100 streamed through unchanged;
#   2. translated create: a FluentCart POST /orders that ordermux decodes, resolves, journals and sends to the
#      BigCommerce stub (one POST: FluentCart's reply names the new order only, so nothing is read back),
#      answering in FluentCart's shape; nginx forwards the same POST to the stub's create endpoint.
# ordermux runs as two builds side by side: the `dist` profile (whole-program optimisation), and the same profile
# optimised with a profile of the gateway's own code under load (bench/pgo.sh: trained on bench/load.lua's mix, on
# the embedded shop and in front of a second ordermux: not this script's stub or run, though its FluentCart create
# body is the same as here).
# The proxy under test and the stub are pinned to CPU 0, wrk to CPU 1, so a proxy's CPU cost shows in throughput.
# Reports requests/s, p50/p99, the proxy's CPU time per request (for ordermux also split by thread: the runtime
# threads, "ordermux", and the store's writer, "ordermux-store-"), and ratios ordermux / nginx
# (targets: pass-through >= 0.9x throughput; translated create >= 0.5x throughput with <= 2x CPU per request).
#
#   bench/proxy.sh                     # 30 s per run, 100 connections
#   DURATION=10 bench/proxy.sh
#   PARTS=passthrough bench/proxy.sh     # only one part (passthrough | create)
#   NO_BUILD=1 bench/proxy.sh            # run target/dist/ordermux and target/pgo/ordermux as they are (no builds)
#   PGO=0 bench/proxy.sh                 # the dist build only (bench/pgo.sh takes about 7 minutes on two cores)
#   NO_BUILD=1 BUILDS="ordermux-a=/tmp/a ordermux-b=/tmp/b" bench/proxy.sh   # an A/B run of two builds
#   FLOOR=1 bench/proxy.sh               # also the floor (bench/floor) in the create part: the same create done
#                                        # durably with nothing of ordermux's design, and again without its log
#   PERF_OUT=/tmp/p bench/proxy.sh       # records ordermux with `perf record -g` during its runs
#   PERF_STAT=/tmp/s bench/proxy.sh      # counts system calls and context switches per thread (perf stat)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-30}"
CONNECTIONS="${CONNECTIONS:-100}"
PARTS="${PARTS:-passthrough create}"

need() { command -v "$1" >/dev/null || (apt-get install -y "$2" >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y "$2" >/dev/null)); }
need wrk wrk
need nginx nginx
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (proxy+stub on one, wrk on the other)" >&2; exit 1; }

if [ -z "${NO_BUILD:-}" ]; then
  cargo build --profile dist --bin ordermux >&2
  [ "${PGO:-1}" = 0 ] || bash bench/pgo.sh >&2
fi
# label=binary, in the order they run. BUILDS="a=path b=path" measures other builds instead (A/B runs; the labels
# must start with "ordermux").
builds=("ordermux=./target/dist/ordermux")
if [ -n "${BUILDS:-}" ]; then
  read -r -a builds <<<"$BUILDS"
elif [ "${PGO:-1}" != 0 ]; then
  [ -x target/pgo/ordermux ] || { echo "no target/pgo/ordermux: run bench/pgo.sh, or PGO=0" >&2; exit 1; }
  builds+=("ordermux-pgo=./target/pgo/ordermux")
fi
# The floor (bench/floor/src/main.rs): create part only.
floors=()
if [ -n "${FLOOR:-}" ]; then
  floor_bin=./target/floor/release/ordermux-floor
  [ -n "${NO_BUILD:-}" ] && [ -x "$floor_bin" ] ||
    cargo build --release --manifest-path bench/floor/Cargo.toml --target-dir target/floor >&2
  floors=("floor=$floor_bin" "floor-volatile=$floor_bin")
fi
dir="$(mktemp -d "${TMPDIR:-/tmp}/ordermux-proxy-XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
stub_port="$(free_port)"; nginx_port="$(free_port)"

# The stub's BigCommerce documents, from a fixture: the order (sub-resources as links) and its sub-resources,
# served as files (nginx limits inline `return` text to 4 KiB). A POST to a static file is a 405 in nginx, which
# `error_page 405 =201` turns into the file itself: the create's reply.
mkdir -p "$dir/docs"
python3 - "$dir" <<'PY'
import json, sys
d = json.load(open("fixtures/bigcommerce/order/ok/0002_status_01_pending_payment_pending.json"))
oid = d["id"]
subs = {k: d[k] for k in ("products", "shipping_addresses", "coupons")}
for k in subs:
    d[k] = {"url": f"https://api.bigcommerce.com/stores/stub/v2/orders/{oid}/{k}", "resource": f"/orders/{oid}/{k}"}
docs = f"{sys.argv[1]}/docs"
json.dump(d, open(f"{docs}/order.json", "w"))
with open(f"{sys.argv[1]}/stub_locations", "w") as f:
    # Each create gets an order id of its own, as from a real shop (so ordermux maps a new id every time):
    # 1, the stub's connection number, five zeros, the request's number on that connection. Unique while neither
    # number reaches 100000 (a 20 s run makes at most a few thousand requests per connection).
    f.write(f"location = /stores/stub/v2/orders {{ error_page 405 =201 /docs/created.json; return 405; }}\n")
    f.write(f"location = /docs/created.json {{ internal; default_type application/json; alias {docs}/order.json; "
            f"sub_filter_types application/json; sub_filter_once on; "
            f"sub_filter '\"id\": {oid},' '\"id\": 1${{connection}}00000${{connection_requests}},'; }}\n")
    f.write(f"location = /stores/stub/v2/orders/{oid} {{ default_type application/json; alias {docs}/order.json; }}\n")
    for k, v in subs.items():
        if v:
            json.dump(v, open(f"{docs}/{k}.json", "w"))
            f.write(f"location = /stores/stub/v2/orders/{oid}/{k} {{ default_type application/json; alias {docs}/{k}.json; }}\n")
        else:  # BigCommerce answers an empty sub-resource with 204
            f.write(f"location = /stores/stub/v2/orders/{oid}/{k} {{ return 204; }}\n")
    f.write(f"location /docs/ {{ internal; default_type application/json; root {sys.argv[1]}; }}\n")
PY
chmod -R a+rX "$dir"   # nginx workers run unprivileged

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
nginx_conf stub "server { listen 127.0.0.1:$stub_port; keepalive_requests 1000000;
    $(cat "$dir/stub_locations")
    location / { default_type application/json; return 200 '{\"id\":100,\"status\":\"Pending\",\"total_inc_tax\":\"55.0000\"}'; } }"
forward="proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_set_header X-Forwarded-For \$remote_addr; proxy_set_header X-Forwarded-Proto http; proxy_set_header X-Forwarded-Host \$host;"
nginx_conf proxy "upstream stub { server 127.0.0.1:$stub_port; keepalive 128; }
  server { listen 127.0.0.1:$nginx_port; keepalive_requests 1000000;
    location = /wp-json/fluent-cart/v2/orders { proxy_pass http://stub/stores/stub/v2/orders; $forward }
    location / { proxy_pass http://stub; $forward } }"
taskset -c 0 nginx -c "$dir/stub/nginx.conf" -p "$dir/stub" & pids+=($!)
taskset -c 0 nginx -c "$dir/proxy/nginx.conf" -p "$dir/proxy" & pids+=($!)

echo "stub-token" >"$dir/bc_token"
declare -A ports proxy_pids
for build in "${builds[@]}"; do
  label="${build%%=*}"; bin="${build#*=}"
  ports[$label]="$(free_port)"
  cat >"$dir/$label.toml" <<CONF
[server]
listen = "127.0.0.1:${ports[$label]}"
data_dir = "$label-data"
rate_limit_quota = 1000000000
[catalog]
file = "$PWD/catalog.toml"
[[clients]]
id = "bench"
secret = "bench-secret-not-demo"
[[backends]]
name = "stub"
type = "bigcommerce"
base_url = "http://127.0.0.1:$stub_port"
store_hash = "stub"
credentials = { token_file = "bc_token" }
# BigCommerce callers on the stub's own store: pass-through.
[[routes]]
dialect = "bigcommerce"
store_hash = "stub"
backend = "stub"
# FluentCart callers: translated to the BigCommerce stub.
[[routes]]
dialect = "fluentcart"
backend = "stub"
CONF
  RUST_LOG=warn env ${TOKIO_WORKER_THREADS:+TOKIO_WORKER_THREADS=$TOKIO_WORKER_THREADS} taskset -c 0 "$bin" serve \
    --config "$dir/$label.toml" >"$dir/$label.out" 2>"$dir/$label.err" & pids+=($!)
  proxy_pids[$label]=$!
done
for floor in "${floors[@]}"; do
  label="${floor%%=*}"; bin="${floor#*=}"
  ports[$label]="$(free_port)"
  taskset -c 0 "$bin" --listen "127.0.0.1:${ports[$label]}" --upstream "http://127.0.0.1:$stub_port" \
    --journal "$dir/$label.log" $([ "$label" = floor-volatile ] && echo --volatile) \
    >"$dir/$label.out" 2>"$dir/$label.err" & pids+=($!)
  proxy_pids[$label]=$!
done

for port in "$stub_port" "$nginx_port" "${ports[@]}"; do
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/stores/stub/v2/orders/100" && break; sleep 0.1; done
done
nginx_worker="$(pgrep -P "$(cat "$dir/proxy/nginx.pid")" | head -1)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# user + system ticks per thread name ("ordermux" for the runtime threads, "ordermux-store-" for the store's
# writer), for the split of a proxy's CPU.
thread_ticks() { for t in /proc/"$1"/task/*; do echo "$(cat "$t/comm")=$(awk '{print $14 + $15}' "$t/stat")"; done; }

cat >"$dir/create.lua" <<'LUA'
-- FluentCart create with a fresh Idempotency-Key per request (an integrator's retry-safe create).
local counter = 0
wrk.method = "POST"
wrk.body = [[{"customer_id":1,"currency":"USD","order_items":[{"object_id":1001,"quantity":1},{"object_id":1002,"quantity":2}]}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2gtc2VjcmV0LW5vdC1kZW1v"
function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = "bench-" .. os.time() .. "-" .. counter .. "-" .. math.random(1, 1e9)
  return wrk.format()
end
LUA

run() { # label, port, proxy pid (or -), path, extra wrk args...
  local label="$1" port="$2" pid="$3" path="$4"; shift 4
  local path_tag="${path//\//_}"
  local before=0 after=0 out
  local threads_before=""
  [ "$pid" != - ] && before="$(cpu_ticks "$pid")" && threads_before="$(thread_ticks "$pid")"
  # PERF_OUT=file records ordermux's call graph during its runs (for finding where the CPU goes).
  if [ -n "${PERF_OUT:-}" ] && [[ "$label" == ordermux* ]]; then
    perf record -F 2000 -g -p "$pid" -o "$PERF_OUT.$port$path_tag" -- sleep "$DURATION" >/dev/null 2>&1 &
  fi
  # PERF_STAT=file counts system calls and context switches per thread of ordermux and the floor (divide by the
  # run's requests).
  if [ -n "${PERF_STAT:-}" ] && [[ "$label" == ordermux* || "$label" == floor* ]]; then
    perf stat --per-thread -e raw_syscalls:sys_enter,context-switches -p "$pid" -o "$PERF_STAT.$label$path_tag" \
      -- sleep "$DURATION" >/dev/null 2>&1 &
  fi
  out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "http://127.0.0.1:$port$path")"
  local threads_after=""
  [ "$pid" != - ] && after="$(cpu_ticks "$pid")" && threads_after="$(thread_ticks "$pid")"
  local rps p50 p99 total errors cpu_us="" split=""
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
  p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
  total="$(echo "$out" | awk '/requests in/ {print $1}')"
  errors="$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')"
  if [ "$pid" != - ] && [ "$total" -gt 0 ]; then
    cpu_us="$(python3 -c "import os; print(f'{($after - $before) * 1e6 / os.sysconf(\"SC_CLK_TCK\") / $total:.1f}')")"
    # Per thread name, for ordermux (nginx's worker has one thread).
    if [[ "$label" == ordermux* || "$label" == floor* ]]; then
      split="$(python3 - "$total" "$threads_before" "$threads_after" <<'PY'
import collections, os, sys
total, before, after = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split()
def by_name(pairs):
    out = collections.Counter()
    for p in pairs:
        name, ticks = p.rsplit("=", 1)
        out[name] += int(ticks)
    return out
b, a = by_name(before), by_name(after)
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
print(" ".join(f"{name}:{(a[name] - b[name]) * tick_us / total:.1f}" for name in sorted(a) if a[name] > b[name]))
PY
)"
    fi
  fi
  echo "$label rps=$rps p50=$p50 p99=$p99 requests=$total ${cpu_us:+cpu_us_per_request=$cpu_us} ${split:+(per thread, µs per request: $split)} ${errors:+errors: $errors}"
}
ratio() { # title, nginx line, ordermux line, throughput target, cpu target
  python3 - "$@" <<'PY'
import sys
title, ng, om, rps_target, cpu_target = sys.argv[1:6]
def field(line, name):
    return float(line.split(name + "=")[1].split()[0]) if name + "=" in line else None
r = field(om, "rps") / field(ng, "rps")
line = f"{title}: throughput vs nginx = {r:.2f} (target >= {rps_target})"
c_om, c_ng = field(om, "cpu_us_per_request"), field(ng, "cpu_us_per_request")
if c_om and c_ng:
    line += f"; CPU per request vs nginx = {c_om / c_ng:.2f}"
    if cpu_target != "-":
        line += f" (target <= {cpu_target})"
print(line)
PY
}

if [[ " $PARTS " == *" passthrough "* ]]; then
echo "1. pass-through GET, ${DURATION}s, $CONNECTIONS connections; proxy and stub on CPU 0, wrk on CPU 1"
run stub-direct "$stub_port" - /stores/stub/v2/orders/100 -H 'X-Auth-Token: shop-token'
ng="$(run nginx "$nginx_port" "$nginx_worker" /stores/stub/v2/orders/100 -H 'X-Auth-Token: shop-token')"; echo "$ng"
for build in "${builds[@]}"; do
  label="${build%%=*}"
  om="$(run "$label" "${ports[$label]}" "${proxy_pids[$label]}" /stores/stub/v2/orders/100 -H 'X-Auth-Token: shop-token')"; echo "$om"
  ratio "pass-through, $label" "$ng" "$om" 0.90 -
done
fi

if [[ " $PARTS " == *" create "* ]]; then
echo "2. translated create (FluentCart in -> BigCommerce out), ${DURATION}s, $CONNECTIONS connections"
ng="$(run nginx "$nginx_port" "$nginx_worker" /wp-json/fluent-cart/v2/orders -s "$dir/create.lua")"; echo "$ng"
for build in "${builds[@]}"; do
  label="${build%%=*}"
  om="$(run "$label" "${ports[$label]}" "${proxy_pids[$label]}" /wp-json/fluent-cart/v2/orders -s "$dir/create.lua")"; echo "$om"
  ratio "translated create, $label" "$ng" "$om" 0.50 2
done
for floor in "${floors[@]}"; do
  label="${floor%%=*}"
  fl="$(run "$label" "${ports[$label]}" "${proxy_pids[$label]}" /wp-json/fluent-cart/v2/orders -s "$dir/create.lua")"; echo "$fl"
  ratio "translated create, $label" "$ng" "$fl" 0.50 2
done
fi

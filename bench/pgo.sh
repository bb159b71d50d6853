#!/usr/bin/env bash
# Builds ordermux for production with profile-guided optimisation: the `dist` profile (whole-program LTO), compiled
# a second time with a profile of how the gateway's own code runs under load. Prints the binary's path:
#   target/pgo/ordermux
#
# 1. An instrumented build (counts every branch and call; target/pgo-train).
# 2. Training: what each of ordermux's users does, every step bounded (wrk's duration, replay's order count):
#      a. integrators on the embedded shop: TRAIN_SECS (default 15) of bench/load.sh's mix of creates and reads in
#         all three dialects (bench/load.lua);
#      b. integrators bridging to another platform: the same mix through a gateway in front of a BigCommerce shop
#         (a second ordermux): BigCommerce callers pass through, FluentCart and Commerce Layer callers are
#         translated, journaled and created upstream;
#      c. operators with ordermux as the shop's reverse proxy: TRAIN_SECS of BigCommerce calls the gateway does not
#         translate (orders, their sub-resources, other APIs, updates with bodies) through the same gateway;
#      d. migration teams: bench/replay.sh with 3,000 orders (REPLAY_ORDERS) into the embedded shop.
#    Every process is stopped with SIGTERM (or ends), so each writes its profile on exit.
# 3. llvm-profdata merges the profiles; the optimised build reads them (target/pgo).
#
# Needs llvm-profdata of rustc's own LLVM version: the `llvm-tools` rustup component (added here when missing).
# Each build compiles every crate from scratch in its own target directory (about 3.5 minutes each on two cores),
# so neither touches target/dist or target/release.
#
#   bench/pgo.sh
#   TRAIN_SECS=30 bench/pgo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

TRAIN_SECS="${TRAIN_SECS:-15}"
host="$(rustc -vV | sed -n 's/^host: //p')"
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  echo "adding the llvm-tools rustup component (llvm-profdata for rustc's LLVM)" >&2
  rustup component add llvm-tools >&2
fi
[ -x "$profdata" ] || { echo "no llvm-profdata at $profdata" >&2; exit 1; }

profiles="$repo/target/pgo/profiles"
rm -rf "$profiles"
mkdir -p "$profiles"
# --target: RUSTFLAGS then reach the gateway's code only, not build scripts and proc macros (which would
# write profiles of their own while compiling).
build() { # target dir, rustflags
  RUSTFLAGS="$2" cargo build --profile dist --bin ordermux --target "$host" --target-dir "$1" >&2
}
echo "1/3 instrumented build" >&2
build "$repo/target/pgo-train" "-Cprofile-generate=$profiles"
trained="$repo/target/pgo-train/$host/dist/ordermux"
export LLVM_PROFILE_FILE="$profiles/ordermux-%p-%m.profraw"

echo "2/3 training: ${TRAIN_SECS}s on the embedded shop, 2 x ${TRAIN_SECS}s in front of a BigCommerce shop, a replay" >&2
ORDERMUX_BIN="$trained" DURATION="$TRAIN_SECS" CONNECTIONS=50 bash bench/load.sh >&2

dir="$(mktemp -d "${TMPDIR:-/tmp}/ordermux-pgo-XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
shop_port="$(free_port)"
gateway_port="$(free_port)"
# Both serve bench/load.lua's demo client; the shop is the embedded one, the gateway routes every dialect to it.
common="[catalog]
file = \"$repo/catalog.toml\"
[[markets]]
id = \"usd\"
number = 1
code = \"usd\"
name = \"United States\"
currency = \"USD\"
[[clients]]
id = \"demo\"
secret = \"demo-secret\"
bigcommerce_store_hash = \"demo\""
cat >"$dir/shop.toml" <<CONF
[server]
listen = "127.0.0.1:$shop_port"
data_dir = "shop"
rate_limit_quota = 1000000000
$common
CONF
echo "demo-secret" >"$dir/shop_token"
cat >"$dir/gateway.toml" <<CONF
[server]
listen = "127.0.0.1:$gateway_port"
data_dir = "gateway"
rate_limit_quota = 1000000000
$common
[[backends]]
name = "shop"
type = "bigcommerce"
base_url = "http://127.0.0.1:$shop_port"
store_hash = "demo"
credentials = { token_file = "shop_token" }
[[routes]]
dialect = "bigcommerce"
store_hash = "demo"
backend = "shop"
[[routes]]
dialect = "fluentcart"
backend = "shop"
[[routes]]
dialect = "commercelayer"
backend = "shop"
CONF
for name in shop gateway; do
  RUST_LOG=warn "$trained" serve --config "$dir/$name.toml" >"$dir/$name.out" 2>"$dir/$name.err" &
  pids+=($!)
done
for port in "$shop_port" "$gateway_port"; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
BASE_URL="http://127.0.0.1:$gateway_port" DURATION="$TRAIN_SECS" CONNECTIONS=50 bash bench/load.sh >&2
# c. An order to read and update through the pass-through, then a mix of what a storefront sends its shop.
order="$(curl -sf -H 'X-Auth-Token: demo-secret' -H 'Content-Type: application/json' \
  "http://127.0.0.1:$gateway_port/stores/demo/v2/orders" \
  -d '{"billing_address":{"first_name":"A","last_name":"B","street_1":"1 Main St","city":"Austin","zip":"78701","country_iso2":"US","email":"proxy@example.com"},"products":[{"product_id":111,"quantity":1}]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
cat >"$dir/proxy.lua" <<LUA
-- Untranslated BigCommerce traffic, streamed through the gateway to the shop (a 404 from the shop is a reply too).
local paths = {"/stores/demo/v2/orders/$order", "/stores/demo/v2/orders/$order/products",
  "/stores/demo/v2/orders/$order/shipping_addresses", "/stores/demo/v2/orders?limit=5&status_id=1",
  "/stores/demo/v3/catalog/products?limit=10", "/stores/demo/v2/customers?email=proxy%40example.com"}
local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then
    return wrk.format("PUT", "/stores/demo/v2/orders/$order",
      {["X-Auth-Token"] = "demo-secret", ["Content-Type"] = "application/json"}, '{"staff_notes":"call ' .. n .. '"}')
  end
  return wrk.format("GET", paths[n % #paths + 1], {["X-Auth-Token"] = "demo-secret", ["Accept"] = "application/json"})
end
LUA
wrk -t2 -c50 -d"${TRAIN_SECS}s" -s "$dir/proxy.lua" "http://127.0.0.1:$gateway_port" >&2
cleanup
pids=()
trap - EXIT
# The instrumented build is slow: the replay's target verdicts would only say so.
TARGETS=0 ORDERMUX_BIN="$trained" COUNT="${REPLAY_ORDERS:-3000}" bash bench/replay.sh >&2

unset LLVM_PROFILE_FILE
echo "3/3 optimised build" >&2
ls "$profiles"/*.profraw >/dev/null || { echo "training wrote no profile" >&2; exit 1; }
"$profdata" merge -o "$repo/target/pgo/merged.profdata" "$profiles"
build "$repo/target/pgo" "-Cprofile-use=$repo/target/pgo/merged.profdata"
cp "$repo/target/pgo/$host/dist/ordermux" "$repo/target/pgo/ordermux"
echo "target/pgo/ordermux"

-- wrk script for bench/load.sh: a mix of creates and reads across the three dialects on keep-alive connections.
-- Every create carries a unique Idempotency-Key. Shares are set below (out of 10).

local token = os.getenv("CL_TOKEN") or ""
local cl_id = os.getenv("CL_ORDER_ID") or ""
local fc_id = os.getenv("FC_ORDER_ID") or "1"
local bc_id = os.getenv("BC_ORDER_ID") or "100"
-- UNIQUE_BUYERS=1: every Commerce Layer create names a buyer never seen before (a new customer each time), as in a
-- migration; otherwise they all name one returning buyer.
local unique_buyers = os.getenv("UNIQUE_BUYERS") == "1"
local basic = "Basic ZGVtbzpkZW1vLXNlY3JldA==" -- demo:demo-secret

local bc_create = [[{"billing_address":{"first_name":"Load","last_name":"Test","street_1":"1 Main St","city":"Austin","state":"Texas","zip":"78701","country":"United States","country_iso2":"US","email":"load@example.com"},"products":[{"product_id":111,"quantity":2},{"product_id":112,"quantity":1}]}]]
local fc_create = [[{"customer_id":1,"order_items":[{"object_id":1001,"quantity":1},{"object_id":1002,"quantity":2}]}]]
local cl_create = [[{"data":{"type":"orders","attributes":{"customer_email":"load@example.com"},"relationships":{"market":{"data":{"type":"markets","id":"usd"}}}}}]]

local counter = 0

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(thread_id * 7919 + os.time())
end

local function key()
  counter = counter + 1
  return "load-" .. os.time() .. "-" .. thread_id .. "-" .. counter .. "-" .. math.random(1, 1e9)
end

request = function()
  local r = math.random(1, 10)
  if r == 1 then
    return wrk.format("POST", "/stores/demo/v2/orders",
      {["X-Auth-Token"] = "demo-secret", ["Content-Type"] = "application/json", ["Idempotency-Key"] = key()}, bc_create)
  elseif r == 2 then
    return wrk.format("POST", "/wp-json/fluent-cart/v2/orders",
      {["Authorization"] = basic, ["Content-Type"] = "application/json", ["Idempotency-Key"] = key()}, fc_create)
  elseif r == 3 then
    return wrk.format("POST", "/api/orders",
      {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/vnd.api+json",
       ["Accept"] = "application/vnd.api+json", ["Idempotency-Key"] = key()},
      unique_buyers and (string.gsub(cl_create, "load@example%.com",
        "buyer-" .. thread_id .. "-" .. counter .. "-" .. math.random(1, 1e9) .. "@example.com")) or cl_create)
  elseif r <= 5 then
    return wrk.format("GET", "/stores/demo/v2/orders/" .. bc_id, {["X-Auth-Token"] = "demo-secret"})
  elseif r <= 7 then
    return wrk.format("GET", "/wp-json/fluent-cart/v2/orders/" .. fc_id, {["Authorization"] = basic})
  elseif r <= 9 then
    return wrk.format("GET", "/api/orders/" .. cl_id .. "?include=line_items",
      {["Authorization"] = "Bearer " .. token, ["Accept"] = "application/vnd.api+json"})
  else
    return wrk.format("GET", "/stores/demo/v2/orders?limit=10", {["X-Auth-Token"] = "demo-secret"})
  end
end

local failures = 0
local seen = {}
response = function(status, headers, body)
  if status >= 400 then
    failures = failures + 1
    local kind = status .. ":" .. string.sub(body, 1, 60)
    if not seen[kind] then
      seen[kind] = true
      io.stderr:write("non-2xx reply " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
    end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.1f rps=%.0f p50_ms=%.2f p99_ms=%.2f errors_status=%d errors_socket=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

#!/usr/bin/env python3
"""Seeds the fuzz corpora from fixtures/ (run from the repository root; `cargo fuzz run` then mutates them).

Each input is one selector byte followed by a document. translate: the selector names the source dialect
(0 FluentCart, 1 Commerce Layer, 2 BigCommerce) plus 3 x the default currency (0 none, 1 USD). bodies: the
selector names the route (see fuzz_targets/bodies.rs); each fixture order's line items, addresses and its
whole document become bodies of the routes that take them. entry: whole requests at the gateway's front door (see
fuzz_targets/entry.rs): each dialect's create fixtures, reads, lists with filters, actions, and a few raw
connections. replies: what a shop answers (see fuzz_targets/replies.rs): the upstream platform's order fixtures
and error bodies, as the answer to each request the target sends."""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIALECTS = {"fluentcart": 0, "commercelayer": 1, "bigcommerce": 2}


def write(target, name, selector, body):
    out = ROOT / "fuzz" / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(bytes([selector]) + body)


for dialect, index in DIALECTS.items():
    for path in sorted((ROOT / "fixtures" / dialect).glob("*/*/*.json")):
        raw = path.read_bytes()
        name = f"{dialect}-{path.parent.parent.name}-{path.parent.name}-{path.stem}"
        write("translate", name, index + 3, raw)
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        # Route bodies shaped like the ones the API takes, from the fixture's own members.
        if dialect == "commercelayer" and isinstance(doc, dict) and isinstance(doc.get("data"), dict):
            data = doc["data"]
            update = {"data": {"type": "orders", "id": data.get("id", "x"),
                               "attributes": {"customer_email": "a@b.co", "_place": True}}}
            write("bodies", name + "-update", 0, json.dumps(update).encode())
            for inc in doc.get("included", []):
                if inc.get("type") == "line_items":
                    write("bodies", f"{name}-li-{inc.get('id')}", 1,
                          json.dumps({"data": {**inc, "id": None}}).encode())
                    write("bodies", f"{name}-liu-{inc.get('id')}", 2, json.dumps({"data": inc}).encode())
                if inc.get("type") == "addresses":
                    write("bodies", f"{name}-addr-{inc.get('id')}", 3, json.dumps({"data": inc}).encode())
        if dialect == "bigcommerce" and isinstance(doc, dict):
            write("bodies", name + "-update", 4, raw)

# FluentCart's action bodies, one of each.
write("bodies", "fluentcart-paid", 5, b'{"payment_method":"offline","transaction_type":"charge","mark_paid_note":"n"}')
write("bodies", "fluentcart-refund", 6, b'{"refund_info":{"transaction_id":1,"amount":"12.50","cancelSubscription":"false"}}')
write("bodies", "fluentcart-statuses", 7, b'{"action":"change_shipping_status","statuses":{"shipping_status":"shipped"}}')
write("bodies", "fluentcart-customer", 8, b'{"customer_id":2}')


# entry: the selector names the dialect and the method, the flags byte what the target leaves out or adds.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ENTRY_DIALECTS = ["fluentcart", "commercelayer", "bigcommerce"]


def entry_selector(dialect, method):
    d, m = ENTRY_DIALECTS.index(dialect), METHODS.index(method)
    return next(s for s in range(256) if s % 4 != 0 and (s // 4) % 3 == d and (s // 12) % 7 == m)


def entry(name, dialect, method, path, body=b"", flags=0):
    write("entry", name, entry_selector(dialect, method), bytes([flags]) + path.encode() + b"\n" + body)


for dialect in ENTRY_DIALECTS:
    for path in sorted((ROOT / "fixtures" / dialect / "request").glob("*/*.json")):
        entry(f"{dialect}-create-{path.parent.name}-{path.stem}", dialect, "POST", "/orders", path.read_bytes(), flags=2)
for name, dialect, method, path, body in [
    ("fc-list", "fluentcart", "GET", "/orders?per_page=5&page=1&search=ada&order_by=id&order_type=desc", b""),
    ("fc-get", "fluentcart", "GET", "/orders/1", b""),
    ("fc-paid", "fluentcart", "POST", "/orders/1/mark-as-paid", b'{"payment_method":"offline","mark_paid_note":"n"}'),
    ("fc-refund", "fluentcart", "POST", "/orders/1/refund", b'{"refund_info":{"transaction_id":1,"amount":"1.00"}}'),
    ("fc-statuses", "fluentcart", "PUT", "/orders/2/statuses", b'{"action":"change_order_status","statuses":{"order_status":"processing"}}'),
    ("fc-update", "fluentcart", "POST", "/orders/2", b'{"note":"n"}'),
    ("fc-bulk", "fluentcart", "POST", "/orders/do-bulk-action", b'{"action":"delete_orders","order_ids":[3]}'),
    ("fc-transactions", "fluentcart", "GET", "/orders/1/transactions", b""),
    ("fc-override", "fluentcart", "POST", "/orders/4?_method=DELETE", b""),
    ("cl-list", "commercelayer", "GET", "/orders?filter[q][status_eq]=placed&sort=-created_at&page[size]=5&include=line_items", b""),
    ("cl-markets", "commercelayer", "GET", "/markets", b""),
    ("cl-address", "commercelayer", "POST", "/addresses", b'{"data":{"type":"addresses","attributes":{"first_name":"A","last_name":"B","line_1":"1 Main","city":"Austin","zip_code":"78701","state_code":"TX","country_code":"US","phone":"1"}}}'),
    ("bc-list", "bigcommerce", "GET", "/orders?status_id=11&min_total=1.5&sort=date_created:desc&limit=5", b""),
    ("bc-count", "bigcommerce", "GET", "/orders/count", b""),
    ("bc-get", "bigcommerce", "GET", "/orders/100", b""),
    ("bc-products", "bigcommerce", "GET", "/orders/100/products", b""),
    ("bc-update", "bigcommerce", "PUT", "/orders/100", b'{"status_id":2,"staff_notes":"n"}'),
    ("bc-statuses", "bigcommerce", "GET", "/order_statuses", b""),
]:
    entry(name, dialect, method, path, body)
for name, raw in [
    ("raw-get", b"GET /wp-json/fluent-cart/v2/orders HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("raw-smuggle", b"POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("raw-chunked", b"POST /stores/demo/v2/orders HTTP/1.1\r\nHost: x\r\nX-Auth-Token: demo-secret\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
    ("raw-pipelined", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n"),
]:
    write("entry", name, 0, raw)


# replies: selector = the request (0-3 FluentCart callers, shop BigCommerce; 4-7 Commerce Layer callers, shop
# FluentCart; 8-11 BigCommerce callers, shop Commerce Layer), then the status index, header lines, an empty line and
# the body.
STATUS_INDEX = {200: 0, 201: 1, 204: 2, 404: 6, 422: 8, 429: 9, 503: 12}
SHOPS = {"bigcommerce": range(0, 4), "fluentcart": range(4, 8), "commercelayer": range(8, 12)}
ERRORS = {
    "bigcommerce": b'[{"status":422,"message":"The field status_id is invalid."}]',
    "fluentcart": b'{"code":"rest_invalid_param","message":"Invalid parameter(s): order_id","data":{"status":422}}',
    "commercelayer": b'{"errors":[{"title":"is invalid","detail":"quantity - is invalid","code":"VALIDATION_ERROR","source":{"pointer":"/data/attributes/quantity"},"status":"422"}]}',
}
RATE = b"X-Rate-Limit-Requests-Left: 3\nX-Rate-Limit-Requests-Quota: 150\nX-Rate-Limit-Time-Window-Ms: 30000\nX-Rate-Limit-Time-Reset-Ms: 1500\nX-Ratelimit-Limit: 50\nX-Ratelimit-Interval: 10\nX-Ratelimit-Remaining: 2"
for shop, selectors in SHOPS.items():
    orders = sorted((ROOT / "fixtures" / shop / "order" / "ok").glob("*.json"))[:4]
    for selector in selectors:
        for i, path in enumerate(orders):
            head = b"Content-Type: application/json" + (b"\n" + RATE if i == 0 else b"")
            write("replies", f"{shop}-{selector}-{path.stem}", selector,
                  bytes([STATUS_INDEX[200 if i % 2 else 201]]) + head + b"\n\n" + path.read_bytes())
        write("replies", f"{shop}-{selector}-error", selector, bytes([STATUS_INDEX[422]]) + b"Content-Type: application/json\n\n" + ERRORS[shop])
        write("replies", f"{shop}-{selector}-429", selector, bytes([STATUS_INDEX[429]]) + b"Retry-After: 1\nX-Retry-After: 1\n\n")
        write("replies", f"{shop}-{selector}-html", selector, bytes([STATUS_INDEX[503]]) + b"Content-Type: text/html\n\n<html><body>Maintenance</body></html>")

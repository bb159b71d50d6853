#!/usr/bin/env python3
"""Seeds the fuzz corpora from fixtures/ (run from the repository root; `cargo fuzz run` then mutates them).

Each input is one selector byte followed by a document. translate: the selector names the source dialect
(0 FluentCart, 1 Commerce Layer, 2 BigCommerce) plus 3 x the default currency (0 none, 1 USD). bodies: the
selector names the route (see fuzz_targets/bodies.rs); each fixture order's line items, addresses and its
whole document become bodies of the routes that take them."""
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

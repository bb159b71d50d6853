"""BigCommerce v2 scenario with the unmodified PyPI `bigcommerce` client.

Usage: ORDERMUX_URL=http://127.0.0.1:PORT python bigcommerce_py.py
The library hard-codes "https://" in OAuthConnection.full_path; the only harness trick is to
override that method on the connection *instance* so requests go to the local plain-HTTP gateway.
"""

import importlib.metadata
import os
import sys
import urllib.parse

import bigcommerce
from bigcommerce.exception import ClientRequestException

BASE = os.environ.get("ORDERMUX_URL", "http://127.0.0.1:8080").rstrip("/")
STORE_HASH = "demo"
TOKEN = "demo-secret"

step = "setup"


def g(obj, key, default=None):
    """Field access: resource objects shadow dict.get with a classmethod that fetches by id."""
    return dict.get(obj, key, default)


_UNSET = object()


def check(cond, what, got=_UNSET):
    if not cond:
        extra = "" if got is _UNSET else f" (got {got!r})"
        raise AssertionError(f"[{step}] {what}{extra}")


def main():
    global step
    host = urllib.parse.urlsplit(BASE).netloc
    api = bigcommerce.api.BigcommerceApi(
        client_id="demo-client", store_hash=STORE_HASH, access_token=TOKEN, host=host
    )
    conn = api.connection
    # The one-line harness override: same path template, plain http scheme and the gateway's host:port.
    conn.full_path = lambda url: BASE + conn.api_path.format(conn.store_hash, url)

    step = "create order"
    created = api.Orders.create(
        billing_address={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "street_1": "1 Main St",
            "city": "Austin",
            "state": "Texas",
            "zip": "78701",
            "country": "United States",
            "country_iso2": "US",
            "email": "ada@example.com",
        },
        shipping_addresses=[
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "street_1": "2 Side St",
                "city": "Austin",
                "state": "Texas",
                "zip": "78702",
                "country": "United States",
                "country_iso2": "US",
                "email": "ada@example.com",
            }
        ],
        products=[
            {"product_id": 111, "quantity": 2},
            {"name": "Gift wrap", "quantity": 1, "price_inc_tax": 10.0, "price_ex_tax": 10.0},
        ],
    )
    oid = g(created, "id")
    check(isinstance(oid, int) and oid > 0, "order id is a positive integer", oid)
    check(g(created, "status_id") == 1, "new order status_id is 1 (Pending)", g(created, "status_id"))
    check(g(created, "status") == "Pending", "new order status is 'Pending'", g(created, "status"))
    check(g(created, "currency_code") == "USD", "currency_code USD", g(created, "currency_code"))
    # 2 x 25.00 (catalog) + 1 x 10.00 (custom) = 60.00, 4-decimal strings
    check(g(created, "subtotal_ex_tax") == "60.0000", "subtotal_ex_tax", g(created, "subtotal_ex_tax"))
    check(g(created, "total_inc_tax") == "60.0000", "total_inc_tax", g(created, "total_inc_tax"))
    check(g(created, "items_total") == 3, "items_total", g(created, "items_total"))

    step = "rate limit headers"
    rl = conn.rate_limit
    for key in ("ms_until_reset", "window_size_ms", "requests_remaining", "requests_quota"):
        check(isinstance(rl.get(key), int), f"conn.rate_limit[{key!r}] is an int", rl)
    check(rl["requests_quota"] > 0 and 0 <= rl["requests_remaining"] <= rl["requests_quota"],
          "requests_remaining within quota", rl)

    step = "get order"
    order = api.Orders.get(oid)
    check(order.id == oid, "GET returns the same id", g(order, "id"))
    check(g(order, "total_inc_tax") == "60.0000", "total_inc_tax on GET", g(order, "total_inc_tax"))
    check(g(order, "billing_address", {}).get("zip") == "78701", "billing zip", g(order, "billing_address"))
    date_created = g(order, "date_created", "")
    check(date_created.endswith("+0000") and "," in date_created, "date_created is RFC 2822 UTC", date_created)

    step = "list order products"
    products = list(order.products())
    check(len(products) == 2, "two order products", len(products))
    by_name = {g(p, "name"): p for p in products}
    catalog = [p for p in products if g(p, "product_id") == 111]
    check(len(catalog) == 1, "one line with product_id 111", products)
    check(g(catalog[0], "quantity") == 2, "catalog line quantity 2", g(catalog[0], "quantity"))
    check(g(catalog[0], "price_ex_tax") == "25.0000", "catalog line price_ex_tax", g(catalog[0], "price_ex_tax"))
    check(g(catalog[0], "total_inc_tax") == "50.0000", "catalog line total_inc_tax", g(catalog[0], "total_inc_tax"))
    check("Gift wrap" in by_name, "custom product 'Gift wrap' present", list(by_name))
    custom = by_name["Gift wrap"]
    check(g(custom, "quantity") == 1, "custom line quantity", g(custom, "quantity"))
    check(g(custom, "total_inc_tax") == "10.0000", "custom line total_inc_tax", g(custom, "total_inc_tax"))
    # orderProducts in the spec has price_inc_tax / price_ex_tax for every line, custom lines included
    check(g(custom, "price_inc_tax") == "10.0000", "custom line price_inc_tax", {k: v for k, v in custom.items() if not k.startswith("_")})
    check(g(custom, "price_ex_tax") == "10.0000", "custom line price_ex_tax", g(custom, "price_ex_tax"))

    step = "list shipping addresses"
    addresses = list(order.shipping_addresses())
    check(len(addresses) == 1, "one shipping address", addresses)
    check(g(addresses[0], "zip") == "78702", "shipping zip", g(addresses[0], "zip"))
    check(g(addresses[0], "street_1") == "2 Side St", "shipping street_1", g(addresses[0], "street_1"))

    step = "list orders"
    orders = list(api.Orders.all(limit=50, sort="date_created:desc"))
    check(any(g(o, "id") == oid for o in orders), "new order appears in the list", [g(o, "id") for o in orders])
    # the client turns a 204 into an empty Orders mapping (not a list)
    past_end = api.Orders.all(page=100000, limit=50)
    check(not isinstance(past_end, list) and g(past_end, "id") is None, "a page past the end is empty", past_end)
    check(conn._last_response.status_code == 204, "past-the-end status", conn._last_response.status_code)
    count = api.Orders.count()
    check(isinstance(count, int) and count >= 1, "orders/count", count)

    step = "list order statuses"
    statuses = list(api.OrderStatuses.all())
    by_id = {g(s, "id"): s for s in statuses}
    check(set(range(15)) <= set(by_id), "status ids 0..14 present", sorted(by_id))
    check(g(by_id[11], "name") == "Awaiting Fulfillment", "status 11 name", g(by_id[11], "name"))
    for key in ("id", "name", "system_label", "custom_label", "system_description", "order"):
        check(key in by_id[1], f"status item has {key}", by_id[1])

    step = "update status_id 11"
    updated = order.update(status_id=11)
    check(g(updated, "id") == oid, "PUT returns the order", g(updated, "id"))
    check(g(updated, "status_id") == 11, "status_id updated", g(updated, "status_id"))
    check(g(updated, "status") == "Awaiting Fulfillment", "status name updated", g(updated, "status"))
    again = api.Orders.get(oid)
    check(g(again, "status_id") == 11, "status_id persisted", g(again, "status_id"))

    step = "404 is a ClientRequestException"
    try:
        api.Orders.get(987654321)
        check(False, "GET of a missing order must fail")
    except ClientRequestException as e:
        check(e.response.status_code == 404, "status 404", e.response.status_code)
        body = e.response.json()
        check(isinstance(body, list) and body and body[0].get("status") == 404,
              "error body is [{status, message}]", body)

    print(f"bigcommerce (PyPI) {importlib.metadata.version('bigcommerce')} "
          f"ok: order {oid}, rate_limit {conn.rate_limit}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL bigcommerce_py: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # library exceptions carry the server's answer in their message
        print(f"FAIL bigcommerce_py [{step}]: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)

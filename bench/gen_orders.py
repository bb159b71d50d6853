#!/usr/bin/env python3
"""Generates realistic order create requests as NDJSON, for `ordermux replay` benchmarks (stdlib only).

One line per order. By default each line is an envelope that carries the order's source identity next to the
create request, so a replay is keyed by the source id and never by anything inside the document:

    {"source_id": "gen-<n>", "document": <create request in the chosen dialect>}

With --bare each line is the create request alone (what `ordermux translate` reads).

    python3 bench/gen_orders.py --count 100000 --dialect fluentcart --seed 1 > orders.ndjson
    python3 bench/gen_orders.py --count 1000 --dialect bigcommerce --out bc.ndjson
    python3 bench/gen_orders.py --count 100000 --dialect mixed --out-dir DIR   # DIR/{fluentcart,commercelayer,bigcommerce}.ndjson

Orders are numbered 1..count; with --dialect mixed order n goes to dialect (n - 1) % 3, so the source ids are unique
across the three files and each file holds a third of the orders. Every order draws from its own random stream, so
for a given seed and --buyers (default: count / 3) order n is the same whatever the count or --start: a smaller run
is a prefix of a larger one, and --start shards a run.

What an order holds: 1 to 6 lines drawn from the catalog (`catalog.toml` at the repository root, or --catalog),
mostly left unpriced (the shop takes the catalog price), sometimes priced by the caller (catalog price, or a sale
price); now and then an uncatalogued line with its own name and price; varied quantities; a currency the catalog
prices (each line only uses products priced in it); buyer emails buyer<k>@example.com with repeat buyers, and now
and then the catalog's seeded customer; billing and shipping addresses in a country of the currency (digital-only
orders ship nowhere); shipping, coupons/discounts and notes in the dialect's own spelling.

Dialect shapes (each accepted by the codec's `decode_create_request` and by the embedded shop's create):
  * fluentcart: `order_items` with `object_id`/`post_id` (catalog) or `is_custom` (uncatalogued) and money in
    cents (FluentCart always scales by 100, also for JPY); the customer is named by a `customer` object with an
    email (found or created by email) or, for the catalog's seeded customer, by `customer_id` 1.
  * commercelayer: a JSON:API document, relationships market (ids usd/eur/jpy: the markets of the shipped
    gateway.toml), customer, addresses and line_items, all resources in `included`; `*_cents` in the currency's
    Commerce Layer exponent; uncatalogued lines have a SKU the catalog does not list and an external price.
  * bigcommerce: v2 create with `billing_address` (required), `shipping_addresses`, `products` (`product_id`, or
    name + prices for a custom product), decimal strings, `default_currency_code` unless USD (the configured
    default currency; sometimes stated anyway).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import os
import random
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

DIALECTS = ("fluentcart", "commercelayer", "bigcommerce")
REPO = Path(__file__).resolve().parent.parent

# ISO 4217 exponents of the currencies a catalog is likely to price (anything else: 2).
EXPONENTS = {"JPY": 0, "KRW": 0, "HUF": 2, "ISK": 0, "CLP": 0, "VND": 0, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3}
# Commerce Layer states these currencies' *_cents unscaled (dialects/commercelayer/formats.toml).
CL_CENTS_EXPONENT = {"JPY": 0, "HUF": 0}
# Commerce Layer market ids of the shipped gateway.toml, one per currency.
CL_MARKETS = {"USD": ("usd", "United States"), "EUR": ("eur", "Europe"), "JPY": ("jpy", "Japan")}
CURRENCY_WEIGHTS = {"USD": 50, "EUR": 35, "JPY": 15}

FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia",
         "Niklaus", "Hedy", "Tim", "Sophie", "Lukas", "Emma", "Noah", "Mia", "Léa", "Jonas", "Chloé", "Mateo",
         "Lucía", "Giulia", "Marco", "Daan", "Sanne", "Haruto", "Yui", "Sota", "Hina", "Olivia", "Liam", "Ava"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
        "Dijkstra", "Perlman", "Wirth", "Lamarr", "Berners-Lee", "Müller", "Schmidt", "Martin", "Bernard",
        "García", "Rossi", "de Vries", "Jansen", "Sato", "Suzuki", "Takahashi", "Tanaka", "Smith", "Johnson",
        "O'Brien", "Nguyen", "Kowalski"]
STREETS = {
    "US": ["Main St", "Oak Ave", "Maple Dr", "Congress Ave", "Market St", "5th Ave", "Elm St", "Sunset Blvd"],
    "DE": ["Hauptstraße", "Torstraße", "Bahnhofstraße", "Schillerstraße", "Lindenallee"],
    "FR": ["rue de Rivoli", "avenue Victor Hugo", "rue du Bac", "boulevard Voltaire"],
    "NL": ["Prinsengracht", "Kalverstraat", "Damrak", "Herengracht"],
    "ES": ["Calle Mayor", "Gran Vía", "Calle de Alcalá", "Paseo del Prado"],
    "IT": ["Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante"],
    "JP": ["Jingumae", "Shibuya", "Ginza", "Umeda", "Sakae"],
}
# (city, region, postal code pattern: # = digit) per country.
CITIES = {
    "US": [("Austin", "TX", "787##"), ("New York", "NY", "100##"), ("San Francisco", "CA", "941##"),
           ("Chicago", "IL", "606##"), ("Seattle", "WA", "981##"), ("Boston", "MA", "021##")],
    "DE": [("Berlin", "BE", "10###"), ("München", "BY", "80###"), ("Hamburg", "HH", "20###"),
           ("Köln", "NW", "50###")],
    "FR": [("Paris", "IDF", "750##"), ("Lyon", "ARA", "6900#"), ("Marseille", "PAC", "130##")],
    "NL": [("Amsterdam", "NH", "10## AB"), ("Utrecht", "UT", "35## CD"), ("Rotterdam", "ZH", "30## EF")],
    "ES": [("Madrid", "MD", "280##"), ("Barcelona", "CT", "080##"), ("Valencia", "VC", "460##")],
    "IT": [("Roma", "RM", "001##"), ("Milano", "MI", "201##"), ("Torino", "TO", "101##")],
    "JP": [("Shibuya-ku", "13", "150-00##"), ("Chuo-ku", "13", "104-00##"), ("Osaka-shi", "27", "530-00##"),
           ("Nagoya-shi", "23", "460-00##")],
}
COUNTRY_NAMES = {"US": "United States", "DE": "Germany", "FR": "France", "NL": "Netherlands", "ES": "Spain",
                 "IT": "Italy", "JP": "Japan"}
PHONE_PREFIX = {"US": "+1 512 555 ", "DE": "+49 30 5557 ", "FR": "+33 1 55 50 ", "NL": "+31 20 555 ",
                "ES": "+34 91 555 ", "IT": "+39 06 5555 ", "JP": "+81 3-5555-"}
COUNTRIES_BY_CURRENCY = {"USD": (["US"], [1]), "EUR": (["DE", "FR", "NL", "ES", "IT"], [35, 25, 15, 15, 10]),
                         "JPY": (["JP"], [1])}
COMPANIES = ["Acme Corp", "Initech", "Globex GmbH", "Umbrella BV", "Hooli", "Kaisha KK"]
# Uncatalogued lines: (name, SKU or None, fulfillment, price in USD major units); other currencies scale it.
CUSTOM_LINES = [("Gift wrap", None, "service", "4.50"), ("Engraving: initials", "SVC-ENGRAVE", "service", "9.00"),
                ("Rush handling", None, "service", "15.00"), ("Poster, 30x40 cm (custom print)", "POSTER-CUSTOM",
                                                               "physical", "29.00"),
                ("Replacement lid", "SPARE-LID", "physical", "6.75"), ("Greeting card", "CARD-GREET",
                                                                       "physical", "3.95")]
USD_TO = {"USD": Decimal(1), "EUR": Decimal("0.92"), "JPY": Decimal(150)}
NOTES = ["Please leave the parcel with the neighbour.", "Gift — no prices on the packing slip, please.",
         "Ring twice.", "Deliver after 6 pm.", "Bitte vor 18 Uhr liefern.", "Merci de livrer au gardien.",
         "置き配を希望します。", "Back door, the front one is being painted.", "Birthday present for my sister!"]
SHIPPING_METHODS = {"USD": [("UPS Ground", "6.95"), ("USPS Priority", "9.50"), ("FedEx 2Day", "18.00")],
                    "EUR": [("DHL Paket", "4.99"), ("Colissimo", "6.90"), ("PostNL", "5.25")],
                    "JPY": [("Yamato Transport TA-Q-BIN", "700"), ("Japan Post Yu-Pack", "820")]}
COUPONS = [("WELCOME10", 10), ("SPRING15", 15), ("LOYAL5", 5)]  # percent of the subtotal
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency, 2)


def to_minor(major: str | Decimal, currency: str) -> int:
    value = Decimal(major).scaleb(exponent(currency))
    if value != value.to_integral_value():
        raise ValueError(f"{major} {currency} has more places than the currency")
    return int(value)


def major_text(minor: int, currency: str, places: int | None = None) -> str:
    """Exact decimal text in major units, with `places` decimals (default: the currency's exponent)."""
    e = exponent(currency)
    d = Decimal(minor).scaleb(-e)
    return f"{d:.{e if places is None else places}f}"


def round_minor(value: Decimal) -> int:
    return int(value.quantize(Decimal(1)))


class Catalog:
    def __init__(self, path: Path):
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        self.products = []
        for p in raw.get("products", []):
            prices = {c: to_minor(v, c) for c, v in p.get("prices", {}).items()}
            self.products.append({
                "sku": p["sku"],
                "name": p.get("name", p["sku"]),
                "prices": prices,
                "post_id": p.get("fluentcart_post_id"),
                "object_id": p.get("fluentcart_object_id"),
                "product_id": p.get("bigcommerce_product_id"),
                "digital": p.get("fulfillment_type") == "digital",
            })
        # Only currencies the catalog prices (weighted by the usual mix; unknown ones get a small weight).
        priced = sorted({c for p in self.products for c in p["prices"]})
        if not priced:
            raise SystemExit(f"{path}: no product has a price")
        self.currencies = priced
        self.currency_weights = [CURRENCY_WEIGHTS.get(c, 5) for c in priced]
        seeded = raw.get("customers", [])
        self.seeded = seeded[0] if seeded else None

    def priced_in(self, currency: str) -> list[dict]:
        return [p for p in self.products if currency in p["prices"]]


def digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pattern)


def person(rng: random.Random, buyer: int) -> dict:
    # A buyer keeps their name across orders: derive it from the buyer number, not the order stream.
    r = random.Random(buyer * 7919)
    return {"first_name": r.choice(FIRST), "last_name": r.choice(LAST), "email": f"buyer{buyer}@example.com"}


def address(rng: random.Random, who: dict, country: str) -> dict:
    city, region, postal = rng.choice(CITIES[country])
    street = rng.choice(STREETS[country])
    number = str(rng.randint(1, 250))
    line1 = f"{street} {number}" if country in ("DE", "NL", "IT", "ES") else (
        f"{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)} {street}" if country == "JP" else f"{number} {street}")
    line2 = None
    if rng.random() < 0.25:
        line2 = rng.choice(["Apt ", "Suite ", "Unit ", "Floor "]) + str(rng.randint(1, 40))
    return {
        "first_name": who["first_name"],
        "last_name": who["last_name"],
        "company": rng.choice(COMPANIES) if rng.random() < 0.12 else None,
        "line1": line1,
        "line2": line2,
        "city": city,
        "region": region,
        "postal_code": digits(rng, postal),
        "country": country,
        "phone": PHONE_PREFIX[country] + f"{rng.randint(0, 9999):04d}",
        "email": who["email"],
    }


def quantity(rng: random.Random, digital: bool) -> int:
    if digital:
        return 1 if rng.random() < 0.95 else 2
    r = rng.random()
    if r < 0.60:
        return 1
    if r < 0.80:
        return 2
    if r < 0.90:
        return 3
    if r < 0.96:
        return rng.randint(4, 5)
    if r < 0.99:
        return rng.randint(6, 10)
    return rng.randint(11, 50)


def plan_order(n: int, seed: int, catalog: Catalog, buyers: int) -> dict:
    """The order, dialect-neutral: amounts in the currency's minor units."""
    rng = random.Random(seed * 1_000_003 + n)
    currency = rng.choices(catalog.currencies, catalog.currency_weights)[0]
    countries, weights = COUNTRIES_BY_CURRENCY.get(currency, (["US"], [1]))
    country = rng.choices(countries, weights)[0]
    seeded = catalog.seeded is not None and rng.random() < 0.03
    if seeded:
        who = {"first_name": catalog.seeded.get("first_name", "Ada"),
               "last_name": catalog.seeded.get("last_name", "Lovelace"), "email": catalog.seeded["email"]}
    else:
        who = person(rng, rng.randint(1, buyers))

    products = catalog.priced_in(currency)
    count = rng.choices([1, 2, 3, 4, 5, 6], [30, 25, 18, 12, 9, 6])[0]
    custom = 1 if rng.random() < 0.08 else 0
    if custom and count == 1 and rng.random() < 0.7:
        count = 2  # a custom line usually rides along with catalog items
    catalog_count = count - custom
    picks = rng.sample(products, min(catalog_count, len(products)))
    picks += [rng.choice(products) for _ in range(catalog_count - len(picks))]
    lines = []
    for p in picks:
        catalog_price = p["prices"][currency]
        r = rng.random()
        if r < 0.70:
            price = None  # the shop takes the catalog price
        elif r < 0.95:
            price = catalog_price
        else:
            price = max(1, round_minor(Decimal(catalog_price) * Decimal("0.9")))  # a sale price
        lines.append({"kind": "catalog", "product": p, "quantity": quantity(rng, p["digital"]),
                      "price": price, "effective": catalog_price if price is None else price,
                      "digital": p["digital"]})
    if custom:
        name, sku, fulfillment, usd = rng.choice(CUSTOM_LINES)
        price = round_minor((Decimal(usd) * USD_TO.get(currency, Decimal(1))).scaleb(exponent(currency)))
        lines.insert(rng.randrange(len(lines) + 1),
                     {"kind": "custom", "name": name, "sku": sku, "fulfillment": fulfillment,
                      "quantity": 1 if fulfillment == "service" else rng.randint(1, 3), "price": max(1, price),
                      "effective": max(1, price), "digital": False})
    subtotal = sum(l["effective"] * l["quantity"] for l in lines)
    physical = any(l["kind"] == "catalog" and not l["digital"] for l in lines) or any(
        l["kind"] == "custom" and l["fulfillment"] == "physical" for l in lines)

    billing = address(rng, who, country)
    shipping = None
    ship_method = None
    if physical:
        if rng.random() < 0.15:  # a gift: shipped to someone else
            other = person(rng, rng.randint(1, buyers))
            shipping = address(rng, {**other, "email": who["email"]}, country)
        else:
            shipping = dict(billing)
        options = SHIPPING_METHODS.get(currency)
        if options:
            method, cost = rng.choice(options)
            ship_method = (method, to_minor(cost, currency))
        free_over = {"USD": 7500, "EUR": 6000, "JPY": 10000}.get(currency)
        if ship_method and free_over and subtotal >= free_over:
            ship_method = (ship_method[0], 0)
    coupon = None
    if rng.random() < 0.10:
        code, percent = rng.choice(COUPONS)
        coupon = (code, round_minor(Decimal(subtotal) * percent / 100))
    return {
        "n": n,
        "rng": rng,
        "currency": currency,
        "customer": who,
        "seeded": seeded,
        "lines": lines,
        "subtotal": subtotal,
        "billing": billing,
        "shipping": shipping,
        "ship_method": ship_method,
        "coupon": coupon,
        "note": rng.choice(NOTES) if rng.random() < 0.25 else None,
        "created_at": EPOCH + dt.timedelta(minutes=n * 3 + rng.randint(0, 2), seconds=rng.randint(0, 59)),
    }


# ----------------------------------------------------------------------------------------------------------------
# FluentCart


def fc_money(minor: int, currency: str) -> int:
    # FluentCart states every amount in cents of the major unit (WIRE_PLACES = 2), whatever the currency.
    return int(Decimal(minor).scaleb(2 - exponent(currency)))


def fc_address(a: dict, kind: str) -> dict:
    out = {
        "type": kind,
        "name": f"{a['first_name']} {a['last_name']}",
        "first_name": a["first_name"],
        "last_name": a["last_name"],
        "address_1": a["line1"],
        "address_2": a["line2"] or "",
        "city": a["city"],
        "state": a["region"],
        "postcode": a["postal_code"],
        "country": a["country"],
        "email": a["email"],
    }
    other = {"phone": a["phone"]}
    if a["company"]:
        other["company_name"] = a["company"]
    out["meta"] = {"other_data": other}
    return out


def fluentcart(o: dict) -> dict:
    rng, cur = o["rng"], o["currency"]
    items = []
    for i, l in enumerate(o["lines"]):
        if l["kind"] == "catalog":
            p = l["product"]
            item = {"post_id": p["post_id"], "object_id": p["object_id"], "quantity": l["quantity"]}
            if rng.random() < 0.5:
                item["variation_id"] = p["object_id"]
                item["title"] = p["name"]
                item["fulfillment_type"] = "digital" if p["digital"] else "physical"
                item["other_info"] = {"payment_type": "onetime", "sku": p["sku"]}
            if l["price"] is not None:
                item["unit_price"] = fc_money(l["price"], cur)
                item["item_total"] = fc_money(l["price"] * l["quantity"], cur)
        else:
            item = {"is_custom": True, "title": l["name"], "quantity": l["quantity"],
                    "unit_price": fc_money(l["price"], cur), "fulfillment_type": l["fulfillment"]}
            if l["sku"]:
                item["other_info"] = {"payment_type": "onetime", "sku": l["sku"]}
        item["cart_index"] = i
        items.append(item)
    doc: dict = {}
    who = o["customer"]
    if o["seeded"]:
        doc["customer_id"] = 1  # the catalog's seeded customer: FluentCart names it by id
    else:
        # A new or returning buyer: named by email (the shop finds or creates the customer).
        doc["customer"] = {"email": who["email"], "first_name": who["first_name"], "last_name": who["last_name"],
                           "full_name": f"{who['first_name']} {who['last_name']}"}
    doc["order_items"] = items
    doc["currency"] = cur
    doc["status"] = "pending"
    doc["payment_status"] = "pending"
    doc["payment_method"] = rng.choice(["offline_payment", "stripe", "paypal"])
    doc["fulfillment_type"] = "physical" if o["shipping"] else "digital"
    doc["billing_address"] = fc_address(o["billing"], "billing")
    if o["shipping"]:
        doc["shipping_address"] = fc_address(o["shipping"], "shipping")
    shipping_total = 0
    if o["ship_method"]:
        method, cost = o["ship_method"]
        shipping_total = cost
        doc["shipping"] = [{"type": "custom", "rate_name": method, "custom_price": fc_money(cost, cur)}]
    discount = 0
    if o["coupon"]:
        code, amount = o["coupon"]
        discount = amount
        doc["applied_coupon"] = [{"code": code, "amount": fc_money(amount, cur),
                                  "discounted_amount": fc_money(amount, cur)}]
        doc["coupon_discount_total"] = fc_money(amount, cur)
    doc["subtotal"] = fc_money(o["subtotal"], cur)
    doc["shipping_total"] = fc_money(shipping_total, cur)
    doc["tax_total"] = 0
    doc["total_amount"] = fc_money(o["subtotal"] - discount + shipping_total, cur)
    doc["note"] = o["note"] or ""
    return doc


# ----------------------------------------------------------------------------------------------------------------
# Commerce Layer


def cl_cents(minor: int, currency: str) -> int:
    places = CL_CENTS_EXPONENT.get(currency, exponent(currency))
    return int(Decimal(minor).scaleb(places - exponent(currency)))


def cl_address(a: dict) -> dict:
    return {
        "first_name": a["first_name"],
        "last_name": a["last_name"],
        "company": a["company"],
        "line_1": a["line1"],
        "line_2": a["line2"],
        "city": a["city"],
        "zip_code": a["postal_code"],
        "state_code": a["region"],
        "country_code": a["country"],
        "phone": a["phone"],
        "email": a["email"],
    }


def commercelayer(o: dict) -> dict:
    rng, cur = o["rng"], o["currency"]
    market_id, market_name = CL_MARKETS.get(cur, (cur.lower(), f"{cur} market"))
    attrs: dict = {"customer_email": o["customer"]["email"], "language_code": rng.choice(["en", "en", "de", "fr",
                                                                                          "ja"]),
                   "reference": f"gen-{o['n']}", "reference_origin": "ordermux-bench"}
    metadata = {"channel": rng.choice(["web", "mobile", "pos"])}
    if o["note"]:
        metadata["customer_note"] = o["note"]
    attrs["metadata"] = metadata
    if o["coupon"]:
        attrs["coupon_code"] = o["coupon"][0]
    rels: dict = {"market": {"data": {"type": "markets", "id": market_id}}}
    included: list = []
    rels["customer"] = {"data": {"type": "customers", "id": "cust_1"}}
    included.append({"type": "customers", "id": "cust_1", "attributes": {"email": o["customer"]["email"]}})
    included.append({"type": "addresses", "id": "addr_bill", "attributes": cl_address(o["billing"])})
    rels["billing_address"] = {"data": {"type": "addresses", "id": "addr_bill"}}
    if o["shipping"]:
        ship = cl_address(o["shipping"])
        if o["note"] and rng.random() < 0.5:
            ship["notes"] = o["note"]
        included.append({"type": "addresses", "id": "addr_ship", "attributes": ship})
        rels["shipping_address"] = {"data": {"type": "addresses", "id": "addr_ship"}}
    line_ids = []
    for i, l in enumerate(o["lines"], start=1):
        lid = f"li_{i}"
        line_ids.append({"type": "line_items", "id": lid})
        if l["kind"] == "catalog":
            a = {"item_type": "skus", "sku_code": l["product"]["sku"], "quantity": l["quantity"]}
            if rng.random() < 0.5:
                a["name"] = l["product"]["name"]
            if l["price"] is not None:
                a["unit_amount_cents"] = cl_cents(l["price"], cur)
                a["_external_price"] = True
        else:
            # An item the catalog does not list: its own SKU code, name and external price.
            a = {"item_type": "skus", "sku_code": l["sku"] or f"CUSTOM-{o['n']}-{i}", "name": l["name"],
                 "quantity": l["quantity"], "unit_amount_cents": cl_cents(l["price"], cur), "_external_price": True}
        included.append({"type": "line_items", "id": lid, "attributes": a})
    rels["line_items"] = {"data": line_ids}
    included.append({"type": "markets", "id": market_id,
                     "attributes": {"code": market_id, "name": market_name, "currency_code": cur}})
    return {"data": {"type": "orders", "attributes": attrs, "relationships": rels}, "included": included}


# ----------------------------------------------------------------------------------------------------------------
# BigCommerce


def bc_money(minor: int, currency: str) -> str:
    return major_text(minor, currency, 4)


def bc_address(a: dict) -> dict:
    return {
        "first_name": a["first_name"],
        "last_name": a["last_name"],
        "company": a["company"] or "",
        "street_1": a["line1"],
        "street_2": a["line2"] or "",
        "city": a["city"],
        "state": a["region"],
        "zip": a["postal_code"],
        "country": COUNTRY_NAMES[a["country"]],
        "country_iso2": a["country"],
        "phone": a["phone"],
        "email": a["email"],
    }


def bigcommerce(o: dict) -> dict:
    rng, cur = o["rng"], o["currency"]
    # European prices include VAT; the split is stated per product when the caller prices a line.
    vat = {"EUR": Decimal("0.19")}.get(cur)
    products = []
    for l in o["lines"]:
        if l["kind"] == "catalog":
            p = {"product_id": l["product"]["product_id"], "quantity": l["quantity"]}
            if l["price"] is not None:
                inc = l["price"]
                ex = round_minor(Decimal(inc) / (1 + vat)) if vat else inc
                p["price_ex_tax"] = bc_money(ex, cur)
                p["price_inc_tax"] = bc_money(inc, cur)
        else:
            p = {"name": l["name"], "quantity": l["quantity"], "price_ex_tax": bc_money(l["price"], cur),
                 "price_inc_tax": bc_money(l["price"], cur)}
            if l["sku"]:
                p["sku"] = l["sku"]
        products.append(p)
    doc: dict = {"customer_id": 0, "status_id": rng.choice([1, 11, 11, 11])}
    if cur != "USD" or rng.random() < 0.5:
        doc["default_currency_code"] = cur
    doc["customer_locale"] = {"JPY": "ja", "EUR": rng.choice(["de", "fr", "nl", "es", "it"])}.get(cur, "en")
    doc["date_created"] = email.utils.format_datetime(o["created_at"])
    doc["billing_address"] = bc_address(o["billing"])
    if o["shipping"]:
        ship = bc_address(o["shipping"])
        if o["ship_method"]:
            ship["shipping_method"] = o["ship_method"][0]
        doc["shipping_addresses"] = [ship]
    doc["products"] = products
    if o["ship_method"]:
        cost = bc_money(o["ship_method"][1], cur)
        doc["base_shipping_cost"] = cost
        doc["shipping_cost_ex_tax"] = cost
        doc["shipping_cost_inc_tax"] = cost
    if o["coupon"]:
        # v2 creates take no coupon codes; a promotion applied at the till is a manual discount.
        doc["discount_amount"] = bc_money(o["coupon"][1], cur)
    doc["payment_method"] = rng.choice(["Manual", "Credit Card", "Cash", "Bank Deposit"])
    if o["note"]:
        doc["customer_message"] = o["note"]
    if rng.random() < 0.05:
        doc["staff_notes"] = "Imported by the replay benchmark."
    doc["external_source"] = "ordermux-bench"
    doc["external_order_id"] = f"gen-{o['n']}"
    return doc


ENCODERS = {"fluentcart": fluentcart, "commercelayer": commercelayer, "bigcommerce": bigcommerce}


def line(n: int, doc: dict, bare: bool) -> str:
    value = doc if bare else {"source_id": f"gen-{n}", "document": doc}
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000, help="orders to write (default 1000)")
    ap.add_argument("--dialect", choices=DIALECTS + ("mixed",), required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="output file for one dialect (default: stdout)")
    ap.add_argument("--out-dir", help="output directory for --dialect mixed (one <dialect>.ndjson per dialect)")
    ap.add_argument("--catalog", default=str(REPO / "catalog.toml"), help="catalog file (default: the repo's)")
    ap.add_argument("--buyers", type=int, help="distinct buyers (default: count/3, so buyers come back)")
    ap.add_argument("--start", type=int, default=1, help="number of the first order (default 1)")
    ap.add_argument("--bare", action="store_true", help="write bare create requests instead of envelopes")
    args = ap.parse_args(argv)
    if args.count < 0 or args.count > 50_000_000:
        ap.error("--count must be from 0 to 50000000")
    if args.dialect == "mixed":
        if not args.out_dir or args.out:
            ap.error("--dialect mixed writes three files: give --out-dir DIR (and no --out)")
    elif args.out_dir:
        ap.error("--out-dir is for --dialect mixed; use --out FILE (or stdout) for one dialect")
    catalog = Catalog(Path(args.catalog))
    buyers = args.buyers or max(1, args.count // 3)

    outputs: dict[str, object] = {}
    if args.dialect == "mixed":
        os.makedirs(args.out_dir, exist_ok=True)
        for d in DIALECTS:
            outputs[d] = open(os.path.join(args.out_dir, f"{d}.ndjson"), "w", encoding="utf-8")
    elif args.out:
        outputs[args.dialect] = open(args.out, "w", encoding="utf-8")
    else:
        outputs[args.dialect] = sys.stdout
    written = {d: 0 for d in outputs}
    try:
        for n in range(args.start, args.start + args.count):
            d = DIALECTS[(n - 1) % 3] if args.dialect == "mixed" else args.dialect
            order = plan_order(n, args.seed, catalog, buyers)
            outputs[d].write(line(n, ENCODERS[d](order), args.bare))
            written[d] += 1
    except BrokenPipeError:
        # `| head` closed the pipe: stop quietly.
        sys.stderr.close()
        return 0
    finally:
        for f in outputs.values():
            if f is not sys.stdout:
                f.close()
    if args.dialect == "mixed":
        summary = ", ".join(f"{d}: {written[d]}" for d in DIALECTS)
        print(f"wrote {sum(written.values())} orders to {args.out_dir} ({summary})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

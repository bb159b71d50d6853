#!/usr/bin/env python3
"""Prints the translation table of bench/README.md from criterion's results of `cargo bench --bench translate`:
pair, orders/s (from the median time per order) and the ratio to the floor (serde_json parse + serialize of the
same source bytes), measured in the same run."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion" / "translate"
if not root.is_dir():
    sys.exit("no results: run `cargo bench --bench translate` first")

def median_ns(name):
    est = json.loads((root / name / "new" / "estimates.json").read_text())
    return est["median"]["point_estimate"]

dialects = ["fluentcart", "commercelayer", "bigcommerce"]
print("| pair | orders/s | ratio to floor |")
print("|---|---:|---:|")
worst = None
for src in dialects:
    floor = 1e9 / median_ns(f"floor_{src}")
    print(f"| floor ({src} parse + serialize) | {floor:,.0f} | 1.00 |")
    for dst in dialects:
        rate = 1e9 / median_ns(f"{src}->{dst}".replace(">", "_"))
        ratio = rate / floor
        worst = ratio if worst is None else min(worst, ratio)
        print(f"| {src} → {dst} | {rate:,.0f} | {ratio:.2f} |")
print(f"\nworst ratio: {worst:.2f} (target >= 0.50)")

#!/usr/bin/env python3
"""Medians of bench/compare.sh's results.tsv, per scenario and broker, with the Starling/Mosquitto ratio.

usage: bench/summarize.py RESULTS.tsv
"""
import csv
import statistics
import sys


def num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x):
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
brokers = list(dict.fromkeys(r["broker"] for r in rows))
print()
print("| scenario | metric | " + " | ".join(f"{b} (median; runs)" for b in brokers) + (" | starling/mosquitto |" if len(brokers) == 2 else " |"))
print("|---|---|" + "---:|" * len(brokers) + ("---:|" if len(brokers) == 2 else ""))
for s in scenarios:
    if s.startswith("conn-idle"):
        metrics = [("connect rate conn/s", "connect_rate"), ("RSS KiB per connection", "rss_per_conn_kib"),
                   ("connected", "connected"), ("generator CPU s", "gen_cpu_win_s")]
    elif s == "lat-q1":
        metrics = [("latency p50 us", "p50_us"), ("latency p99 us", "p99_us"), ("delivered msg/s", "rate"),
                   ("broker CPU s in window", "broker_cpu_win_s"), ("generator CPU s in window", "gen_cpu_win_s")]
    else:
        metrics = [("delivered msg/s", "rate"), ("broker CPU s in window", "broker_cpu_win_s"),
                   ("generator CPU s in window", "gen_cpu_win_s")]
    for label, key in metrics:
        cells, meds = [], []
        for b in brokers:
            vals = [num(r[key]) for r in rows if r["scenario"] == s and r["broker"] == b]
            m = median(vals)
            meds.append(m)
            cells.append(f"{fmt(m)} ({' '.join(fmt(v) for v in vals)})")
        ratio = ""
        if len(brokers) == 2:
            a, b = meds[brokers.index("starling")] if "starling" in brokers else meds[0], meds[brokers.index("mosquitto")] if "mosquitto" in brokers else meds[1]
            ratio = f" {a / b:.2f} |" if a is not None and b else " n/a |"
        print(f"| {s} | {label} | " + " | ".join(cells) + " |" + ratio)

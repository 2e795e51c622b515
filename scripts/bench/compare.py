#!/usr/bin/env python3
"""Merges embedrock's and the Python engines' speed results into one Markdown
table, with embedrock's throughput as a ratio of each alternative's.

    python3 scripts/bench/compare.py embedrock.json python.json
"""
import json
import sys


def main() -> None:
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            rows.extend(json.load(f))
    ours = {r["set"]: r for r in rows if r["engine"].startswith("embedrock")}
    print("| engine | set | texts | wall s | CPU s | texts/s | texts/CPU-s | embedrock ratio (texts/s) | embedrock ratio (texts/CPU-s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["set"], not r["engine"].startswith("embedrock"), r["engine"])):
        o = ours.get(r["set"])
        if o and not r["engine"].startswith("embedrock"):
            ratio = f"{o['texts_per_s'] / r['texts_per_s']:.2f}x"
            ratio_cpu = f"{o['texts_per_cpu_s'] / r['texts_per_cpu_s']:.2f}x"
        else:
            ratio = ratio_cpu = "-"
        print(
            f"| {r['engine']} | {r['set']} | {r['texts']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['texts_per_s']:.1f} | {r['texts_per_cpu_s']:.1f} | {ratio} | {ratio_cpu} |"
        )


if __name__ == "__main__":
    main()

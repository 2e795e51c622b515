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
    ours = [r for r in rows if r["engine"].startswith("embedrock")]
    peers = [r for r in rows if not r["engine"].startswith("embedrock")]
    print("| engine | set | texts | wall s | CPU s | texts/s | texts/CPU-s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["set"], not r["engine"].startswith("embedrock"), r["engine"])):
        print(
            f"| {r['engine']} | {r['set']} | {r['texts']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['texts_per_s']:.1f} | {r['texts_per_cpu_s']:.1f} |"
        )
    # One ratio table per embedrock engine (one per precision): its texts per
    # CPU-second over each alternative's, on the same set.
    for o in sorted({r["engine"] for r in ours}):
        print()
        print(f"{o}, texts/CPU-s as a ratio of each alternative's (texts/s in brackets):")
        print()
        print("| alternative | set | ratio per CPU-s | ratio per s |")
        print("|---|---|---:|---:|")
        for p in sorted(peers + [r for r in ours if r["engine"] != o], key=lambda r: (r["set"], r["engine"])):
            mine = next((r for r in ours if r["engine"] == o and r["set"] == p["set"]), None)
            if mine is None:
                continue
            print(
                f"| {p['engine']} | {p['set']} | {mine['texts_per_cpu_s'] / p['texts_per_cpu_s']:.2f}x "
                f"| ({mine['texts_per_s'] / p['texts_per_s']:.2f}x) |"
            )


if __name__ == "__main__":
    main()

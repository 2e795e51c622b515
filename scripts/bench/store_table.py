"""Prints the store benchmark's results as one Markdown table per size.

    python store_table.py OUT_DIR
"""
import glob
import json
import os
import sys


def main():
    out = sys.argv[1]
    for emb_path in sorted(glob.glob(os.path.join(out, "embedded-*.json"))):
        n = emb_path.rsplit("-", 1)[1].split(".")[0]
        emb = json.load(open(emb_path))
        peers_path = os.path.join(out, f"peers-{n}.json")
        peers = json.load(open(peers_path))["results"] if os.path.exists(peers_path) else []
        exact = next(r for r in emb["results"] if r["path"] == "exact")
        print(f"\n### {emb['vectors']:,} vectors x {emb['dims']} dims, {emb['queries']} queries, top-{emb['k']}\n")
        print("| engine | path | p50 ms | p99 ms | recall@10 | speed-up vs exact (p50) |")
        print("|---|---|---:|---:|---:|---:|")
        for r in emb["results"] + peers:
            print(
                f"| {r['engine']} | {r['path']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                f"{r['recall']:.4f} | {exact['p50_ms'] / r['p50_ms']:.1f}x |"
            )
        print()
        print(f"- memory read bandwidth: {emb['read_gb_s_1_thread']:.1f} GB/s on one thread, "
              f"{emb['read_gb_s_all_threads']:.1f} GB/s on all; exact search reads "
              f"{exact['gb_s']:.1f} GB/s at p50 (kernels: {emb['kernel']})")
        print(f"- embedded store: {emb['db_bytes_per_vector']:.0f} bytes/vector in SQLite, "
              f"{emb['index_bytes_per_vector']:.0f} bytes/vector for the saved HNSW index; "
              f"index build {emb['index_build_s']:.1f} s; vector ingest {emb['ingest_vectors_per_s']:.0f} vectors/s; "
              f"first search (load {emb['vectors']:,} rows, quantise) {emb['load_s']:.2f} s; "
              f"a new handle's first approximate search (load + open saved index) {emb['reopen_s']:.2f} s")
        for r in peers:
            if r["engine"].startswith("sqlite-vec"):
                print(f"- {r['engine']}: {r['bytes_per_vector']:.0f} bytes/vector, ingest {r['ingest_vectors_per_s']:.0f} vectors/s")
        pg = [r for r in peers if r["engine"].startswith("pgvector")]
        if pg:
            r = pg[0]
            print(f"- {r['engine']}: {r['bytes_per_vector']:.0f} bytes/vector (table + index), "
                  f"COPY {r['copy_s']:.1f} s, HNSW build {r['index_build_s']:.1f} s")
    ingest = os.path.join(out, "ingest.txt")
    if os.path.exists(ingest):
        print("\n" + open(ingest).read().strip())


if __name__ == "__main__":
    main()

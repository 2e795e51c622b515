"""The store benchmark's peers on the same vectors and queries: sqlite-vec
(the `sqlite-vec` package, a vec0 table: an exact scan inside SQLite) and
PostgreSQL + pgvector with an HNSW index, swept over `hnsw.ef_search`.
Recall@k is measured against the exact top-k the embedded store wrote.

    python store_peers.py --dir DIR --truth TRUTH.json [--pg-url URL] --out OUT.json

Latencies are per query, measured in this process around the call (for
PostgreSQL that includes the loopback round trip).
"""
import argparse
import json
import os
import time

try:  # the standard module may be built without extension loading
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

import numpy as np


def percentiles(times):
    t = np.sort(np.array(times) * 1e3)
    pick = lambda p: float(t[min(len(t) - 1, int(round((len(t) - 1) * p)))])
    return pick(0.5), pick(0.99)


def recall(rows, truth, k):
    found = sum(len(set(r) & set(t)) for r, t in zip(rows, truth))
    return found / (len(truth) * k)


def sqlite_vec_run(vectors, queries, truth, k, work):
    import sqlite_vec

    path = os.path.join(work, "sqlite-vec.db")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    db.enable_load_extension(False)
    dims = vectors.shape[1]
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dims}] distance_metric=cosine)")
    t0 = time.perf_counter()
    with db:
        db.executemany(
            "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
            ((i + 1, vectors[i].tobytes()) for i in range(len(vectors))),
        )
    ingest = len(vectors) / (time.perf_counter() - t0)
    sql = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"
    db.execute(sql, (queries[0].tobytes(), k)).fetchall()  # warm the page cache
    times, rows = [], []
    for q in queries:
        t = time.perf_counter()
        got = db.execute(sql, (q.tobytes(), k)).fetchall()
        times.append(time.perf_counter() - t)
        rows.append([r[0] - 1 for r in got])
    db.close()
    p50, p99 = percentiles(times)
    size = os.path.getsize(path)
    return {
        "engine": "sqlite-vec " + sqlite_vec_version(),
        "path": "vec0 exact",
        "p50_ms": p50,
        "p99_ms": p99,
        "recall": recall(rows, truth, k),
        "ingest_vectors_per_s": ingest,
        "bytes_per_vector": size / len(vectors),
    }


def sqlite_vec_version():
    import importlib.metadata

    return importlib.metadata.version("sqlite-vec")


def vec_text(v):
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def copy_binary(vectors, rows_per_chunk=20000):
    """PostgreSQL's binary COPY stream of (id integer, embedding vector) rows,
    in chunks: each tuple is a field count, the id, and pgvector's binary
    form of the vector (int16 dimensions, int16 unused, big-endian float4s)."""
    n, dims = vectors.shape
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("vec_len", ">i4"),
                    ("dims", ">i2"), ("unused", ">i2"), ("v", ">f4", (dims,))])
    yield b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    for start in range(0, n, rows_per_chunk):
        part = vectors[start:start + rows_per_chunk]
        out = np.zeros(len(part), dtype=row)
        out["fields"], out["id_len"], out["vec_len"], out["dims"] = 2, 4, 4 + 4 * dims, dims
        out["id"] = np.arange(start, start + len(part))
        out["v"] = part
        yield out.tobytes()
    yield (-1).to_bytes(2, "big", signed=True)


def pgvector_run(vectors, queries, truth, k, url, efs):
    import psycopg

    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        conn.execute("DROP TABLE IF EXISTS bench_items")
        dims = vectors.shape[1]
        conn.execute(f"CREATE TABLE bench_items (id integer PRIMARY KEY, embedding vector({dims}))")
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY bench_items (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                for chunk in copy_binary(vectors):
                    copy.write(chunk)
        load_s = time.perf_counter() - t0
        conn.execute("SET maintenance_work_mem = '4GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        t0 = time.perf_counter()
        conn.execute(
            "CREATE INDEX bench_items_hnsw ON bench_items USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        build_s = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE bench_items")
        table_bytes = conn.execute("SELECT pg_table_size('bench_items')").fetchone()[0]
        index_bytes = conn.execute("SELECT pg_relation_size('bench_items_hnsw')").fetchone()[0]
        texts = [vec_text(q) for q in queries]
        sql = "SELECT id FROM bench_items ORDER BY embedding <=> %s::vector LIMIT %s"
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            for q in texts[:20]:  # warm up, and let psycopg prepare the statement
                conn.execute(sql, (q, k), prepare=True).fetchall()
            times, rows = [], []
            for q in texts:
                t = time.perf_counter()
                got = conn.execute(sql, (q, k), prepare=True).fetchall()
                times.append(time.perf_counter() - t)
                rows.append([r[0] for r in got])
            p50, p99 = percentiles(times)
            out.append({
                "engine": f"pgvector {version}",
                "path": f"hnsw m=16 ef_c=64 ef_search={ef}",
                "p50_ms": p50,
                "p99_ms": p99,
                "recall": recall(rows, truth, k),
                "copy_s": load_s,
                "index_build_s": build_s,
                "bytes_per_vector": (table_bytes + index_bytes) / len(vectors),
            })
        conn.execute("DROP TABLE bench_items")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--pg-url")
    ap.add_argument("--ef", default="40,100,200")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    vectors = np.fromfile(os.path.join(a.dir, "vectors.f32"), dtype="<f4").reshape(-1, a.dims)
    queries = np.fromfile(os.path.join(a.dir, "queries.f32"), dtype="<f4").reshape(-1, a.dims)
    with open(a.truth) as f:
        truth = json.load(f)
    results = [sqlite_vec_run(vectors, queries, truth, a.k, a.dir)]
    print(json.dumps(results[-1]), flush=True)
    if a.pg_url:
        for r in pgvector_run(vectors, queries, truth, a.k, a.pg_url, [int(x) for x in a.ef.split(",")]):
            print(json.dumps(r), flush=True)
            results.append(r)
    with open(a.out, "w") as f:
        json.dump({"vectors": len(vectors), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

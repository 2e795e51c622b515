"""Clustered unit vectors for the store benchmark, written once and read by
every engine: `vectors.f32` and `queries.f32` (little-endian float32, row
after row).

Each vector is a theme (one of 50) plus a topic (one per four vectors) plus
noise of varying strength, normalised: a vector's nearest neighbours reach
across topics of its theme (cosine about 0.7 for the first and 0.45 for the
tenth), much as sentence embeddings of texts on many topics do. Queries are
drawn the same way and are not in the data.

    python store_vectors.py --n 100000 --queries 1000 --dims 384 --out DIR
"""
import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    themes = unit(rng.standard_normal((50, a.dims)))
    topics = unit(rng.standard_normal((max(a.n // 4, 50), a.dims)))

    def draw(m):
        t = rng.integers(0, len(topics), m)
        w = rng.uniform(0.5, 1.5, (m, 1)).astype(np.float32)
        noise = unit(rng.standard_normal((m, a.dims), dtype=np.float32))
        return unit(0.6 * themes[t % 50] + 0.6 * topics[t] + 0.6 * w * noise)

    with open(os.path.join(a.out, "vectors.f32"), "wb") as f:
        for start in range(0, a.n, 100_000):
            f.write(draw(min(100_000, a.n - start)).astype("<f4").tobytes())
    with open(os.path.join(a.out, "queries.f32"), "wb") as f:
        f.write(draw(a.queries).astype("<f4").tobytes())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Throughput of all-MiniLM-L6-v2 from Python: embedrock's `Embedder` beside
the `embedrock embed` command line, sentence-transformers and fastembed, on
the same texts in one run.

Texts: --texts FILE (one per line; scripts/bench/make_texts.py writes
passages.txt, 1,000 passages of 200 words), else 1,000 passages built here
from a fixed seed. Each engine embeds every text once after one warm-up
batch, with 2 threads and batches of 32; the figures are wall seconds and
texts per second. The CLI figure is the whole command (start, model load,
embedding, writing .npy) minus the same command on one text, so both sides
count embedding work only. An engine that cannot run here (not installed, or
its model cannot be loaded offline) is reported with the reason, not timed.

Usage:
    python scripts/bench/python_speed.py [--texts FILE] [--bin target/release/embedrock] [--n 1000]
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402

THREADS, BATCH = 2, 32


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return "unknown CPU"


def make_texts(n):
    rng = random.Random(7)
    words = ("model vector search memory cloud region token query document passage embedding "
             "server cache retry quota latency throughput index cosine batch weights").split()
    return [" ".join(rng.choice(words) for _ in range(200)) for _ in range(n)]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_embedrock(texts):
    import embedrock

    e = embedrock.Embedder(threads=THREADS, batch_size=BATCH)
    e.embed(texts[:BATCH])
    seconds, vectors = timed(lambda: e.embed(texts))
    return seconds, vectors


def bench_cli(texts, binary):
    with tempfile.TemporaryDirectory() as tmp:
        def run(items):
            path = os.path.join(tmp, "in.txt")
            with open(path, "w") as f:
                f.write("\n".join(items) + "\n")
            out = os.path.join(tmp, "out.npy")
            cmd = [binary, "--quiet", "embed", "--input", path, "--output", "npy", "--output-file", out,
                   "--threads", str(THREADS), "--batch-size", str(BATCH)]
            seconds, _ = timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
            return seconds, np.load(out)

        run(texts[:1])
        startup, _ = run(texts[:1])
        total, vectors = run(texts)
        return total - startup, vectors


def model_dir():
    import embedrock

    return embedrock.Embedder().location


def bench_sentence_transformers(texts):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    m = SentenceTransformer(model_dir(), device="cpu")
    m.encode(texts[:BATCH], batch_size=BATCH)
    return timed(lambda: m.encode(texts, batch_size=BATCH, normalize_embeddings=True))


def bench_fastembed(texts):
    from fastembed import TextEmbedding

    m = TextEmbedding("sentence-transformers/all-MiniLM-L6-v2", threads=THREADS)
    list(m.embed(texts[:BATCH], batch_size=BATCH))
    return timed(lambda: np.array(list(m.embed(texts, batch_size=BATCH))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts")
    ap.add_argument("--bin", default=os.environ.get("EMBEDROCK_BIN", "target/release/embedrock"))
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    if args.texts:
        with open(args.texts) as f:
            texts = [line.rstrip("\n") for line in f if line.strip()][: args.n]
    else:
        texts = make_texts(args.n)
    print(f"CPU: {cpu_name()}; {len(texts)} texts, {THREADS} threads, batch {BATCH}")
    results = {}
    engines = [
        ("embedrock (Python Embedder)", lambda: bench_embedrock(texts)),
        ("embedrock (CLI, embedding only)", lambda: bench_cli(texts, args.bin)),
        ("sentence-transformers", lambda: bench_sentence_transformers(texts)),
        ("fastembed", lambda: bench_fastembed(texts)),
    ]
    for name, fn in engines:
        try:
            seconds, vectors = fn()
        except Exception as e:  # an engine that cannot run here is reported, not timed
            print(f"{name:34s} did not run: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
            continue
        results[name] = np.asarray(vectors, dtype=np.float32)
        print(f"{name:34s} {seconds:8.2f} s  {len(texts) / seconds:8.1f} texts/s")
    base = results.get("embedrock (Python Embedder)")
    for name, v in results.items():
        if base is not None and v.shape == base.shape and name != "embedrock (Python Embedder)":
            print(f"max |{name} - Embedder| = {np.abs(v - base).max():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Binary search with sentence-transformers' style of rescoring, on the
vectors an `embedrock bench run` cached, scored with pytrec_eval.

embedrock's `--rescore N` re-ranks the binary search's top N by the float
cosine of the query and each document's *float* vector (a store that keeps
floats on disk). The figure usually published for binary quantisation
(sentence-transformers' `quantize_embeddings` + `semantic_search_faiss`/
`semantic_search_usearch` with `rescore=True`) keeps no float documents: it
re-ranks the top `top_k * rescore_multiplier` (default 4) by the dot product of
the float query with the document's unpacked bits (0/1). This script computes
that variant, and plain binary and float search, from the same cached vectors,
so the two methods can be set side by side on one dataset.

Usage:

    python3 scripts/bench/binary_rescore_reference.py --dataset DIR --out RUN_OUT \\
        [--dims 384] [--multiplier 4]

RUN_OUT is the `--out` of a finished `embedrock bench run` of the local model
(its cache holds the native-size document and query vectors). Needs numpy and
pytrec-eval-terrier.
"""

import argparse
import glob
import hashlib
import json
import os
import struct

import numpy as np
import pytrec_eval


def read_cache(path):
    vectors = {}
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at + 40 <= len(data):
        key = data[at:at + 32]
        _tokens, dims = struct.unpack_from("<II", data, at + 32)
        end = at + 40 + 4 * dims
        if end > len(data):
            break
        vectors[key] = np.frombuffer(data[at + 40:end], dtype="<f4")
        at = end
    return vectors


def load(dataset, out, dims):
    corpus = [json.loads(l) for l in open(os.path.join(dataset, "corpus.jsonl")) if l.strip()]
    queries = [json.loads(l) for l in open(os.path.join(dataset, "queries.jsonl")) if l.strip()]
    qrels = {}
    with open(os.path.join(dataset, "qrels", "test.tsv")) as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    scored = [q for q in queries if any(v > 0 for v in qrels.get(q["_id"], {}).values())]
    docs_cache, queries_cache = {}, {}
    for path in glob.glob(os.path.join(out, "cache", "*native*.vectors")):
        (docs_cache if "_document-" in path else queries_cache).update(read_cache(path))

    def text(d):
        title = d.get("title") or ""
        return f"{title} {d['text']}" if title.strip() else d["text"]

    def matrix(texts, cache):
        rows = [cache[hashlib.sha256(t.encode()).digest()][:dims] for t in texts]
        m = np.stack(rows).astype(np.float32)
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    d = matrix([text(x) for x in corpus], docs_cache)
    q = matrix([x["text"] for x in scored], queries_cache)
    return corpus, scored, qrels, d, q


def evaluate(qrels, corpus, scored, ranked):
    run = {}
    for qi, (ids, scores) in enumerate(ranked):
        run[scored[qi]["_id"]] = {corpus[i]["_id"]: float(s) for i, s in zip(ids, scores)}
    res = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return sum(v["ndcg_cut_10"] for v in res.values()) / len(res)


def top(scores, k):
    idx = np.argpartition(-scores, k)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx, scores[idx]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--multiplier", type=int, default=4)
    a = p.parse_args()
    corpus, scored, qrels, d, q = load(a.dataset, a.out, a.dims)
    k = 100
    bits_d = (d > 0).astype(np.float32)
    bits_q = (q > 0).astype(np.float32)
    # Equal bits = dims - hamming.
    float_ranked, binary_ranked, rescored = [], [], []
    for i in range(len(q)):
        float_ranked.append(top(d @ q[i], k))
        equal = bits_d @ bits_q[i] + (1 - bits_d) @ (1 - bits_q[i])
        binary_ranked.append(top(equal, k))
        cand, _ = top(equal, 10 * a.multiplier)
        s = bits_d[cand] @ q[i]
        order = np.argsort(-s, kind="stable")
        rescored.append((cand[order], s[order]))
    f = evaluate(qrels, corpus, scored, float_ranked)
    b = evaluate(qrels, corpus, scored, binary_ranked)
    r = evaluate(qrels, corpus, scored, rescored)
    ours = {}
    results = os.path.join(a.out, "results.json")
    if os.path.exists(results):
        for c in json.load(open(results))["results"]:
            if c["dimensions"] == a.dims and c["rescore"] is None:
                ours[c["output_type"]] = c["ndcg@10"]
    print(f"{len(corpus)} documents, {len(scored)} queries, {a.dims} dimensions")
    print("| search | nDCG@10 (numpy + pytrec_eval) | % of float | embedrock's nDCG@10 |")
    print("|---|---:|---:|---:|")
    for name, value, key in (("float", f, "float"), ("binary (equal bits)", b, "binary"),
                             (f"binary, top {10 * a.multiplier} rescored by float query . "
                              "document bits", r, None)):
        mine = f"{ours[key]:.6f}" if key in ours else "-"
        print(f"| {name} | {value:.6f} | {100 * value / f:.1f}% | {mine} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`embedrock bench eval` against pytrec_eval on the same files, side by side.

Writes a seeded TREC qrels file and run file (QUERIES queries, DEPTH
retrieved documents each, graded relevance 0-3, score ties), then times, in
one process run, each tool from files to metric means:

  embedrock   `embedrock bench eval --qrels Q --run R --k 1,3,5,10,100`
              (a subprocess: read both files, score, print JSON)
  pytrec_eval pytrec_eval.parse_qrel + parse_run on the open files, then
              RelevanceEvaluator(qrels, {ndcg_cut, recall, P, map_cut,
              recip_rank}).evaluate(run) and the means, as BEIR does

Each is run REPEAT times; the best wall time counts. The means of both are
compared (they must agree to 1e-6) so the timing is of equal work.

Usage:

    python3 scripts/bench/eval_speed.py --bin target/release/embedrock \\
        [--queries 10000] [--depth 100] [--repeat 3]

Needs pytrec-eval-terrier (tests/python/requirements.txt).
"""

import argparse
import json
import os
import platform
import random
import subprocess
import tempfile
import time

import pytrec_eval

KS = [1, 3, 5, 10, 100]


def write_files(directory, queries, depth, seed=11):
    rng = random.Random(seed)
    qrels_path = os.path.join(directory, "qrels.txt")
    run_path = os.path.join(directory, "run.txt")
    with open(qrels_path, "w") as q, open(run_path, "w") as r:
        for i in range(queries):
            qid = f"q{i}"
            for j in rng.sample(range(depth * 3), 5):
                q.write(f"{qid} 0 d{j} {rng.randint(0, 3)}\n")
            for rank, j in enumerate(rng.sample(range(depth * 3), depth)):
                score = round(rng.random(), 2)
                r.write(f"{qid} Q0 d{j} {rank + 1} {score} run\n")
    return qrels_path, run_path


def run_embedrock(binary, qrels_path, run_path):
    out = subprocess.run(
        [binary, "bench", "eval", "--qrels", qrels_path, "--run", run_path,
         "--k", ",".join(map(str, KS))],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["mean"]


def run_pytrec(qrels_path, run_path):
    with open(qrels_path) as f:
        qrels = pytrec_eval.parse_qrel(f)
    with open(run_path) as f:
        run = pytrec_eval.parse_run(f)
    ks = ",".join(map(str, KS))
    measures = {f"ndcg_cut.{ks}", f"recall.{ks}", f"P.{ks}", f"map_cut.{ks}"}
    scores = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    # Queries without a relevant document are left out, as embedrock does.
    scored = [q for q in scores if any(v > 0 for v in qrels.get(q, {}).values())]
    means = {}
    for k in KS:
        for ours, theirs in (("ndcg", "ndcg_cut"), ("recall", "recall"),
                             ("precision", "P"), ("map", "map_cut")):
            means[f"{ours}@{k}"] = sum(scores[q][f"{theirs}_{k}"] for q in scored) / len(scored)
    return means


def best(fn, repeat):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--queries", type=int, default=10000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        qrels_path, run_path = write_files(d, args.queries, args.depth)
        size = os.path.getsize(run_path)
        ours_s, ours = best(lambda: run_embedrock(args.bin, qrels_path, run_path), args.repeat)
        theirs_s, theirs = best(lambda: run_pytrec(qrels_path, run_path), args.repeat)
    worst = max(abs(ours[m] - theirs[m]) for m in theirs)
    assert worst < 1e-6, f"the means differ by {worst}"
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    print(f"CPU: {cpu}; pytrec_eval {getattr(pytrec_eval, '__version__', 'terrier')}")
    print(f"run: {args.queries} queries x {args.depth} documents ({size / 1e6:.1f} MB), "
          f"{len(theirs)} means compared, largest difference {worst:.1e}")
    print("| tool | best of {} s | ratio |".format(args.repeat))
    print("|---|---:|---:|")
    print(f"| embedrock bench eval | {ours_s:.3f} | {theirs_s / ours_s:.2f}x |")
    print(f"| pytrec_eval (parse + evaluate + means) | {theirs_s:.3f} | 1.00x |")


if __name__ == "__main__":
    main()

"""`embedrock bench eval` against pytrec_eval (trec_eval's own code) on the
same seeded random judgements and runs: every metric, per query and mean, to
1e-6.

The runs are built to hit what changes numbers: many exact score ties,
scores that differ by less than single precision can tell apart (trec_eval 9
ranks on C floats), graded relevance 0..3, queries without a relevant
document, judged queries missing from the run, run queries without
judgements, unjudged documents, runs shorter and longer than the cut-offs,
and document ids whose byte order differs from their numeric order.

The binary comes from EMBEDROCK_BIN (default: `embedrock` on PATH).
"""

import json
import os
import random
import subprocess

import numpy as np
import pytest
import pytrec_eval

BIN = os.environ.get("EMBEDROCK_BIN", "embedrock")
KS = [1, 3, 5, 10, 100]
MEASURES = {"ndcg": "ndcg_cut", "recall": "recall", "precision": "P", "map": "map_cut"}
TOLERANCE = 1e-6


def doc_ids(rng, n):
    """Ids in several shapes, so byte order is not numeric order."""
    shapes = ["d{}", "D{}", "doc-{}", "{}", "d_{:04d}", "Z{}a"]
    return [rng.choice(shapes).format(i) for i in range(n)]


def make_qrels(rng, queries, docs):
    """Graded 0..3; about one query in six has no relevant document."""
    qrels = {}
    for q in queries:
        judged = rng.sample(docs, rng.randint(1, 20))
        no_relevant = rng.random() < 1 / 6
        qrels[q] = {d: 0 if no_relevant else rng.choice([0, 0, 1, 1, 2, 3]) for d in judged}
    return qrels


def make_run(rng, queries, qrels, docs):
    """Runs of 1 to 150 documents from a few score levels (many ties), some
    scores nudged by less than single precision resolves, and judged
    documents mixed in so there is something to find."""
    levels = [round(rng.uniform(-1, 1), 3) for _ in range(6)]
    run = {}
    for q in queries:
        n = rng.choice([rng.randint(1, 8), rng.randint(1, 150)])
        pool = list(qrels.get(q, {})) + rng.sample(docs, min(len(docs), n))
        chosen = list(dict.fromkeys(rng.sample(pool, min(len(pool), n))))
        scores = {}
        for d in chosen:
            s = rng.choice(levels)
            if rng.random() < 0.2:
                s += rng.choice([1e-9, -1e-9, 3e-9, 1e-4])
            scores[d] = s
        run[q] = scores
    return run


def dataset(seed, n_queries=80, n_docs=400):
    rng = random.Random(seed)
    queries = [f"q{i}" for i in range(n_queries)]
    docs = doc_ids(rng, n_docs)
    judged_queries = queries[: n_queries - 5]  # the last 5 only in the run
    qrels = make_qrels(rng, judged_queries, docs)
    run_queries = queries[5:]  # the first 5 judged but not in the run
    run = make_run(rng, run_queries, qrels, docs)
    return qrels, run


def write_qrels(path, qrels, form):
    with open(path, "w") as f:
        if form == "beir":
            f.write("query-id\tcorpus-id\tscore\n")
        for q, judged in qrels.items():
            for d, rel in judged.items():
                f.write(f"{q}\t{d}\t{rel}\n" if form == "beir" else f"{q} 0 {d} {rel}\n")


def write_run(path, run):
    """TREC run lines with the scores written exactly (repr round-trips)."""
    with open(path, "w") as f:
        for q, scores in run.items():
            items = list(scores.items())
            random.Random(q).shuffle(items)  # file order must not matter
            for rank, (d, s) in enumerate(items, 1):
                f.write(f"{q} Q0 {d} {rank} {s!r} test\n")


def bench_eval(tmp_path, qrels, run, *flags, form="trec"):
    qrels_path, run_path = tmp_path / "qrels.txt", tmp_path / "run.txt"
    write_qrels(qrels_path, qrels, form)
    write_run(run_path, run)
    cmd = [BIN, "bench", "eval", "--qrels", str(qrels_path), "--run", str(run_path),
           "--k", ",".join(map(str, KS)), "--per-query", *flags]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def trec_order(scores):
    """trec_eval 9's ranking: score as a C float descending, then document
    id descending (byte order)."""
    return sorted(scores, key=lambda d: (-np.float32(scores[d]), [-b for b in d.encode()] + [1]))


def reference(qrels, run):
    """Per-query metrics from pytrec_eval, for the queries that count."""
    cut = ",".join(map(str, KS))
    measures = {f"{m}.{cut}" for m in MEASURES.values()}
    # P at every depth up to the largest cut-off gives the rank of the first
    # relevant document in pytrec_eval's own ranking.
    measures.add("P." + ",".join(map(str, range(1, max(KS) + 1))))
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    recip = {}
    for k in KS:
        top_k = {q: {d: run[q][d] for d in trec_order(s)[:k]} for q, s in run.items()}
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top_k)
        recip[k] = {q: v["recip_rank"] for q, v in rr.items()}
    expected = {}
    for q, values in per_query.items():
        if not any(rel >= 1 for rel in qrels[q].values()):
            continue  # no relevant document: left out
        first = next((j for j in range(1, max(KS) + 1) if values[f"P_{j}"] > 0), None)
        row = {}
        for k in KS:
            for name, trec in MEASURES.items():
                row[f"{name}@{k}"] = values[f"{trec}_{k}"]
            row[f"mrr@{k}"] = 1 / first if first is not None and first <= k else 0.0
            assert abs(recip[k][q] - row[f"mrr@{k}"]) < 1e-12, (q, k)
        expected[q] = row
    return expected


def assert_matches(got, expected):
    assert set(got["per_query"]) == set(expected)
    assert got["queries"] == len(expected)
    names = set(next(iter(expected.values())))
    assert set(got["mean"]) == names
    for q, row in expected.items():
        for name, want in row.items():
            have = got["per_query"][q][name]
            assert abs(have - want) <= TOLERANCE, (q, name, have, want)
    for name in names:
        want = sum(row[name] for row in expected.values()) / len(expected)
        assert abs(got["mean"][name] - want) <= TOLERANCE, (name, got["mean"][name], want)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("form", ["trec", "beir"])
def test_every_metric_matches_pytrec_eval(tmp_path, seed, form):
    qrels, run = dataset(seed)
    expected = reference(qrels, run)
    # The data exercise what they are meant to.
    assert 0 < len(expected) < len(set(qrels) & set(run))
    assert any(len(s) > max(KS) for s in run.values())
    assert any(len(s) < 5 for s in run.values())
    assert_matches(bench_eval(tmp_path, qrels, run, form=form), expected)


def test_single_precision_ties_decide_the_ranking(tmp_path):
    """Two scores one float apart in double precision but equal as C floats
    tie, and the higher id wins: the relevant `a` ranks second."""
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 0.5 + 1e-9, "b": 0.5}}
    expected = reference(qrels, run)
    assert expected["q"]["mrr@1"] == 0.0
    assert_matches(bench_eval(tmp_path, qrels, run), expected)


def test_ignore_identical_ids_matches_beir(tmp_path):
    """BEIR drops retrieved documents whose id is the query's id before
    calling pytrec_eval; --ignore-identical-ids must give the same."""
    rng = random.Random(7)
    qrels, run = dataset(7)
    queries = list(run)
    for q in queries:  # each query retrieves itself (and sometimes others)
        run[q][q] = 2.0
        run[q][rng.choice(queries)] = rng.choice([2.0, 0.1])
    beir_run = {q: {d: s for d, s in scores.items() if d != q} for q, scores in run.items()}
    expected = reference(qrels, beir_run)
    got = bench_eval(tmp_path, qrels, run, "--ignore-identical-ids")
    assert_matches(got, expected)
    kept = bench_eval(tmp_path, qrels, run)
    assert kept["mean"]["mrr@1"] < got["mean"]["mrr@1"]


def test_malformed_run_names_file_and_line(tmp_path):
    qrels_path, run_path = tmp_path / "qrels.txt", tmp_path / "run.txt"
    qrels_path.write_text("q1 0 d1 1\n")
    run_path.write_text("q1 Q0 d1 1 0.5 test\nq1 Q0 d2 2\n")
    cmd = [BIN, "bench", "eval", "--qrels", str(qrels_path), "--run", str(run_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"{run_path} line 2: expected 6 fields" in out.stderr

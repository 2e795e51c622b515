#!/usr/bin/env python3
"""Throughput of all-MiniLM-L6-v2 from Python: embedrock's `Embedder` beside
the `embedrock embed` command line, sentence-transformers and fastembed, on
the same texts in one run.

Texts: --texts FILE (one per line; scripts/bench/make_texts.py writes
passages.txt, 1,000 passages of 200 words, and short.txt), else 1,000
passages built here from a fixed seed. Each round runs every engine once, the
order rotating from round to round (--rounds, default 3), with 2 threads and
batches of 32. Every run is a process of its own, so no engine's idle threads
(torch's and ONNX Runtime's pools spin after their work) are counted against
another: the Python engines run in a worker process of this script that
loads the model, embeds one warm-up batch, then times the embedding of all
the texts (wall and the process's CPU seconds). Figures are the median round:
wall seconds, texts per second and texts per CPU-second.

The CLI figure is the whole command (start, model load, embedding, writing
.npy) minus the same command on one text, run beside it in the same round,
so both sides count embedding work only.

sentence-transformers and fastembed load the same model files embedrock uses
(`embedrock models pull all-minilm-l6-v2`), offline. fastembed runs an ONNX
export of them (made once with torch, cached at --onnx) with the truncation
sentence-transformers uses (256 tokens), mean pooling and L2 normalisation.
Every engine's vectors are compared with the Embedder's. An engine that
cannot run here is reported with the reason, not timed.

Usage:
    python scripts/bench/python_speed.py [--texts FILE] [--bin target/release/embedrock]
        [--n 1000] [--rounds 3] [--json OUT]
"""

import argparse
import os
import random
import resource
import statistics
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
    """Wall and CPU seconds of `fn()` run in this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def child_timed(cmd):
    """Wall and CPU seconds (user + system) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def model_dir():
    import embedrock

    return embedrock.Embedder().location


def run_embedrock(texts, _args):
    import embedrock

    e = embedrock.Embedder(threads=THREADS, batch_size=BATCH)
    e.embed(texts[:BATCH])
    return timed(lambda: e.embed(texts))


def run_sentence_transformers(texts, _args):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    m = SentenceTransformer(model_dir(), device="cpu")
    m.encode(texts[:BATCH], batch_size=BATCH)
    with torch.inference_mode():
        return timed(lambda: m.encode(texts, batch_size=BATCH, normalize_embeddings=True,
                                      show_progress_bar=False))


def fastembed_dir(onnx_path, tmp):
    """A model directory fastembed loads offline: the ONNX export beside the
    model's tokenizer, truncating where sentence-transformers does."""
    import json
    import shutil

    src = model_dir()
    if not os.path.exists(onnx_path):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from python_baseline import export_onnx
        from sentence_transformers import SentenceTransformer

        export_onnx(SentenceTransformer(src, device="cpu"), onnx_path)
    d = os.path.join(tmp, "fastembed-model")
    os.makedirs(d, exist_ok=True)
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(os.path.join(src, name), d)
    os.symlink(os.path.abspath(onnx_path), os.path.join(d, "model.onnx"))
    with open(os.path.join(src, "sentence_bert_config.json")) as f:
        max_len = json.load(f)["max_seq_length"]
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": max_len, "pad_token": "[PAD]", "do_lower_case": True}, f)
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump({"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                   "unk_token": "[UNK]", "mask_token": "[MASK]"}, f)
    return d


def run_fastembed(texts, args):
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    name = "embedrock-bench/all-MiniLM-L6-v2-local"
    TextEmbedding.add_custom_model(model=name, pooling=PoolingType.MEAN, normalization=True,
                                   sources=ModelSource(hf=name), dim=384, model_file="model.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        m = TextEmbedding(name, threads=THREADS, specific_model_path=fastembed_dir(args.onnx, tmp))
        list(m.embed(texts[:BATCH], batch_size=BATCH))
        return timed(lambda: np.array(list(m.embed(texts, batch_size=BATCH))))


WORKERS = {
    "embedrock (Python Embedder)": run_embedrock,
    "sentence-transformers": run_sentence_transformers,
    "fastembed": run_fastembed,
}


def worker(args, texts):
    """One engine in this process: prints its timing as JSON, saves its vectors."""
    import json

    wall, cpu, out = WORKERS[args.worker](texts, args)
    np.save(args.vectors, np.asarray(out, dtype=np.float32))
    print(json.dumps({"wall": wall, "cpu": cpu}))
    return 0


def in_worker(name, args, tmp):
    """Runs a Python engine in a worker process: (wall, cpu, vectors)."""
    import json

    vectors = os.path.join(tmp, "vectors.npy")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--vectors", vectors,
           "--onnx", args.onnx, "--n", str(args.n)]
    if args.texts:
        cmd += ["--texts", args.texts]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    timing = json.loads(out.stdout.strip().splitlines()[-1])
    return timing["wall"], timing["cpu"], np.load(vectors)


def cli_runner(texts, binary, tmp):
    def write(items, name):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write("\n".join(items) + "\n")
        return path

    one, many = write(texts[:1], "one.txt"), write(texts, "all.txt")
    out = os.path.join(tmp, "out.npy")

    def cmd(path):
        return [binary, "--quiet", "embed", "--input", path, "--output", "npy", "--output-file", out,
                "--threads", str(THREADS), "--batch-size", str(BATCH)]

    def run():
        s_wall, s_cpu = child_timed(cmd(one))
        wall, cpu = child_timed(cmd(many))
        return wall - s_wall, cpu - s_cpu, np.load(out)

    return run


def read_texts(args):
    if args.texts:
        with open(args.texts) as f:
            return [line.rstrip("\n") for line in f if line.strip()][: args.n]
    return make_texts(args.n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts")
    ap.add_argument("--bin", default=os.environ.get("EMBEDROCK_BIN", "target/release/embedrock"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--onnx", default="/work/tmp/onnx/model.onnx")
    ap.add_argument("--json")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--vectors", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not 1 <= args.rounds <= 20 or not 1 <= args.n <= 100_000:
        sys.exit("--rounds: 1 to 20; --n: 1 to 100000")
    texts = read_texts(args)
    if args.worker:
        return worker(args, texts)
    print(f"CPU: {cpu_name()}; {len(texts)} texts, {THREADS} threads, batch {BATCH}, "
          f"{args.rounds} rounds", flush=True)
    base = "embedrock (Python Embedder)"
    runs, vectors, skipped = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        engines = [(base, lambda: in_worker(base, args, tmp)),
                   ("embedrock (CLI, embedding only)", cli_runner(texts, args.bin, tmp))]
        engines += [(name, (lambda n: lambda: in_worker(n, args, tmp))(name))
                    for name in ("sentence-transformers", "fastembed")]
        for r in range(args.rounds):
            k = r % len(engines)
            for name, run in engines[k:] + engines[:k]:
                if name in skipped:
                    continue
                try:
                    wall, cpu, out = run()
                except subprocess.CalledProcessError as e:  # reported, not timed
                    lines = ((e.stderr or "") + (e.stdout or "")).strip().splitlines() or ["?"]
                    skipped[name] = lines[-1][:300]
                    print(f"  {name} did not run: {skipped[name]}", flush=True)
                    continue
                runs.setdefault(name, []).append((wall, cpu))
                vectors[name] = np.asarray(out, dtype=np.float32)
                print(f"  round {r + 1}: {name:34s} {wall:8.2f} s wall {cpu:8.2f} s CPU", flush=True)
    results = {}
    for name, rs in runs.items():
        wall = statistics.median(w for w, _ in rs)
        cpu = statistics.median(c for _, c in rs)
        results[name] = {"wall_s": wall, "cpu_s": cpu, "texts_per_s": len(texts) / wall,
                         "texts_per_cpu_s": len(texts) / cpu, "rounds": rs}
        if base in vectors and vectors[name].shape == vectors[base].shape:
            results[name]["max_abs_diff_to_embedder"] = float(np.abs(vectors[name] - vectors[base]).max())
    print()
    print("| engine | wall s | texts/s | texts/CPU-s | Embedder's ratio, wall | per CPU-s | max abs diff to Embedder |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        b = results.get(base)
        wr = (r["wall_s"] / b["wall_s"]) if b else float("nan")
        cr = (b["texts_per_cpu_s"] / r["texts_per_cpu_s"]) if b else float("nan")
        diff = r.get("max_abs_diff_to_embedder", float("nan"))
        print(f"| {name} | {r['wall_s']:.2f} | {r['texts_per_s']:.1f} | {r['texts_per_cpu_s']:.2f} "
              f"| {wr:.2f}x | {cr:.2f}x | {diff:.1e} |")
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "texts": len(texts), "threads": THREADS, "batch": BATCH,
                       "results": results, "skipped": skipped}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

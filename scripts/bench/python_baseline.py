#!/usr/bin/env python3
"""Python throughput baseline for all-MiniLM-L6-v2 on CPU.

Measures three engines on the benchmark text sets written by make_texts.py
(DIR/short.txt and DIR/passages.txt, 1,000 texts each):

  sentence-transformers  SentenceTransformer.encode on torch, 2 threads
  onnxruntime            the same model exported to ONNX, run with
                         intra_op_num_threads=2 and ORT_ENABLE_ALL graph
                         optimisation; tokenisation with the model's
                         tokenizer.json (`tokenizers` library), truncation at
                         max_seq_length, padding to the longest text of the
                         batch, mean pooling over the attention mask and L2
                         normalisation, i.e. sentence-transformers' semantics
  onnxruntime (fused)    the same, after ONNX Runtime's transformer optimiser
                         (onnxruntime.transformers.optimizer, model_type bert)
                         fused attention, LayerNorm and GELU into its own kernels
  onnxruntime int8 (fused)  the fused model quantised by ONNX Runtime's own
                         onnxruntime.quantization.quantize_dynamic (int8
                         weights per channel, activations quantised per call):
                         the fast mode an ONNX Runtime user would deploy

All four run batches of 32 over texts sorted by length (longest first, as
sentence-transformers does internally).  Before timing, the ONNX output is
checked against sentence-transformers on the first 32 texts of each set
(max abs difference must be below 1e-4); the int8 model is lossy, so its
min and mean cosine to sentence-transformers over all texts are printed
instead.  Each timing is one warm-up batch
followed by a single pass over all 1,000 texts; the figures reported are
wall-clock seconds, CPU seconds of this process (time.process_time), texts
per second and texts per CPU second.

The ONNX model is exported once with torch.onnx.export (inputs input_ids,
attention_mask, token_type_ids; dynamic batch and sequence axes; opset 17;
output last_hidden_state) and cached at --onnx (default
/work/tmp/onnx/model.onnx).  Delete the file to re-export.

Setup (outside CI):

    python3 -m venv /tmp/pyref
    /tmp/pyref/bin/pip install sentence-transformers onnxruntime onnx

Usage:

    HF_HUB_OFFLINE=1 python scripts/bench/python_baseline.py \\
        --model-dir /path/to/all-MiniLM-L6-v2 --data DIR [--json out.json]
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Keep every thread pool at two threads before numpy/torch start.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

THREADS = 2
BATCH_SIZE = 32
SETS = ("short", "passages")
PARITY_TOL = 1e-4


def load_texts(data_dir, name):
    path = os.path.join(data_dir, f"{name}.txt")
    with open(path, encoding="utf-8") as fh:
        texts = [line.rstrip("\n") for line in fh if line.strip()]
    if not texts:
        sys.exit(f"no texts in {path}")
    return texts


def sort_by_length(texts):
    """Longest first, the order sentence-transformers uses inside encode()."""
    return sorted(texts, key=lambda t: -len(t))


def batches(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ---------------------------------------------------------------------------
# sentence-transformers (torch)
# ---------------------------------------------------------------------------

class SentenceTransformersEngine:
    name = "sentence-transformers"

    def __init__(self, model_dir):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(THREADS)
        self.torch = torch
        self.model = SentenceTransformer(model_dir, device="cpu")
        self.model.eval()

    def encode(self, texts):
        with self.torch.inference_mode():
            return self.model.encode(texts, batch_size=BATCH_SIZE,
                                     convert_to_numpy=True,
                                     show_progress_bar=False)


# ---------------------------------------------------------------------------
# onnxruntime
# ---------------------------------------------------------------------------

def export_onnx(st_model, path):
    """Export the transformer of a SentenceTransformer to ONNX (opset 17)."""
    import copy
    import inspect

    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self, hf_model):
            super().__init__()
            self.hf_model = hf_model

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.hf_model(input_ids=input_ids,
                                attention_mask=attention_mask,
                                token_type_ids=token_type_ids)
            return out[0]

    # Export a copy that uses the plain (eager) attention code path, which
    # traces without data-dependent shortcuts; the benchmarked model keeps
    # its default attention implementation.
    hf_model = copy.deepcopy(st_model[0].auto_model).eval()
    if hasattr(hf_model, "set_attn_implementation"):
        hf_model.set_attn_implementation("eager")
    else:
        hf_model.config._attn_implementation = "eager"
    wrapper = Wrapper(hf_model).eval()
    tokenize = getattr(st_model, "preprocess", None) or st_model.tokenize
    enc = tokenize(["an example sentence for export", "short"])
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    dyn = {0: "batch", 1: "sequence"}
    kwargs = dict(
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": dyn,
            "attention_mask": dyn,
            "token_type_ids": dyn,
            "last_hidden_state": dyn,
        },
        opset_version=17,
        do_constant_folding=True,
    )
    # Newer torch defaults to the dynamo exporter; use the TorchScript one,
    # which takes dynamic_axes.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(wrapper, args, tmp, **kwargs)
    import onnx

    onnx.checker.check_model(tmp)
    os.replace(tmp, path)


def fuse_onnx(plain_path, fused_path):
    """Runs ONNX Runtime's own transformer optimiser over the exported graph:
    it fuses attention, embedding + LayerNorm, bias + GELU and skip + LayerNorm
    into ORT's dedicated kernels, the form a user tuning ORT would deploy."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(plain_path, model_type="bert", num_heads=12, hidden_size=384)
    stats = model.get_fused_operator_statistics()
    if not stats.get("Attention"):
        sys.exit(f"the optimiser fused no attention: {stats}")
    tmp = fused_path + ".tmp"
    model.save_model_to_file(tmp)
    os.replace(tmp, fused_path)


def quantize_onnx(fused_path, int8_path):
    """ONNX Runtime's dynamic int8 quantisation of the fused graph: int8
    weights per channel, activations quantised at run time (MatMulInteger /
    DynamicQuantizeMatMul)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = int8_path + ".tmp"
    extra = {"DefaultTensorType": 1}  # FLOAT, for the fused ops' outputs
    quantize_dynamic(fused_path, tmp, weight_type=QuantType.QInt8, per_channel=True,
                     extra_options=extra)
    os.replace(tmp, int8_path)


class OnnxRuntimeEngine:
    name = "onnxruntime"

    def __init__(self, model_dir, onnx_path, max_seq_length, name=None):
        if name:
            self.name = name
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        # tokenizer.json ships with fixed 128-token padding/truncation; use the
        # sentence-transformers settings instead.
        tok.no_padding()
        tok.no_truncation()
        tok.enable_truncation(max_length=max_seq_length)
        pad_id = tok.token_to_id("[PAD]")
        tok.enable_padding(pad_id=0 if pad_id is None else pad_id,
                           pad_token="[PAD]")
        self.tokenizer = tok

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = THREADS
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(onnx_path, sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}

    def _encode_batch(self, texts):
        # Older sentence-transformers releases strip surrounding whitespace
        # before tokenising; the WordPiece pre-tokeniser drops it either way.
        encs = self.tokenizer.encode_batch([t.strip() for t in texts])
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        types = np.array([e.type_ids for e in encs], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {k: v for k, v in feeds.items() if k in self.input_names}
        hidden = self.session.run(None, feeds)[0]
        m = mask[:, :, None].astype(np.float32)
        summed = (hidden * m).sum(axis=1)
        counts = np.clip(m.sum(axis=1), 1e-9, None)
        pooled = summed / counts
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def encode(self, texts):
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts = [self._encode_batch([texts[i] for i in chunk])
                 for chunk in batches(order, BATCH_SIZE)]
        out = np.concatenate(parts, axis=0)
        result = np.empty_like(out)
        result[np.array(order)] = out
        return result


# ---------------------------------------------------------------------------

def time_engine(engine, texts):
    texts = sort_by_length(texts)
    engine.encode(texts[:BATCH_SIZE])  # warm-up batch
    c0 = time.process_time()
    w0 = time.perf_counter()
    emb = engine.encode(texts)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    assert emb.shape[0] == len(texts)
    return {
        "engine": engine.name,
        "set": None,
        "texts": len(texts),
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "texts_per_s": round(len(texts) / wall, 2),
        "texts_per_cpu_s": round(len(texts) / cpu, 2),
    }


def main():
    ap = argparse.ArgumentParser(description="sentence-transformers / onnxruntime throughput baseline")
    ap.add_argument("--model-dir", required=True, help="local all-MiniLM-L6-v2 folder")
    ap.add_argument("--data", required=True, help="directory with short.txt and passages.txt")
    ap.add_argument("--onnx", default="/work/tmp/onnx/model.onnx",
                    help="ONNX model cache path (exported if missing)")
    ap.add_argument("--onnx-fused", default=None,
                    help="fused ONNX model cache path (default: beside --onnx; built if missing)")
    ap.add_argument("--json", help="write machine-readable results here")
    args = ap.parse_args()

    import onnxruntime
    import sentence_transformers
    import torch

    data = {name: load_texts(args.data, name) for name in SETS}

    st = SentenceTransformersEngine(args.model_dir)
    max_seq_length = int(st.model.max_seq_length)
    if not os.path.exists(args.onnx):
        print(f"exporting ONNX model to {args.onnx}", file=sys.stderr)
        export_onnx(st.model, args.onnx)
    ort_engine = OnnxRuntimeEngine(args.model_dir, args.onnx, max_seq_length)
    fused_path = args.onnx_fused or os.path.join(os.path.dirname(os.path.abspath(args.onnx)), "model_fused.onnx")
    if not os.path.exists(fused_path):
        print(f"fusing ONNX model into {fused_path}", file=sys.stderr)
        fuse_onnx(args.onnx, fused_path)
    fused_engine = OnnxRuntimeEngine(args.model_dir, fused_path, max_seq_length, name="onnxruntime (fused)")
    int8_path = os.path.join(os.path.dirname(os.path.abspath(fused_path)), "model_fused_int8.onnx")
    if not os.path.exists(int8_path):
        print(f"quantising the fused ONNX model into {int8_path}", file=sys.stderr)
        quantize_onnx(fused_path, int8_path)
    int8_engine = OnnxRuntimeEngine(args.model_dir, int8_path, max_seq_length, name="onnxruntime int8 (fused)")

    print(f"python {platform.python_version()}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), sentence-transformers "
          f"{sentence_transformers.__version__}, onnxruntime {onnxruntime.__version__}")
    print(f"batch {BATCH_SIZE}, max_seq_length {max_seq_length}, texts sorted by length")

    for name in SETS:
        sample = data[name][:BATCH_SIZE]
        a = st.encode(sample)
        for engine in (ort_engine, fused_engine):
            b = engine.encode(sample)
            diff = float(np.max(np.abs(a - b)))
            status = "OK" if diff < PARITY_TOL else "FAIL"
            print(f"parity {name}: {engine.name} vs sentence-transformers on first "
                  f"{len(sample)} texts: max abs diff {diff:.3e} ({status}, tol {PARITY_TOL:g})")
            if diff >= PARITY_TOL:
                sys.exit(f"{engine.name} output does not match sentence-transformers")
        full = st.encode(data[name])
        cos = (int8_engine.encode(data[name]) * full).sum(axis=1)
        print(f"quality {name}: {int8_engine.name} vs sentence-transformers over "
              f"{len(full)} texts: min cosine {cos.min():.5f}, mean {cos.mean():.5f}")

    results = []
    for engine in (st, ort_engine, fused_engine, int8_engine):
        for name in SETS:
            r = time_engine(engine, data[name])
            r["set"] = name
            results.append(r)

    header = f"{'engine':<26} {'set':<9} {'texts':>5} {'wall s':>8} {'cpu s':>8} {'texts/s':>9} {'texts/cpu-s':>11}"
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['engine']:<26} {r['set']:<9} {r['texts']:>5} {r['wall_s']:>8.2f} "
              f"{r['cpu_s']:>8.2f} {r['texts_per_s']:>9.1f} {r['texts_per_cpu_s']:>11.1f}")

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
            fh.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build a tiny, randomly initialised BERT sentence-transformers model and its
reference vectors, to test that the local engine loads any BERT-family model
folder with no code change.

The model differs from all-MiniLM-L6-v2 in every way the engine must read
from the files rather than assume: hidden size 48 with 3 heads, 2 layers,
intermediate size 96, 64 positions, a 1,000-entry vocabulary, weights stored
under a `bert.` prefix beside a masked-LM head (as checkpoints saved from
BertForMaskedLM are), CLS pooling, no Normalize module, max_seq_length 40.
Vectors are computed with sentence-transformers' own modules
(Transformer -> Pooling(cls)), unnormalised. The files are those sentence-transformers 6
writes: `max_seq_length` lives in tokenizer_config.json (`model_max_length`),
and module types are named `...modules.pooling.Pooling`.

Not run in CI; its output folder crates/local/tests/fixtures/tiny-bert/ is
committed. Needs a Python with sentence-transformers (see gen_reference.py):

    HF_HUB_OFFLINE=1 /tmp/pyref/bin/python scripts/parity/gen_tiny_bert.py \\
        --tokenizer-from /path/to/all-MiniLM-L6-v2 \\
        --out crates/local/tests/fixtures/tiny-bert
"""

import argparse
import json
import os
import shutil

import torch
from sentence_transformers import SentenceTransformer, models
from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

TEXTS = [
    "Python is a programming language",
    "i have to go to the market",
    "Its a sunny day",
    "Today it may not be raining",
    "",
    "   ",
    "unknown words like zyzzyva and qwertyuiop become [UNK]",
    "Amazon Bedrock supports foundation models from industry-leading providers",
    " ".join(["the quick brown fox jumps over the lazy dog"] * 12),
    "a",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer-from", required=True, help="a BERT model folder whose tokenizer.json is cut down")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    torch.manual_seed(20261122)
    work = args.out + ".build"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    with open(os.path.join(args.tokenizer_from, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    full = sorted(tok["model"]["vocab"], key=tok["model"]["vocab"].get)
    # The special tokens, then real words and pieces (a BERT vocabulary starts
    # with hundreds of [unused] slots).
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = specials + [w for w in full[999:] if not w.startswith("[")][:995]
    ids = {w: i for i, w in enumerate(words)}
    tok["model"]["vocab"] = ids
    for name, spec in tok["post_processor"]["special_tokens"].items():
        spec["ids"] = [ids[name]]
    for added in tok["added_tokens"]:
        added["id"] = ids[added["content"]]
    tok["truncation"] = None
    tok["padding"] = None
    with open(os.path.join(work, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(work, "tokenizer.json"),
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
    )

    config = BertConfig(
        vocab_size=len(words),
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=3,
        intermediate_size=96,
        max_position_embeddings=64,
        hidden_act="gelu",
    )
    mlm = BertForMaskedLM(config).eval()
    # Give the LayerNorms and biases non-trivial values, so a loader that
    # skipped them would be caught.
    with torch.no_grad():
        for name, p in mlm.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    mlm.save_pretrained(work, safe_serialization=True)
    tokenizer.save_pretrained(work)

    transformer = models.Transformer(work, max_seq_length=40)
    # sentence-transformers loads the encoder as BertModel from the MLM checkpoint.
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode="cls")
    st = SentenceTransformer(modules=[transformer, pooling], device="cpu")
    vectors = st.encode(TEXTS, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
    tokens = [len(st.tokenize([t])["input_ids"][0]) for t in TEXTS]

    shutil.rmtree(args.out, ignore_errors=True)
    st.save(args.out)
    # Keep only what the engine reads; the masked-LM checkpoint (with its
    # `bert.` prefix and `cls.` head) replaces the bare encoder ST saved.
    keep = {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling",
    }
    for entry in os.listdir(args.out):
        if entry not in keep:
            path = os.path.join(args.out, entry)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    shutil.copy(os.path.join(work, "model.safetensors"), os.path.join(args.out, "model.safetensors"))
    shutil.rmtree(work)

    reference = {
        "generator": f"sentence-transformers, torch {torch.__version__}",
        "items": [
            {"text": t, "tokens": n, "embedding": [float(x) for x in v]}
            for t, n, v in zip(TEXTS, tokens, vectors)
        ],
    }
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False)
    print(f"wrote {args.out}: {len(TEXTS)} reference vectors of {vectors.shape[1]} dimensions")


if __name__ == "__main__":
    main()

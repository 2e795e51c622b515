#!/usr/bin/env python3
"""Generate the all-MiniLM-L6-v2 reference embeddings used by the parity tests.

The local embedding engine is checked against vectors produced by the Python
sentence-transformers library for a fixed list of texts (defined below):
empty and whitespace-only strings, non-Latin scripts, emoji, accented Latin,
texts far longer than the model's 256-token limit, code, URLs, numbers and
ordinary sentences.  For every text the file also records how many tokens
sentence-transformers fed to the model (input_ids length after its own
tokenize(), i.e. after truncation to max_seq_length and including [CLS] and
[SEP]).

The output, crates/local/tests/fixtures/minilm_reference.json, is committed
to the repository; this script is NOT run in CI.  To regenerate it, set up a
separate virtual environment:

    python3 -m venv /tmp/pyref
    /tmp/pyref/bin/pip install sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/pyref/bin/python scripts/parity/gen_reference.py \\
        --model-dir /path/to/all-MiniLM-L6-v2 \\
        --out crates/local/tests/fixtures/minilm_reference.json

--model-dir must be a local copy of the sentence-transformers model folder
(model.safetensors, tokenizer.json, config.json, modules.json,
sentence_bert_config.json, 1_Pooling/config.json); nothing is downloaded.

Output format:

    {"model": "all-MiniLM-L6-v2",
     "generator": "sentence-transformers X.Y.Z, torch A.B.C",
     "max_seq_length": 256,
     "items": [{"text": str, "tokens": int, "embedding": [384 floats]}, ...]}

Embeddings come straight from SentenceTransformer.encode (batch size 16) with
the model's own module pipeline (Transformer -> mean Pooling -> Normalize), so
they are unit length.  Each float32 component is written as repr(float(x)),
which round-trips to the exact float32 value.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BATCH_SIZE = 16

QUICKSTART = [
    "Python is a programming language",
    "i have to go to the market",
    "Its a sunny day",
    "Today it may not be raining",
    "Amazon Bedrock supports foundation models from industry-leading providers "
    "such as AI21 Labs, Anthropic, Stability AI, and Amazon. Choose the model "
    "that is best suited to achieving your unique goals.",
]

EDGE_CASES = [
    "",
    "   ",
    "\t\n",
    " leading and trailing spaces ",
    "a",
    "?",
]

NON_LATIN = [
    "我喜欢在周末读书和喝茶。",  # Chinese
    "机器学习是人工智能的一个分支。",  # Chinese
    "東京は日本の首都です。",  # Japanese (kanji + kana)
    "カタカナとひらがなを混ぜた文章です",  # Japanese
    "اللغة العربية جميلة جدا",  # Arabic
    "مرحبا بالعالم، كيف حالك اليوم؟",  # Arabic
    "मुझे भारतीय खाना बहुत पसंद है।",  # Hindi
    "Привет, как дела? Сегодня хорошая погода.",  # Russian
    "Москва — столица России.",  # Russian
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",  # Greek
    "안녕하세요, 만나서 반갑습니다.",  # Korean
    "서울은 대한민국의 수도입니다",  # Korean
    "שלום עולם",  # Hebrew
    "สวัสดีครับ ยินดีที่ได้รู้จัก",  # Thai
]

EMOJI = [
    "😀",
    "🚀🔥💯",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🇯🇵 🇫🇷 🇧🇷",
    "I love pizza 🍕 and sushi 🍣!",
    "Deploy finished ✅ — time for coffee ☕",
]

ACCENTED = [
    "Café au lait, crème brûlée et pâtisserie française.",
    "El niño comió jalapeños en la montaña.",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein.",
    "São Paulo é a maior cidade do Brasil.",
    "Ångström, Ørsted og Æbeltoft.",
    "Zażółć gęślą jaźń.",
    "naïve façade résumé coöperate",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ ａｎｄ ｎｕｍｂｅｒｓ １２３",
]

ENGLISH = [
    "Hello world",
    "The cat sat on the mat.",
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The new movie is awesome",
    "How do I reset my password if I no longer have access to my email account?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The quarterly report shows revenue grew by twelve percent compared to last year, "
    "driven mainly by strong demand in the European and Asian markets.",
    "She sells sea shells by the sea shore.",
    "Embeddings map text to dense vectors so that similar meanings end up close together.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief, it was the epoch of "
    "incredulity, it was the season of Light, it was the season of Darkness.",
    "UPPERCASE TEXT SHOULD BE LOWERCASED BY THE TOKENIZER",
    "don't won't can't shouldn't y'all'd've",
]

SYMBOLS_CODE_NUMBERS = [
    "!!! ??? ... ;;; ::: --- ***",
    "Wait... what?! No -- really??? (yes, [really]) {maybe}.",
    "https://example.com/path/to/page?query=embedding&lang=en#section-2",
    "Contact: jane.doe+test@example.org, tel. +1 (555) 010-9999",
    "def add(a, b):\n    return a + b\n",
    "fn main() { println!(\"{}\", vec![1, 2, 3].iter().sum::<i32>()); }",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id;",
    "<div class=\"card\"><p>Hello &amp; welcome</p></div>",
    "3.14159 2.71828 1.41421 6.02214076e23 -273.15 1,000,000",
    "Order #A-1029 shipped on 2023-11-05 at 14:32 UTC for $1,299.99",
    "x² + y² = z², ∑ᵢ aᵢ ≤ ∞, α β γ δ",
    "C:\\Program Files\\App\\config.ini",
    "tab\tseparated\tvalues\nand\nnew lines",
]


def _long_text(topic_words, n_sentences, seed_shift):
    """Deterministic long English text built from numbered sentence templates."""
    templates = [
        "Section {n} describes how the {a} interacts with the {b} under normal conditions.",
        "In practice, engineers measure the {a} every {n} minutes and compare it with the {b}.",
        "When the {b} changes quickly, the {a} may need {n} additional checks before release.",
        "Historical records from year {y} show that the {a} was often confused with the {b}.",
        "A careful reader will notice that item {n} repeats an idea about the {a}.",
        "Finally, the committee approved proposal number {n} concerning the {b}.",
    ]
    out = []
    k = len(topic_words)
    for i in range(n_sentences):
        t = templates[(i + seed_shift) % len(templates)]
        a = topic_words[(i * 3 + seed_shift) % k]
        b = topic_words[(i * 5 + 1 + seed_shift) % k]
        out.append(t.format(n=i + 1, a=a, b=b, y=1900 + (i * 7 + seed_shift) % 120))
    return " ".join(out)


LONG = [
    # ~430 words, ordinary English prose.
    _long_text(
        ["river", "bridge", "harbour", "lighthouse", "ferry", "tide", "canal", "dock"],
        30, 0),
    # ~560 words, technical vocabulary.
    _long_text(
        ["tokenizer", "embedding model", "vector index", "cache", "thread pool",
         "batch scheduler", "attention mask", "pooling layer", "checkpoint"],
        40, 2),
    # ~500 words in a single repeated paragraph with punctuation and numbers.
    " ".join(
        f"Paragraph {i}: the quick brown fox jumps over the lazy dog, "
        f"then rests for {i * 3} seconds; meanwhile, {i + 1} birds sing."
        for i in range(1, 29)),
    # ~450 words of mixed Latin and non-Latin text.
    " ".join(
        f"Entry {i} says hello, bonjour, hola, привет, 你好, こんにちは, and مرحبا to everyone."
        for i in range(1, 33)),
]


def all_texts():
    texts = (QUICKSTART + EDGE_CASES + NON_LATIN + EMOJI + ACCENTED + ENGLISH
             + SYMBOLS_CODE_NUMBERS + LONG)
    assert len(texts) == len(set(texts)), "duplicate texts"
    return texts


def main():
    ap = argparse.ArgumentParser(description="Generate MiniLM reference embeddings.")
    ap.add_argument("--model-dir", required=True, help="local all-MiniLM-L6-v2 folder")
    ap.add_argument("--out", required=True, help="output JSON path")
    args = ap.parse_args()

    import numpy as np
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    if not os.path.isdir(args.model_dir):
        sys.exit(f"model dir not found: {args.model_dir}")

    model = SentenceTransformer(args.model_dir, device="cpu")
    model.eval()
    max_seq_length = int(model.max_seq_length)

    texts = all_texts()
    emb = model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True,
                       show_progress_bar=False)
    emb = np.asarray(emb, dtype=np.float32)

    # sentence-transformers >= 6 calls it preprocess(); older releases tokenize().
    tokenize = getattr(model, "preprocess", None) or model.tokenize

    items = []
    for text, vec in zip(texts, emb):
        features = tokenize([text])
        n_tokens = int(features["input_ids"].shape[1])
        items.append({
            "text": text,
            "tokens": n_tokens,
            "embedding": [float(x) for x in vec],
        })

    norms = np.linalg.norm(emb, axis=1)
    truncated = sum(1 for it in items if it["tokens"] >= max_seq_length)

    doc = {
        "model": "all-MiniLM-L6-v2",
        "generator": f"sentence-transformers {sentence_transformers.__version__}, "
                     f"torch {torch.__version__}",
        "max_seq_length": max_seq_length,
        "items": items,
    }

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # json writes floats with repr(), the shortest string that round-trips.
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
        fh.write("\n")

    print(f"wrote {args.out}: {len(items)} items, dim {emb.shape[1]}, "
          f"{truncated} truncated at {max_seq_length} tokens, "
          f"norms {norms.min():.6f}..{norms.max():.6f}, "
          f"{os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()

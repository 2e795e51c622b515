"""Real short texts for the store benchmark's real-embedding set.

Gathers one-line descriptions of software from package indexes, removes
duplicates (case and spacing folded) and texts under three words, shuffles
them with a fixed seed and writes:

    DIR/texts.txt     the first N texts, one per line (the collection)
    DIR/queries.txt   the next Q texts (held out: not in the collection)
    DIR/source.json   where the texts came from and how many each gave

Sources, each optional, read in this order:

  --pypi FILE     a TSV with a header and the summary in a column named
                  `summary` (a listing of the Python Package Index)
  --npm FILE      the same for the npm registry (`summary` column)
  --debian        APT's Translation-en indexes under /var/lib/apt/lists
                  (run `apt-get update -o Acquire::Languages=en` first):
                  each package's short description, and each sentence of
                  its long description

The texts are then embedded by `embedrock embed` and turned into the
benchmark's vector files by `store_embed.sh`.

    python store_texts.py --pypi pypi.tsv --npm npm.tsv --debian \
        --n 1000000 --queries 1000 --out DIR
"""
import argparse
import glob
import json
import os
import random
import re
import subprocess
import sys

MAX_CHARS = 1000


def tsv_summaries(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\n").split("\t")
        # The column is `summary`, possibly followed by a note in the header.
        col = next(i for i, name in enumerate(header) if name.split(" ")[0] == "summary")
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) > col:
                # A leading "[...]" note is the listing's, not the package's.
                yield re.sub(r"^\[[^\]]*\]\s*", "", parts[col])


def debian_texts():
    files = sorted(glob.glob("/var/lib/apt/lists/*_i18n_Translation-en*"))
    if not files:
        sys.exit("no Translation-en index: run apt-get update -o Acquire::Languages=en")
    for path in files:
        if path.endswith(".lz4"):
            raw = subprocess.run(["lz4cat", path], check=True, capture_output=True).stdout
        else:
            with open(path, "rb") as f:
                raw = f.read()
        text = raw.decode("utf-8", errors="replace")
        for stanza in text.split("\n\n"):
            short, body = None, []
            for line in stanza.split("\n"):
                if line.startswith("Description-en:"):
                    short = line.split(":", 1)[1].strip()
                elif short is not None and line.startswith(" "):
                    body.append("" if line.strip() == "." else line.strip())
            if short is None:
                continue
            yield short
            for para in " ".join(body).split("  "):
                for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", para):
                    yield sentence


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pypi")
    ap.add_argument("--npm")
    ap.add_argument("--debian", action="store_true")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    seen, texts, counts = set(), [], {}
    sources = []
    if a.pypi:
        sources.append(("pypi", tsv_summaries(a.pypi)))
    if a.npm:
        sources.append(("npm", tsv_summaries(a.npm)))
    if a.debian:
        sources.append(("debian", debian_texts()))
    for name, items in sources:
        kept = 0
        for t in items:
            t = " ".join(t.split())[:MAX_CHARS]
            if len(t.split()) < 3:
                continue
            key = t.lower()
            if key in seen:
                continue
            seen.add(key)
            texts.append(t)
            kept += 1
        counts[name] = kept
    need = a.n + a.queries
    if len(texts) < need:
        sys.exit(f"only {len(texts)} distinct texts, {need} needed")
    random.Random(a.seed).shuffle(texts)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "texts.txt"), "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts[: a.n])
    with open(os.path.join(a.out, "queries.txt"), "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts[a.n : need])
    with open(os.path.join(a.out, "source.json"), "w") as f:
        json.dump({"distinct": len(texts), "per_source": counts, "n": a.n,
                   "queries": a.queries, "seed": a.seed}, f, indent=1)
    print(json.dumps(counts), len(texts), file=sys.stderr)


if __name__ == "__main__":
    main()

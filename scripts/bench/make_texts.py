#!/usr/bin/env python3
"""Build the deterministic benchmark text sets from Debian package descriptions.

Writes two files, one text per line (no newlines inside a text):

    DIR/short.txt     1,000 short sentences of 8-16 words each
    DIR/passages.txt  1,000 passages of exactly 200 words each

Source: the English package-description indexes that apt keeps in
/var/lib/apt/lists/*Translation-en* (lz4, gzip, xz, bzip2 or plain).  If they
are missing, fetch them first (as root):

    apt-get update -o Acquire::Languages=en

Only the Python standard library is needed.  lz4 files are read with the
`lz4` Python module when it is installed, otherwise with the `lz4cat`/`lz4`
command or apt's own `apt-helper cat-file`.

Short texts are package short descriptions, cleaned of packaging qualifiers
("- Python 3.x", "(library)", ...), deduplicated case-insensitively and kept
when they have 8-16 words; if fewer than 1,000 such sentences exist, pairs of
shorter ones are joined to make up the difference.

Passages are built from long descriptions, package by package in name order.
Paragraphs already seen in another package (sibling packages such as foo,
foo-data and foo-doc repeat the same text) are dropped; the remaining
paragraphs are concatenated until at least 200 words are available and the
text is cut to exactly 200 words.

Everything is sorted before a fixed-seed random.Random picks the final sets,
so the output depends only on the contents of the description indexes.

Usage:
    python scripts/bench/make_texts.py --out DIR [--lists /var/lib/apt/lists]
"""

import argparse
import bz2
import glob
import gzip
import hashlib
import lzma
import os
import random
import re
import shutil
import subprocess
import sys

N_TEXTS = 1000
SHORT_MIN_WORDS = 8
SHORT_MAX_WORDS = 16
PASSAGE_WORDS = 200
SEED = 20240611


# ---------------------------------------------------------------------------
# Reading the description indexes
# ---------------------------------------------------------------------------

def _read_lz4(path):
    try:
        import lz4.frame  # type: ignore

        with lz4.frame.open(path, "rb") as fh:
            return fh.read()
    except ImportError:
        pass
    for cmd in (["lz4cat", path], ["lz4", "-dc", path],
                ["/usr/lib/apt/apt-helper", "cat-file", path]):
        if shutil.which(cmd[0]) or os.path.exists(cmd[0]):
            return subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    sys.exit(f"cannot decompress {path}: install the lz4 tool or the lz4 Python module")


def read_index(path):
    """Return the decompressed text of one Translation-en file."""
    if path.endswith(".lz4"):
        data = _read_lz4(path)
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    elif path.endswith(".xz") or path.endswith(".lzma"):
        with lzma.open(path, "rb") as fh:
            data = fh.read()
    elif path.endswith(".bz2"):
        with bz2.open(path, "rb") as fh:
            data = fh.read()
    else:
        with open(path, "rb") as fh:
            data = fh.read()
    return data.decode("utf-8", errors="replace")


def find_indexes(lists_dir):
    paths = []
    for p in sorted(glob.glob(os.path.join(lists_dir, "*Translation-en*"))):
        if not os.path.isfile(p) or p.endswith((".diff", ".IndexDiff")):
            continue
        if re.search(r"Translation-en(\.(lz4|gz|xz|lzma|bz2))?$", p):
            paths.append(p)
    return paths


def parse_descriptions(text):
    """Yield (package, short, [paragraphs]) for every stanza of an index."""
    for stanza in text.split("\n\n"):
        package = None
        short = None
        body = []
        in_desc = False
        for line in stanza.split("\n"):
            if line.startswith("Package:"):
                package = line[len("Package:"):].strip()
                in_desc = False
            elif line.startswith("Description-en:"):
                short = line[len("Description-en:"):].strip()
                in_desc = True
            elif in_desc and line.startswith((" ", "\t")):
                body.append(line[1:])
            else:
                in_desc = False
        if not package or short is None:
            continue
        paragraphs = []
        current = []
        for line in body:
            if line.strip() == ".":
                if current:
                    paragraphs.append(normalise_space(" ".join(current)))
                    current = []
            else:
                current.append(line.strip())
        if current:
            paragraphs.append(normalise_space(" ".join(current)))
        yield package, short, [p for p in paragraphs if p]


def normalise_space(s):
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------------------
# Short sentences
# ---------------------------------------------------------------------------

_TRAILING_PAREN = re.compile(r"\s*\([^()]*\)\s*$")
_TRAILING_QUALIFIER = re.compile(r"\s+(-|--|;|:)\s+[^-;:]{1,40}$")
_NATURAL = re.compile(r"^[A-Za-z][A-Za-z0-9 ,.'&/+-]*$")


def clean_short(s):
    """Turn a short description into a plain sentence, or None if unsuitable."""
    s = normalise_space(s)
    for _ in range(2):
        s = _TRAILING_PAREN.sub("", s)
        s = _TRAILING_QUALIFIER.sub("", s)
    s = s.strip(" -;:,")
    if not s or not _NATURAL.match(s):
        return None
    if " - " in s or " -- " in s:
        return None
    s = s[0].upper() + s[1:]
    if not s.endswith("."):
        s += "."
    return s


def build_short(shorts, rng):
    seen = set()
    cleaned = []
    for s in sorted(shorts):
        c = clean_short(s)
        if c is None or c.lower() in seen:
            continue
        seen.add(c.lower())
        cleaned.append(c)

    fit = [c for c in cleaned if SHORT_MIN_WORDS <= len(c.split()) <= SHORT_MAX_WORDS]
    chosen = rng.sample(fit, min(N_TEXTS, len(fit)))

    if len(chosen) < N_TEXTS:
        # Join pairs of shorter sentences until the set is full.
        short_ones = [c for c in cleaned if len(c.split()) < SHORT_MIN_WORDS]
        rng.shuffle(short_ones)
        pairs = []
        for a, b in zip(short_ones[0::2], short_ones[1::2]):
            joined = f"{a} {b}"
            if SHORT_MIN_WORDS <= len(joined.split()) <= SHORT_MAX_WORDS:
                pairs.append(joined)
        chosen += pairs[: N_TEXTS - len(chosen)]
    if len(chosen) < N_TEXTS:
        sys.exit(f"only {len(chosen)} short sentences could be built")
    return chosen


# ---------------------------------------------------------------------------
# Passages
# ---------------------------------------------------------------------------

def build_passages(packages, rng):
    """packages: {name: [paragraphs]}; returns a list of 200-word passages."""
    seen = set()
    candidates = []
    words = []
    for name in sorted(packages):
        for para in packages[name]:
            key = para.lower()
            if key in seen:
                continue
            seen.add(key)
            words.extend(para.split())
        if len(words) >= PASSAGE_WORDS:
            candidates.append(" ".join(words[:PASSAGE_WORDS]))
            words = []
    if len(candidates) < N_TEXTS:
        sys.exit(f"only {len(candidates)} passages could be built")
    return rng.sample(candidates, N_TEXTS)


# ---------------------------------------------------------------------------

def write_lines(path, texts):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for t in texts:
            t = normalise_space(t)
            assert t and "\n" not in t
            fh.write(t + "\n")
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--lists", default="/var/lib/apt/lists",
                    help="directory holding the apt Translation-en indexes")
    args = ap.parse_args()

    paths = find_indexes(args.lists)
    if not paths:
        sys.exit(
            f"no *Translation-en* files in {args.lists}.\n"
            "Fetch the English package descriptions first (as root):\n"
            "    apt-get update -o Acquire::Languages=en"
        )

    shorts = set()
    packages = {}
    for p in paths:
        for package, short, paragraphs in parse_descriptions(read_index(p)):
            shorts.add(normalise_space(short))
            # The first index that names a package wins (paths are sorted).
            packages.setdefault(package, paragraphs)
    print(f"read {len(paths)} index file(s): {len(packages)} packages, "
          f"{len(shorts)} distinct short descriptions", file=sys.stderr)

    short = build_short(shorts, random.Random(SEED))
    passages = build_passages(packages, random.Random(SEED + 1))

    os.makedirs(args.out, exist_ok=True)
    for name, texts in (("short.txt", short), ("passages.txt", passages)):
        path = os.path.join(args.out, name)
        digest = write_lines(path, texts)
        n_words = [len(t.split()) for t in texts]
        print(f"{path}: {len(texts)} texts, {min(n_words)}-{max(n_words)} words, "
              f"sha256 {digest}")


if __name__ == "__main__":
    main()

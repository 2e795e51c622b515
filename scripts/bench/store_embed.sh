#!/usr/bin/env bash
# Real embeddings for the store benchmark: embeds the texts written by
# store_texts.py with the local all-MiniLM-L6-v2 and writes the vector files
# store.sh reads with VECTORS=DIR (`vectors.f32`, `queries.f32`: little-endian
# float32, 384 per row, unit length).
#
#   scripts/bench/store_embed.sh DIR        (DIR holds texts.txt and queries.txt)
#
# Environment: EMBEDROCK_BIN (default target/release/embedrock), THREADS
# (default every core), PYTHON (a python with numpy; default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:?usage: store_embed.sh DIR}
BIN=${EMBEDROCK_BIN:-target/release/embedrock}
THREADS=${THREADS:-$(nproc)}
PYTHON=${PYTHON:-python3}
[[ -s $DIR/texts.txt && -s $DIR/queries.txt ]] || { echo "no texts.txt/queries.txt in $DIR" >&2; exit 1; }
# The last step needs numpy: check before the long embedding, not after.
"$PYTHON" -c "import numpy" 2>/dev/null ||
  { echo "$PYTHON has no numpy; set PYTHON to a python with numpy (such as store.sh's STORE_PY)" >&2; exit 1; }

echo "CPU: $(lscpu | grep 'Model name' | sed 's/Model name: *//'), $(nproc) cores" | tee "$DIR/embed.txt"
for set in queries texts; do
  kind=document
  [[ $set == queries ]] && kind=query
  start=$(date +%s.%N)
  "$BIN" embed --input "$DIR/$set.txt" --input-type "$kind" --threads "$THREADS" \
    --output npy --output-file "$DIR/$set.npy"
  end=$(date +%s.%N)
  python3 - "$DIR/$set.txt" "$start" "$end" <<'PY' | tee -a "$DIR/embed.txt"
import sys
n = sum(1 for _ in open(sys.argv[1], encoding="utf-8"))
s = float(sys.argv[3]) - float(sys.argv[2])
print(f"{sys.argv[1]}: {n} texts in {s:.0f} s, {n / s:.0f} texts/s")
PY
done
"$PYTHON" - "$DIR" <<'PY'
import os, sys
import numpy as np
d = sys.argv[1]
for src, dst in (("texts.npy", "vectors.f32"), ("queries.npy", "queries.f32")):
    v = np.load(os.path.join(d, src), mmap_mode="r")
    assert v.dtype == np.float32 and v.shape[1] == 384, v.shape
    np.asarray(v, dtype="<f4").tofile(os.path.join(d, dst))
    os.remove(os.path.join(d, src))
    print(dst, v.shape)
PY

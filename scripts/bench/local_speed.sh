#!/usr/bin/env bash
# Local embedding speed, side by side in one run: embedrock against
# sentence-transformers and ONNX Runtime (when a Python with them is given).
#
#   scripts/bench/local_speed.sh [PYTHON_WITH_SENTENCE_TRANSFORMERS]
#
# Environment: DATA (text sets, default bench-data), OUT (results directory,
# default bench-results/<date>), THREADS (default 2), BATCH (default 32),
# PRECISIONS (embedrock's, comma-separated; default fp32,int8, and bf16 where
# the CPU has AVX512_BF16 or AMX-BF16).
# Not run in CI: the Python side needs torch, which CI does not install.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY_REF=${1:-}
DATA=${DATA:-bench-data}
OUT=${OUT:-bench-results/$(date -u +%Y-%m-%d)-$(hostname)}
THREADS=${THREADS:-2}
BATCH=${BATCH:-32}
if grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
  PRECISIONS=${PRECISIONS:-fp32,int8,bf16}
else
  PRECISIONS=${PRECISIONS:-fp32,int8}
fi
mkdir -p "$OUT"

if [[ ! -s "$DATA/short.txt" || ! -s "$DATA/passages.txt" ]]; then
  python3 scripts/bench/make_texts.py --out "$DATA"
fi

cargo build --release --quiet -p embedrock
BIN=${CARGO_TARGET_DIR:-target}/release/embedrock
MODEL_DIR=$("$BIN" --quiet models pull all-minilm-l6-v2 | sed -E 's/.*: (.*)$/\1/')

{
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "date: $(date -u +%FT%TZ)"
  echo "cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512_vnni|avx512_bf16|amx_bf16|amx_int8|amx_tile)$' | tr '\n' ' ')"
  echo "threads: $THREADS, batch: $BATCH, embedrock precisions: $PRECISIONS"
  echo "instruction-set caps: EMBEDROCK_MAX_ISA=${EMBEDROCK_MAX_ISA:-none} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-none} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-none}"
} | tee "$OUT/machine.txt"

"$BIN" --quiet bench speed --data "$DATA" --threads "$THREADS" --batch-size "$BATCH" --precision "$PRECISIONS" --json "$OUT/embedrock.json"

if [[ -n "$PY_REF" ]] && "$PY_REF" -c "import sentence_transformers, onnxruntime" 2>/dev/null; then
  "$PY_REF" scripts/bench/python_baseline.py --model-dir "$MODEL_DIR" --data "$DATA" --json "$OUT/python.json"
  python3 scripts/bench/compare.py "$OUT/embedrock.json" "$OUT/python.json" | tee "$OUT/summary.md"
else
  echo "(no Python with sentence-transformers and onnxruntime given: embedrock figures only)"
fi

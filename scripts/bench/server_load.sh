#!/usr/bin/env bash
# Load benchmark of `embedrock serve` on loopback: requests/s and p50/p99
# latency under concurrent load, and HTTP throughput as a ratio of in-process
# throughput on the same texts (see docs/benchmarks.md).
#
#   scripts/bench/server_load.sh [TEXTS_FILE]
#
# TEXTS_FILE defaults to bench-data/short.txt when it exists (made by
# scripts/bench/make_texts.py), else built-in twelve-word sentences.
set -euo pipefail
cd "$(dirname "$0")/../.."
texts=${1:-}
if [ -z "$texts" ] && [ -f bench-data/short.txt ]; then texts=bench-data/short.txt; fi
args=()
[ -n "$texts" ] && args+=(--texts "$texts")
# Examples link the dev-dependencies (the AWS SDK); rather than build those
# again in release, build in the dev profile with the workspace crates
# optimised too (dependencies already are, see the root Cargo.toml).
export CARGO_PROFILE_DEV_OPT_LEVEL=3
cargo build -q -p embedrock-server --example load
bin=${CARGO_TARGET_DIR:-target}/debug/examples/load
if [ -z "${SERVER_LOAD_SKIP_THROUGHPUT:-}" ]; then
  for spec in "amazon.titan-embed-text-v2:0 1 8 2000" "cohere.embed-english-v3 32 4 200"; do
    set -- $spec
    echo "== $1, $2 text(s) per request, concurrency $3"
    "$bin" "${args[@]}" --model "$1" --batch "$2" --concurrency "$3" --requests "$4"
  done
fi

# Admission control off and on, side by side in one run: 50 closed-loop
# clients for SECONDS (default 60) each; then /_embedrock/health latency
# while 20 MB bodies arrive. Set SERVER_LOAD_SKIP_THROUGHPUT=1 to run only these.
seconds=${SECONDS_EACH:-60}
echo "== admission control off/on, 50 clients, ${seconds} s each"
"$bin" --mode admission --model amazon.titan-embed-text-v2:0 --batch 1 --concurrency 50 --seconds "$seconds" --limit 16
echo "== health while oversized requests arrive"
"$bin" --mode health --concurrency 4 --seconds 20

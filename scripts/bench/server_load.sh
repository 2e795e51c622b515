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
for spec in "amazon.titan-embed-text-v2:0 1 8 2000" "cohere.embed-english-v3 32 4 200"; do
  set -- $spec
  echo "== $1, $2 text(s) per request, concurrency $3"
  "$bin" "${args[@]}" --model "$1" --batch "$2" --concurrency "$3" --requests "$4"
done

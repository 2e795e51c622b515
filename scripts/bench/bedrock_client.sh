#!/usr/bin/env bash
# The Bedrock client's throughput against `embedrock serve` emulating Bedrock:
# 100 ms latency and a Titan quota of 6,000 requests/min (100/s), SigV4 on.
# Our client embeds 10,000 texts; the seed notebook's sequential boto3 loop
# embeds a smaller sample (it needs about 17 minutes for 10,000 at 100 ms a
# call) and its rate is extrapolated.
#
#   scripts/bench/bedrock_client.sh [TEXTS] [BOTO3_SAMPLE]
#
# RPM=3000 sets another quota; BOTO3_SAMPLE=0 skips the boto3 loop.
#
# Needs: a built `embedrock` (cargo build), python3 with boto3
# (BOTO_PY=/path/to/python; default /work/tmp/botovenv/bin/python).
set -euo pipefail
N=${1:-10000}
SAMPLE=${2:-500}
PORT=${PORT:-18770}
RPM=${RPM:-6000}
BIN=${EMBEDROCK_BIN:-${CARGO_TARGET_DIR:-target}/debug/embedrock}
PY=${BOTO_PY:-/work/tmp/botovenv/bin/python}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL=http://127.0.0.1:$PORT

python3 - "$WORK" "$N" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
words = "river mountain signal copper garden lantern harbor violet engine quiet market thunder".split()
def text(i, tag):
    return f"{tag} {i}: " + " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(12))
with open(f"{work}/warm.jsonl", "w") as f:
    for i in range(6000):
        f.write(json.dumps({"text": text(i, "warm-up")}) + "\n")
with open(f"{work}/corpus.jsonl", "w") as f, open(f"{work}/corpus.txt", "w") as t:
    for i in range(n):
        f.write(json.dumps({"id": i, "text": text(i, "passage")}) + "\n")
        t.write(text(i, "seed") + "\n")
PY

"$BIN" serve --port "$PORT" --auth sigv4 --credential AKIDTEST:dummy-secret --no-access-log \
  --fault latency=100ms,rpm="$RPM" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "$URL/_embedrock/health" >/dev/null 2>&1 && break; sleep 0.2; done

export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=dummy-secret AWS_REGION=us-east-1
# The quota's bucket starts full (one minute of requests): drain it first, so
# the measured run meets the steady ceiling.
"$BIN" embed --model amazon.titan-embed-text-v2:0 --input "$WORK/warm.jsonl" \
  --output-file "$WORK/warm.out" --no-cache --endpoint-url "$URL" --concurrency 64

start=$(date +%s.%N)
"$BIN" embed --model amazon.titan-embed-text-v2:0 --input "$WORK/corpus.jsonl" \
  --output-file "$WORK/out.jsonl" --no-cache --endpoint-url "$URL" --concurrency 64 2>"$WORK/client.err"
end=$(date +%s.%N)
cat "$WORK/client.err"
lines=$(wc -l <"$WORK/out.jsonl")
errors=$(grep -c '"error"' "$WORK/out.jsonl" || true)
ours=$(python3 -c "print(f'{$N/($end-$start):.1f}')")
secs=$(python3 -c "print(f'{$end-$start:.1f}')")

ceiling=$(python3 -c "print($RPM/60)")
echo "texts $N, output lines $lines, failed items $errors"
echo "embedrock client: $secs s, $ours texts/s = $(python3 -c "print(f'{$ours/$ceiling:.3f}')") of the $ceiling requests/s quota ceiling"
if [[ "$SAMPLE" -gt 0 ]]; then
  boto=$("$PY" scripts/bench/seed_loop.py "$URL" "$WORK/corpus.txt" "$SAMPLE")
  boto_rate=$(python3 -c "import json; print(json.loads('$boto')['per_second'])")
  python3 -c "b=$boto_rate; print(f'seed notebook boto3 loop ($SAMPLE texts): {b:.2f} texts/s -> 10,000 texts in {10000/b/60:.1f} min (extrapolated)'); print(f'speed-up: {$ours/b:.1f}x')"
fi

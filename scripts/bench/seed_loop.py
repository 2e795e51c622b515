"""The seed notebook's way to embed a corpus: one boto3 invoke_model call per
text, one after another. Reads texts (one per line) and prints a JSON line
with the count, seconds and rate.

    python scripts/bench/seed_loop.py URL TEXTS_FILE N
"""

import json
import sys
import time

import boto3

url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = boto3.client(
    "bedrock-runtime",
    endpoint_url=url,
    region_name="us-east-1",
    aws_access_key_id="AKIDTEST",
    aws_secret_access_key="dummy-secret",
)
texts = [line.rstrip("\n") for line in open(path, encoding="utf-8")][:n]
model_id = "amazon.titan-embed-text-v2:0"


def get_embedding(prompt):
    body = json.dumps({"inputText": prompt, "dimensions": 1024, "normalize": True})
    model = client.invoke_model(modelId=model_id, body=body, accept="application/json", contentType="application/json")
    return json.loads(model.get("body").read()).get("embedding")


start = time.perf_counter()
vectors = [get_embedding(t) for t in texts]
secs = time.perf_counter() - start
assert len(vectors) == len(texts) and all(len(v) == 1024 for v in vectors)
print(json.dumps({"texts": len(texts), "seconds": round(secs, 3), "per_second": round(len(texts) / secs, 2)}))

"""boto3 against `embedrock serve`, doing what a Bedrock user does."""

import json
import math
import os
import subprocess
import sys
import urllib.request

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import clients


def invoke(rt, model, body, **kw):
    out = rt.invoke_model(modelId=model, body=json.dumps(body), **kw)
    return json.loads(out["body"].read()), out


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def code(exc):
    return exc.response["Error"]["Code"]


def test_list_models_filtered_to_embeddings(server):
    bedrock, _ = clients(server.url)
    out = bedrock.list_foundation_models(byOutputModality="EMBEDDING")
    ids = [m["modelId"] for m in out["modelSummaries"]]
    for want in [
        "amazon.titan-embed-text-v1",
        "amazon.titan-embed-text-v2:0",
        "amazon.titan-embed-image-v1",
        "cohere.embed-english-v3",
        "cohere.embed-multilingual-v3",
        "cohere.embed-v4:0",
    ]:
        assert want in ids
    assert all(m["outputModalities"] == ["EMBEDDING"] for m in out["modelSummaries"])
    amazon = bedrock.list_foundation_models(byProvider="Amazon")["modelSummaries"]
    assert {m["providerName"] for m in amazon} == {"Amazon"}
    assert bedrock.list_foundation_models(byOutputModality="TEXT")["modelSummaries"] == []
    on_demand = [m["modelId"] for m in bedrock.list_foundation_models(byInferenceType="ON_DEMAND")["modelSummaries"]]
    assert "amazon.titan-embed-text-v2:0" in on_demand
    tuned = bedrock.list_foundation_models(byCustomizationType="FINE_TUNING")["modelSummaries"]
    assert [m["modelId"] for m in tuned] == ["amazon.titan-embed-image-v1"]
    details = bedrock.get_foundation_model(modelIdentifier="amazon.titan-embed-text-v2:0")["modelDetails"]
    assert details["modelArn"] == "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
    assert out["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize("dims", [256, 512, 1024])
@pytest.mark.parametrize("normalize", [True, False])
def test_titan_v2_dimensions_and_normalize(server, dims, normalize):
    _, rt = clients(server.url)
    body, out = invoke(
        rt,
        "amazon.titan-embed-text-v2:0",
        {"inputText": "Amazon Bedrock supports foundation models", "dimensions": dims, "normalize": normalize},
        accept="application/json",
        contentType="application/json",
    )
    e = body["embedding"]
    assert len(e) == dims
    n = norm(e)
    if normalize:
        assert abs(n - 1.0) < 1e-4
    else:
        assert n > 0 and abs(n - 1.0) > 1e-3
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == body["inputTextTokenCount"] > 0
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0
    assert out["contentType"] == "application/json"


@pytest.mark.parametrize("input_type", ["search_document", "search_query", "classification", "clustering"])
@pytest.mark.parametrize("types", [None, ["float"], ["int8", "uint8"], ["binary", "ubinary"], ["float", "int8", "uint8", "binary", "ubinary"]])
def test_cohere_input_and_embedding_types(server, input_type, types):
    _, rt = clients(server.url)
    req = {"texts": ["first text", "second text"], "input_type": input_type}
    if types:
        req["embedding_types"] = types
    body, out = invoke(rt, "cohere.embed-english-v3", req)
    assert body["texts"] == req["texts"]
    if types is None:
        assert body["response_type"] == "embeddings_floats"
        assert [len(v) for v in body["embeddings"]] == [1024, 1024]
    else:
        assert body["response_type"] == "embeddings_by_type"
        assert sorted(body["embeddings"]) == sorted(types)
        for t in types:
            width = 128 if t in ("binary", "ubinary") else 1024
            assert [len(v) for v in body["embeddings"][t]] == [width, width]
    assert int(out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"]) > 0


def test_cohere_v4_and_profiles(server):
    _, rt = clients(server.url)
    for model in ["cohere.embed-v4:0", "us.cohere.embed-v4:0", "global.cohere.embed-v4:0"]:
        body, _ = invoke(rt, model, {"texts": ["hello"], "input_type": "search_query", "output_dimension": 512})
        assert len(body["embeddings"]["float"][0]) == 512
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.titan-embed-text-v2:0"
    body, _ = invoke(rt, arn, {"inputText": "hi", "dimensions": 256})
    assert len(body["embedding"]) == 256
    body, _ = invoke(rt, "amazon.titan-embed-text-v1", {"inputText": "v1"})
    assert len(body["embedding"]) == 1536
    body, _ = invoke(rt, "amazon.titan-embed-image-v1", {"inputText": "red shoe", "embeddingConfig": {"outputEmbeddingLength": 384}})
    assert len(body["embedding"]) == 384


def expect(rt, exc_name, model, body, raw=None):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        rt.invoke_model(modelId=model, body=raw if raw is not None else json.dumps(body))
    assert code(info.value) == exc_name, info.value.response
    if hasattr(rt.exceptions, exc_name):
        assert isinstance(info.value, getattr(rt.exceptions, exc_name))
    return info.value.response["Error"]["Message"]


def test_validation_errors(server):
    _, rt = clients(server.url)
    msg = expect(rt, "ValidationException", "amazon.titan-embed-text-v2:0", {"inputText": "x", "dimensions": 384})
    assert "384 is not a valid enum value" in msg
    expect(rt, "ValidationException", "amazon.titan-embed-text-v2:0", None, raw=b"{not json")
    expect(rt, "ValidationException", "amazon.titan-embed-text-v2:0", {"inputText": 12})
    expect(rt, "ValidationException", "amazon.titan-embed-text-v2:0", {"inputText": "x", "normalize": "yes"})
    expect(rt, "ValidationException", "amazon.titan-embed-text-v2:0", [1, 2])
    expect(rt, "ValidationException", "cohere.embed-english-v3", {"texts": ["a"]})
    expect(rt, "ValidationException", "cohere.embed-english-v3", {"texts": ["a"] * 97, "input_type": "search_query"})
    expect(rt, "ValidationException", "cohere.embed-v4:0", {"texts": ["a"], "input_type": "search_query", "truncate": "END"})
    msg = expect(rt, "ValidationException", "amazon.nova-lite-v1:0", {})
    assert msg == "The provided model identifier is invalid."
    expect(
        rt,
        "ResourceNotFoundException",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
        {"inputText": "x"},
    )
    # A body over the 25 MB limit.
    expect(rt, "ValidationException", "amazon.titan-embed-text-v2:0", None, raw=b'{"inputText": "' + b"a" * 25_000_001 + b'"}')
    # Still serving.
    body, _ = invoke(rt, "amazon.titan-embed-text-v2:0", {"inputText": "still here"})
    assert len(body["embedding"]) == 1024


def test_access_denied_for_unserved_models(start, tmp_path):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("default_backend: null\nmodels:\n  - id: amazon.titan-embed-text-v2:0\n    backend: all-minilm-l6-v2\n")
    s = start("--config", str(cfg))
    bedrock, rt = clients(s.url)
    expect(rt, "AccessDeniedException", "cohere.embed-english-v3", {"texts": ["a"], "input_type": "search_query"})
    invoke(rt, "amazon.titan-embed-text-v2:0", {"inputText": "served"})
    ids = [m["modelId"] for m in bedrock.list_foundation_models()["modelSummaries"]]
    assert ids == ["amazon.titan-embed-text-v2:0"]


def admin(url, config=None):
    req = urllib.request.Request(
        url + "/_embedrock/faults",
        data=json.dumps(config).encode() if config is not None else None,
        method="PUT" if config is not None else "GET",
    )
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def test_injected_faults_map_to_boto3_exceptions(start):
    s = start("--fault", "seed=3")
    _, rt = clients(s.url, retries={"total_max_attempts": 1, "mode": "standard"})
    ok = {"inputText": "x"}
    admin(s.url, {"error_rate": 1.0, "unavailable_share": 1.0})
    expect(rt, "ServiceUnavailableException", "amazon.titan-embed-text-v2:0", ok)
    admin(s.url, {"error_rate": 1.0, "unavailable_share": 0.0})
    expect(rt, "InternalServerException", "amazon.titan-embed-text-v2:0", ok)
    admin(s.url, {"not_ready_seconds": 60})
    expect(rt, "ModelNotReadyException", "amazon.titan-embed-text-v2:0", ok)
    admin(s.url, {"timeout_above_tokens": 3})
    expect(rt, "ModelTimeoutException", "amazon.titan-embed-text-v2:0", {"inputText": "a somewhat longer input text"})
    invoke(rt, "amazon.titan-embed-text-v2:0", ok)
    admin(s.url, {"requests_per_minute": 1})
    invoke(rt, "amazon.titan-embed-text-v2:0", ok)
    expect(rt, "ThrottlingException", "amazon.titan-embed-text-v2:0", ok)
    counters = admin(s.url)["counters"]
    for k in ["unavailable", "internal_errors", "not_ready", "timeouts", "throttled_requests"]:
        assert counters[k] == 1, (k, counters)


def test_throttling_retried_by_botocore(start):
    s = start("--fault", "rpm=30")
    _, rt = clients(s.url, retries={"total_max_attempts": 10, "mode": "standard"})
    retried = 0
    for i in range(32):
        _, out = invoke(rt, "amazon.titan-embed-text-v2:0", {"inputText": f"text {i}"})
        retried += out["ResponseMetadata"]["RetryAttempts"]
    assert retried >= 1
    assert admin(s.url)["counters"]["throttled_requests"] >= 1


def test_sigv4_on_and_off(start, server):
    # Off: unsigned requests are fine.
    _, unsigned = clients(server.url, signature_version=botocore.UNSIGNED)
    invoke(unsigned, "amazon.titan-embed-text-v2:0", {"inputText": "anyone"})
    s = start("--auth", "sigv4", "--credential", "AKIDTEST:dummy-secret")
    bedrock, rt = clients(s.url)
    invoke(rt, "amazon.titan-embed-text-v2:0", {"inputText": "signed"})
    invoke(rt, "arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-english-v3", {"texts": ["x"], "input_type": "search_query"})
    assert bedrock.list_foundation_models(byOutputModality="EMBEDDING", byProvider="Amazon")["modelSummaries"]
    _, bad = clients(s.url, secret="not-the-secret")
    expect(bad, "InvalidSignatureException", "amazon.titan-embed-text-v2:0", {"inputText": "x"})
    _, stranger = clients(s.url, key="AKIDSTRANGER")
    expect(stranger, "UnrecognizedClientException", "amazon.titan-embed-text-v2:0", {"inputText": "x"})
    _, anon = clients(s.url, signature_version=botocore.UNSIGNED)
    expect(anon, "MissingAuthenticationTokenException", "amazon.titan-embed-text-v2:0", {"inputText": "x"})


def test_bearer_api_key_over_tls(start, tmp_path):
    cert = tmp_path / "cert.pem"
    s = start("--tls", "--tls-cert-out", str(cert), "--auth", "bearer", "--api-key", "test-api-key")
    assert s.url.startswith("https://")
    env = {"AWS_BEARER_TOKEN_BEDROCK": "test-api-key"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        rt = boto3.client("bedrock-runtime", endpoint_url=s.url, region_name="us-east-1", verify=str(cert))
        body, _ = invoke(rt, "amazon.titan-embed-text-v2:0", {"inputText": "bearer"})
        assert len(body["embedding"]) == 1024
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = "wrong-key"
        rt = boto3.client("bedrock-runtime", endpoint_url=s.url, region_name="us-east-1", verify=str(cert))
        expect(rt, "UnrecognizedClientException", "amazon.titan-embed-text-v2:0", {"inputText": "x"})
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_openai_route(server):
    req = urllib.request.Request(
        server.url + "/v1/embeddings",
        data=json.dumps({"input": ["one", "two"], "model": "amazon.titan-embed-text-v2:0", "dimensions": 256}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        out = json.loads(r.read())
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert len(out["data"][0]["embedding"]) == 256
    assert out["usage"]["total_tokens"] > 0


def test_seed_notebook_runs(server):
    script = os.path.join(os.path.dirname(__file__), "seed_notebook.py")
    out = subprocess.run(
        [sys.executable, script],
        env={**os.environ, "EMBEDROCK_URL": server.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "amazon.titan-embed-text-v2:0" in text
    assert text.count("The embedding vector has 1024 values") == 2
    sims = [float(l.split("=")[1]) for l in text.splitlines() if l.startswith("cosine")]
    assert len(sims) == 3 and all(-1.0 <= x <= 1.0 for x in sims)

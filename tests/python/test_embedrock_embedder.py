"""The Python package's `Embedder` against the real local weights and
against `embedrock serve` (Bedrock ids, SigV4): the same vectors as the
command line, order kept, errors as exceptions, threads kept apart."""

import asyncio
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import embedrock
from conftest import BIN

TEXTS = [
    "The cat sat on the mat.",
    "Quantum computers use qubits.",
    "",
    "Ünïcödé text — with emoji 🚀 and 日本語",
    "A much longer passage about the weather in the mountains, " * 8,
]
KEY, SECRET = "AKIDTEST", "dummy-secret-for-python-tests"
TITAN = "amazon.titan-embed-text-v2:0"
# Bedrock refuses the empty string; the local model embeds it.
NONEMPTY = [t for t in TEXTS if t]


def cli_vectors(tmp_path, texts, *args, env=None):
    """The vectors `embedrock embed` writes for `texts`, as a numpy array."""
    out = tmp_path / "cli.npy"
    cmd = [BIN, "--quiet", "embed", "--output", "npy", "--output-file", str(out), *args, "--", *texts]
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, capture_output=True, timeout=300)
    return np.load(out)


@pytest.fixture(scope="module")
def local():
    return embedrock.Embedder()


@pytest.fixture
def signed(start):
    return start("--auth", "sigv4", "--credential", f"{KEY}:{SECRET}")


def titan(url, **kw):
    kw.setdefault("cache", False)
    return embedrock.Embedder(
        TITAN, endpoint_url=url, region="us-east-1",
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, **kw,
    )


def test_local_vectors_equal_the_cli(local, tmp_path):
    got = local.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    want = cli_vectors(tmp_path, TEXTS)
    assert want.shape == got.shape
    assert np.abs(got - want).max() <= 1e-6
    # Order kept: reversed input, reversed rows.
    back = local.embed(list(reversed(TEXTS)))
    assert np.abs(back[::-1] - got).max() <= 1e-6
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    one = local.embed_one(TEXTS[1], input_type="query")
    assert one.shape == (384,) and np.abs(one - got[1]).max() <= 1e-6


def test_local_dimensions_normalize_and_forms(local, tmp_path):
    short = local.embed(TEXTS[:2], dimensions=128)
    assert short.shape == (2, 128)
    assert np.abs(short - cli_vectors(tmp_path, TEXTS[:2], "--dimensions", "128")).max() <= 1e-6
    raw = local.embed(TEXTS[:2], normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    forms = local.embed(TEXTS[:3], output_types=["float", "int8", "ubinary", "binary"])
    f = forms["float"]
    assert forms["int8"].dtype == np.int8 and forms["int8"].shape == (3, 384)
    assert forms["ubinary"].dtype == np.uint8 and forms["ubinary"].shape == (3, 48)
    assert forms["binary"].dtype == np.int8 and forms["binary"].shape == (3, 48)
    assert np.array_equal(forms["ubinary"], np.packbits(f > 0, axis=1))
    assert np.array_equal(forms["binary"].view(np.uint8), forms["ubinary"])
    # int8 keeps the signs of the floats it quantises.
    big = np.abs(f) > 0.05
    assert np.array_equal(np.sign(forms["int8"][big]), np.sign(f[big]).astype(np.int8))
    assert local.embed([]).shape == (0, 384)
    out = local.embed(TEXTS[:1])
    out += 1.0  # the arrays are the caller's to change
    assert np.abs(local.embed(TEXTS[:1]) - (out - 1.0)).max() <= 1e-6


def test_tokens_usage_and_facts(local):
    assert local.count_tokens(["hello world", ""]) == [4, 2]
    before = local.usage
    local.embed(["hello world", "x"])
    after = local.usage
    assert after["texts"] - before["texts"] == 2
    assert after["tokens"] > before["tokens"]
    facts = local.facts
    assert facts["id"] == local.model_id and 384 in facts["dimensions"]
    assert local.dimensions == 384 and not local.is_bedrock
    assert "all-minilm-l6-v2" in repr(local).lower()


def test_threads_get_their_own_results(local):
    sets = [[f"thread {t} text {i} about topic {t * 7 + i}" for i in range(6)] for t in range(6)]
    want = [local.embed(s) for s in sets]
    got = [None] * len(sets)
    barrier = threading.Barrier(len(sets))

    def run(t):
        barrier.wait()
        for _ in range(3):
            got[t] = local.embed(sets[t])

    threads = [threading.Thread(target=run, args=(t,)) for t in range(len(sets))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(len(sets)):
        assert np.abs(got[t] - want[t]).max() <= 1e-6, t


def test_the_gil_is_released_while_embedding(local):
    texts = [f"passage {i} " + "word " * 120 for i in range(96)]
    done = threading.Event()
    ticks = 0

    def work():
        local.embed(texts)
        done.set()

    th = threading.Thread(target=work)
    th.start()
    time.sleep(0.05)
    while not done.is_set():
        ticks += 1
        time.sleep(0)
    th.join()
    # With the GIL held for the whole call this loop could not run at all.
    assert ticks > 1000, ticks


def test_async_variants(local):
    async def main():
        many, one = await asyncio.gather(local.aembed(TEXTS[:2]), local.aembed_one(TEXTS[0]))
        return many, one

    many, one = asyncio.run(main())
    assert np.abs(many - local.embed(TEXTS[:2])).max() <= 1e-6
    assert np.abs(one - many[0]).max() <= 1e-6


def test_local_errors_are_python_exceptions(local):
    with pytest.raises(TypeError):
        local.embed("one string")
    with pytest.raises(TypeError):
        local.embed(["ok", 3])
    with pytest.raises(embedrock.ValidationError, match="dimensions"):
        local.embed(["x"], dimensions=1000)
    with pytest.raises(embedrock.ValidationError, match="output type"):
        local.embed(["x"], output_types=["bits"])
    with pytest.raises(ValueError, match="input type"):
        local.embed(["x"], input_type="sideways")
    with pytest.raises(embedrock.ValidationError, match="batch_size"):
        embedrock.Embedder(batch_size=0)
    with pytest.raises(embedrock.ModelNotFoundError) as e:
        embedrock.Embedder("no-such-model-anywhere")
    assert "no-such-model-anywhere" in str(e.value) and e.value.code == "UnknownModel"


def _cpu_runs_bf16():
    """Whether this CPU has the AVX-512 BF16 kernel's features (and
    EMBEDROCK_MAX_ISA does not turn AVX-512 off)."""
    if os.environ.get("EMBEDROCK_MAX_ISA", "").strip().lower() in ("avx2", "portable"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512f" in flags and "avx512_bf16" in flags


def test_int8_precision_matches_the_cli_and_stays_close_to_fp32(local, tmp_path):
    fast = embedrock.Embedder(precision="int8")
    got = fast.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    want = cli_vectors(tmp_path, TEXTS, "--precision", "int8")
    assert np.abs(got - want).max() <= 1e-6
    exact = local.embed(TEXTS)
    cosines = (got * exact).sum(axis=1)
    assert cosines.min() > 0.98, cosines
    assert np.abs(got - exact).max() > 0, "int8 runs another arithmetic"
    with pytest.raises(embedrock.ValidationError, match="int4"):
        embedrock.Embedder(precision="int4")
    if _cpu_runs_bf16():
        half = embedrock.Embedder(precision="bf16").embed(TEXTS)
        assert (half * exact).sum(axis=1).min() > 0.999
    else:
        with pytest.raises(embedrock.ValidationError, match="bf16") as e:
            embedrock.Embedder(precision="bf16")
        assert e.value.code == "UnsupportedPrecision"
    with pytest.raises(embedrock.ValidationError, match="applies to local models"):
        embedrock.Embedder(TITAN, endpoint_url="http://127.0.0.1:9", region="us-east-1", precision="int8")


def test_bedrock_vectors_through_the_server_equal_the_cli(signed, tmp_path):
    e = titan(signed.url)
    assert e.is_bedrock and e.model_id == TITAN
    got = e.embed(NONEMPTY, dimensions=512)
    assert got.shape == (4, 512) and got.dtype == np.float32
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"}
    want = cli_vectors(tmp_path, NONEMPTY, "--model", TITAN, "--endpoint-url", signed.url,
                       "--no-cache", "--dimensions", "512", env=env)
    assert np.abs(got - want).max() <= 1e-6
    rev = e.embed(list(reversed(NONEMPTY)), dimensions=512)
    assert np.abs(rev[::-1] - got).max() <= 1e-6
    usage = e.usage
    assert usage["texts"] == 2 * len(NONEMPTY) and usage["tokens"] > 0 and usage["dollars"] > 0
    assert usage["calls"] >= 2 * len(NONEMPTY)  # Titan takes one text a call


def test_bedrock_cache_counts_hits(signed, tmp_path):
    e = titan(signed.url, cache=tmp_path / "cache")
    first = e.embed(NONEMPTY[:3])
    again = e.embed(NONEMPTY[:3])
    assert np.abs(first - again).max() <= 1e-6
    assert e.usage["cache_hits"] == 3


def test_cohere_forms_through_the_server(signed):
    e = embedrock.Embedder(
        "cohere.embed-english-v3", endpoint_url=signed.url, region="us-east-1",
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, cache=False,
    )
    forms = e.embed(TEXTS[:3], input_type="query", output_types=["float", "int8", "ubinary"])
    n, d = forms["float"].shape
    assert n == 3 and forms["int8"].shape == (3, d) and forms["ubinary"].shape == (3, d // 8)
    assert np.array_equal(forms["ubinary"], np.packbits(forms["float"] > 0, axis=1))


def test_bedrock_errors_are_mapped(signed, start):
    wrong = embedrock.Embedder(
        TITAN, endpoint_url=signed.url, region="us-east-1",
        aws_access_key_id=KEY, aws_secret_access_key="not-the-secret-xyz", cache=False, max_attempts=1,
    )
    with pytest.raises(embedrock.AccessDeniedError) as e:
        wrong.embed(["x"])
    assert e.value.code == "InvalidSignatureException"
    assert "not-the-secret-xyz" not in str(e.value) and "not-the-secret-xyz" not in repr(wrong)
    e2 = titan(signed.url)
    with pytest.raises(embedrock.ValidationError, match="384"):
        e2.embed(["x"], dimensions=384)
    with pytest.raises(embedrock.ValidationError) as empty:
        e2.embed(["fine", ""])
    assert empty.value.code == "ValidationException" and empty.value.index == 1
    assert "expected minLength: 1" in str(empty.value)  # Bedrock's own message
    with pytest.raises(embedrock.InputTooLongError) as too_long:
        e2.embed(["short", "fine", "y" * 60_000])
    assert too_long.value.index == 2
    slow = start("--fault", "rpm=1")
    throttled = titan(slow.url, max_attempts=2, concurrency=1)
    with pytest.raises(embedrock.ThrottlingError) as t:
        throttled.embed(["a", "b", "c"])
    assert t.value.code == "ThrottlingException" and t.value.attempts == 2
    assert throttled.usage["throttled"] >= 1

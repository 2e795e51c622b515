"""``Embedder``: one interface to local models and Amazon Bedrock."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Iterable
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from . import _embedrock

__all__ = ["Embedder", "InputType", "OutputType"]

InputType = Literal["query", "document", "classification", "clustering"]
"""What the texts are: search queries, documents, or inputs to classify or cluster."""
OutputType = Literal["float", "int8", "uint8", "binary", "ubinary"]
"""The forms of a vector: float32, int8 / uint8 per dimension, or one bit per
dimension packed eight to a byte (``binary`` as int8, ``ubinary`` as uint8)."""

_DTYPES = {"int8": np.int8, "uint8": np.uint8, "binary": np.int8, "ubinary": np.uint8}


def _texts(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of strings, not one string (use embed_one)")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, not str")
    return out


def _cache_options(cache: bool | str | os.PathLike[str] | None) -> dict[str, Any]:
    if cache is None or cache is True:
        return {}
    if cache is False:
        return {"no_cache": True}
    return {"cache_dir": os.fspath(cache)}


class Embedder:
    """An embedding model: a local one on the CPU, or one on Amazon Bedrock.

    ``model`` is anything the ``embedrock`` command line opens: a local
    catalogue name (``all-minilm-l6-v2``, the default) or folder, a Bedrock
    model id (``amazon.titan-embed-text-v2:0``, ``cohere.embed-english-v3``),
    an inference profile or an ARN. Settings not given come from the
    environment as for the command line (``AWS_REGION``, ``AWS_PROFILE``,
    ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, ``AWS_ACCESS_KEY_ID``, ...).

    Args:
        model: the model to open.
        region: the AWS region of a Bedrock model.
        profile: a profile of the shared AWS config files.
        endpoint_url: a Bedrock-compatible endpoint, such as ``embedrock serve``.
        cache: the embedding cache of Bedrock models: ``None``/``True`` for
            the default folder, ``False`` for none, or a folder.
        concurrency: the most Bedrock calls in flight (1 to 1024).
        aws_access_key_id: an access key (with ``aws_secret_access_key``).
        aws_secret_access_key: its secret; never shown in errors or reprs.
        aws_session_token: a session token for temporary keys.
        batch_size: texts per forward pass of a local model.
        threads: CPU threads of a local model (default: every core).
        max_attempts: attempts per Bedrock call, the first included (1 to
            100; default 10, and 50 while every failure is throttling).
        precision: the dense layers' arithmetic of a local model: ``"fp32"``
            (the default; sentence-transformers' vectors), ``"int8"``
            (faster; cosine about 0.997 to fp32's) or ``"bf16"`` (needs
            AVX512_BF16; cosine about 0.99997; refused on other CPUs). ``None`` reads
            ``EMBEDROCK_PRECISION``, else fp32. Anything but fp32 with a
            Bedrock model is a ``ValidationError``.

    Every call releases the GIL while it works, so threads embed in
    parallel; ``aembed`` and ``aembed_one`` are awaitable versions that run
    in the event loop's default executor.
    """

    def __init__(
        self,
        model: str = "all-minilm-l6-v2",
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        cache: bool | str | os.PathLike[str] | None = None,
        concurrency: int | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
        max_attempts: int | None = None,
        precision: str | None = None,
    ) -> None:
        self._native = _embedrock.NativeEmbedder(
            model,
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            concurrency=concurrency,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            batch_size=batch_size,
            threads=threads,
            max_attempts=max_attempts,
            precision=precision,
            **_cache_options(cache),
        )

    def __repr__(self) -> str:
        return f"Embedder(model={self.model_id!r}, location={self.location!r})"

    @property
    def model_id(self) -> str:
        """The model's id as it answers."""
        return self._native.model_id

    @property
    def dimensions(self) -> int:
        """Dimensions of its vectors when none are asked for."""
        return self._native.dimensions

    @property
    def location(self) -> str:
        """The model's folder, or the endpoint it is reached at (no secrets)."""
        return self._native.location

    @property
    def is_bedrock(self) -> bool:
        """Whether the model is a Bedrock model."""
        return self._native.is_bedrock

    @property
    def facts(self) -> dict[str, Any]:
        """What the model is: id, provider, family, dimensions, limits, prices."""
        return json.loads(self._native.facts_json())

    @property
    def usage(self) -> dict[str, Any]:
        """The work done so far: ``calls``, ``texts``, ``tokens``, ``dollars``,
        ``retries``, ``throttled``, ``cache_hits``, ``cache_misses``, ``failed``."""
        return json.loads(self._native.usage_json())

    @overload
    def embed(
        self,
        texts: Iterable[str],
        input_type: InputType | None = None,
        dimensions: int | None = None,
        normalize: bool | None = None,
        output_types: None = None,
    ) -> npt.NDArray[np.float32]: ...

    @overload
    def embed(
        self,
        texts: Iterable[str],
        input_type: InputType | None = None,
        dimensions: int | None = None,
        normalize: bool | None = None,
        output_types: list[OutputType] | tuple[OutputType, ...] = ...,
    ) -> dict[str, npt.NDArray[Any]]: ...

    def embed(
        self,
        texts: Iterable[str],
        input_type: InputType | None = None,
        dimensions: int | None = None,
        normalize: bool | None = None,
        output_types: list[OutputType] | tuple[OutputType, ...] | None = None,
    ) -> npt.NDArray[np.float32] | dict[str, npt.NDArray[Any]]:
        """Embeds ``texts``, keeping their order.

        Args:
            texts: the texts (a list, not one string).
            input_type: ``"query"`` or ``"document"`` (the default), or
                ``"classification"`` / ``"clustering"`` for Cohere.
            dimensions: output dimensions (Titan V2: 256, 512, 1024; a local
                model: any size up to its own).
            normalize: L2-normalise the vectors (default ``True``).
            output_types: forms to return besides or instead of floats.

        Returns:
            Without ``output_types``, a float32 array of shape ``(n, d)``.
            With them, a dict from each requested type to its array:
            ``float`` float32 ``(n, d)``, ``int8`` int8 ``(n, d)``, ``uint8``
            uint8 ``(n, d)``, ``binary`` int8 ``(n, d/8)`` and ``ubinary``
            uint8 ``(n, d/8)`` (bits packed eight to a byte, first bit highest).

        Raises:
            ValidationError: an invalid request (Bedrock's message as is).
            InputTooLongError: a text over the model's limit (``index``).
            ThrottlingError, ServiceError, TransportError, AccessDeniedError.
        """
        items = _texts(texts)
        types = None if output_types is None else [str(t) for t in output_types]
        if not items:
            width = dimensions or self.dimensions
            empty = np.empty((0, width), dtype=np.float32)
            if types is None:
                return empty
            return {t: np.empty((0, width), dtype=_DTYPES.get(t, np.float32)) for t in types}
        raw = self._native.embed(items, input_type, dimensions, normalize, types)
        if types is None:
            return _floats(raw)
        out: dict[str, npt.NDArray[Any]] = {}
        for t in types:
            if t == "float":
                out[t] = _floats(raw)
                continue
            form = raw.get(t)
            if form is None:
                raise _embedrock_error(f"the model returned no {t} vectors")
            width, data = form
            out[t] = np.frombuffer(data, dtype=_DTYPES[t]).reshape(raw["n"], width)
        return out

    def embed_one(
        self,
        text: str,
        input_type: InputType | None = None,
        dimensions: int | None = None,
        normalize: bool | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embeds one text: a float32 array of shape ``(d,)``."""
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, not str")
        return self.embed([text], input_type, dimensions, normalize)[0]

    async def aembed(
        self,
        texts: Iterable[str],
        input_type: InputType | None = None,
        dimensions: int | None = None,
        normalize: bool | None = None,
        output_types: list[OutputType] | tuple[OutputType, ...] | None = None,
    ) -> npt.NDArray[np.float32] | dict[str, npt.NDArray[Any]]:
        """``embed`` as an awaitable, run in the loop's default executor."""
        call = functools.partial(self.embed, list(texts) if not isinstance(texts, str) else texts,
                                 input_type, dimensions, normalize, output_types)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def aembed_one(
        self,
        text: str,
        input_type: InputType | None = None,
        dimensions: int | None = None,
        normalize: bool | None = None,
    ) -> npt.NDArray[np.float32]:
        """``embed_one`` as an awaitable."""
        call = functools.partial(self.embed_one, text, input_type, dimensions, normalize)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def count_tokens(self, texts: Iterable[str]) -> list[int]:
        """Tokens of each text as the model counts them (special tokens
        included, before any truncation). Bedrock models that cannot count
        offline raise ``ValidationError``."""
        return self._native.count_tokens(_texts(texts))


def _floats(raw: dict[str, Any]) -> npt.NDArray[np.float32]:
    data = raw.get("float")
    if data is None:
        raise _embedrock_error("the model returned no float vectors")
    return np.frombuffer(data, dtype="<f4").reshape(raw["n"], raw["dimensions"])


def _embedrock_error(message: str) -> Exception:
    from .errors import EmbedrockError

    return EmbedrockError(message)

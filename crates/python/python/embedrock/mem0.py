"""mem0: ``EmbedrockEmbedding``, an embedder for mem0's ``Memory``.

mem0 builds its embedder from a fixed list of providers, so embedrock's is
put in place after the ``Memory`` is built; :func:`memory` does both::

    from embedrock.mem0 import memory

    m = memory(
        {
            "vector_store": {
                "provider": "qdrant",
                "config": {"path": "/tmp/qdrant", "on_disk": True,
                           "collection_name": "mem0", "embedding_model_dims": 384},
            },
            "history_db_path": "/tmp/mem0-history.db",
        },
        embedder={"model": "all-minilm-l6-v2"},
    )
    m.add("I like green tea", user_id="alice", infer=False)
    m.search("what does she drink?", filters={"user_id": "alice"})

``embedder`` takes mem0's own embedder keys (``model``, ``embedding_dims``,
``aws_region``, ``aws_access_key_id``, ``aws_secret_access_key``,
``aws_session_token``) and embedrock's (``endpoint_url``, ``profile``,
``cache``, ``concurrency``). mem0's ``search`` embeds as a query; ``add``
and ``update`` as documents.
"""

from __future__ import annotations

from typing import Any, Literal

from .embedder import Embedder

__all__ = ["EmbedrockEmbedding", "memory"]

try:  # mem0 is optional: the class still works as a plain object without it.
    from mem0.embeddings.base import EmbeddingBase as _Base
except ImportError:  # pragma: no cover - exercised only without mem0
    _Base = object  # type: ignore[assignment,misc]

_MEM0_KEYS = {
    "model": "model",
    "aws_region": "region",
    "aws_access_key_id": "aws_access_key_id",
    "aws_secret_access_key": "aws_secret_access_key",
    "aws_session_token": "aws_session_token",
}
_OWN_KEYS = {"region", "profile", "endpoint_url", "cache", "concurrency", "batch_size", "threads", "max_attempts", "precision"}


def _config_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, dict):
        return dict(config)
    # mem0's BaseEmbedderConfig: read the attributes it has.
    return {k: getattr(config, k) for k in (*_MEM0_KEYS, "embedding_dims") if getattr(config, k, None) is not None}


class EmbedrockEmbedding(_Base):  # type: ignore[misc,valid-type]
    """mem0's embedder shape over :class:`embedrock.Embedder`.

    ``config`` is a dict (or mem0's ``BaseEmbedderConfig``) as described in
    the module docs; ``embedder`` an already open :class:`Embedder` to use
    instead of opening one.
    """

    def __init__(self, config: Any = None, embedder: Embedder | None = None) -> None:
        options = _config_dict(config)
        unknown = set(options) - set(_MEM0_KEYS) - _OWN_KEYS - {"embedding_dims"}
        if unknown:
            raise ValueError(f"unknown embedder settings: {', '.join(sorted(unknown))}")
        self.dimensions: int | None = options.pop("embedding_dims", None)
        kwargs = {_MEM0_KEYS.get(k, k): v for k, v in options.items() if v is not None}
        model = kwargs.pop("model", "all-minilm-l6-v2")
        self.embedder = embedder if embedder is not None else Embedder(model, **kwargs)
        if self.dimensions is None:
            self.dimensions = self.embedder.dimensions
        # Only the shape mem0 reads; no secret is kept here.
        self.config = _Config(model=self.embedder.model_id, embedding_dims=self.dimensions)

    def _dims(self) -> int | None:
        return None if self.dimensions == self.embedder.dimensions else self.dimensions

    def embed(self, text: str, memory_action: Literal["add", "search", "update"] | None = None) -> list[float]:
        """One text's vector: a query for ``search``, else a document."""
        kind = "query" if memory_action == "search" else "document"
        return self.embedder.embed_one(text, kind, self._dims()).tolist()  # type: ignore[arg-type]

    def embed_batch(self, texts: list[str], memory_action: str = "add") -> list[list[float]]:
        """Several texts' vectors, in order, in one call."""
        if not texts:
            return []
        kind = "query" if memory_action == "search" else "document"
        return self.embedder.embed(list(texts), kind, self._dims()).tolist()  # type: ignore[arg-type]


class _Config:
    """The attributes mem0 reads from an embedder's config."""

    def __init__(self, model: str, embedding_dims: int | None) -> None:
        self.model = model
        self.embedding_dims = embedding_dims

    def __repr__(self) -> str:
        return f"EmbedderConfig(model={self.model!r}, embedding_dims={self.embedding_dims!r})"


def memory(config: dict[str, Any] | None = None, *, embedder: dict[str, Any] | Embedder | None = None) -> Any:
    """A mem0 ``Memory`` built from ``config`` whose embedder is embedrock's.

    ``config`` is mem0's own (vector store, history database, LLM); an
    ``embedder`` section in it is replaced. Without an ``llm`` section mem0's
    default LLM client is built with a placeholder key: fine for
    ``add(..., infer=False)`` and ``search``, which call no LLM; give a real
    LLM for ``infer=True``.
    """
    from mem0 import Memory

    ours = embedder if isinstance(embedder, EmbedrockEmbedding) else (
        EmbedrockEmbedding(embedder=embedder) if isinstance(embedder, Embedder) else EmbedrockEmbedding(embedder)
    )
    config = dict(config or {})
    store = dict(config.get("vector_store") or {"provider": "qdrant", "config": {}})
    store_config = dict(store.get("config") or {})
    store_config.setdefault("embedding_model_dims", ours.dimensions)
    store["config"] = store_config
    config["vector_store"] = store
    # mem0 must build some embedder first; OpenAI's client makes no call
    # when built, and is replaced at once.
    config["embedder"] = {"provider": "openai", "config": {"api_key": "unused", "embedding_dims": ours.dimensions}}
    config.setdefault("llm", {"provider": "openai", "config": {"api_key": "unused"}})
    m = Memory.from_config(config)
    m.embedding_model = ours
    return m

"""``Store``: texts with metadata, searched by meaning (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from . import _embedrock
from .embedder import Embedder

__all__ = ["Store"]


def _scope(user_id: str | None, agent_id: str | None, run_id: str | None) -> str | None:
    scope = {k: v for k, v in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)) if v is not None}
    return json.dumps(scope) if scope else None


def _record(data: dict[str, Any]) -> dict[str, Any]:
    # mem0's name for the text, beside embedrock's.
    data["memory"] = data.get("text")
    return data


class Store:
    """A memory store: the same operations as ``embedrock add/search/...``.

    Args:
        store: ``None`` for the default SQLite file
            (``$XDG_DATA_HOME/embedrock/store.db``), a SQLite path (or
            ``sqlite://path``), or a ``postgres://`` URL (pgvector).
        embedder: the embedder of the collection (default: the local
            all-MiniLM-L6-v2). Documents are embedded as documents, queries
            as queries.
        collection: the collection (default ``memories``, as the CLI).
        dimensions: vector size, when not the model's default.

    Records are dicts: ``id``, ``text`` (also as ``memory``), ``metadata``,
    ``user_id`` / ``agent_id`` / ``run_id`` when set, ``created_at`` and
    ``updated_at`` (milliseconds since the epoch); hits add ``score``.
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        embedder: Embedder | None = None,
        collection: str = "memories",
        dimensions: int | None = None,
    ) -> None:
        self.embedder = embedder if embedder is not None else Embedder()
        self.collection = collection
        spec = None if store is None else os.fspath(store)
        self._native = _embedrock.NativeStore(spec, self.embedder._native, dimensions)

    def __repr__(self) -> str:
        return f"Store({self._native.location!r}, collection={self.collection!r}, embedder={self.embedder!r})"

    def add(
        self,
        texts: str | Sequence[str],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    ) -> list[str]:
        """Adds one text or several, in a scope (at least one of ``user_id``,
        ``agent_id``, ``run_id``): the new ids, in order. ``metadata`` is one
        dict for all texts or one per text."""
        items = [texts] if isinstance(texts, str) else list(texts)
        metadatas: list[str] | None = None
        if isinstance(metadata, dict):
            metadatas = [json.dumps(metadata)] * len(items)
        elif metadata is not None:
            metadatas = [json.dumps(m) for m in metadata]
        return self._native.add(self.collection, items, metadatas, _scope(user_id, agent_id, run_id))

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: dict[str, Any] | None = None,
        top_k: int = 10,
        threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """The ``top_k`` records nearest ``query`` in meaning, best first,
        within the scope and the metadata ``filters`` (mem0's filter syntax)."""
        hits = json.loads(
            self._native.search(
                self.collection,
                query,
                _scope(user_id, agent_id, run_id),
                None if filters is None else json.dumps(filters),
                top_k,
                threshold,
            )
        )
        return [_record(hit) for hit in hits]

    def get(self, id: str) -> dict[str, Any] | None:
        """One record, or ``None``."""
        data = self._native.get(self.collection, id)
        return None if data is None else _record(json.loads(data))

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Records in the scope matching ``filters``, at most ``limit`` (1 to 10,000)."""
        data = self._native.get_all(
            self.collection,
            _scope(user_id, agent_id, run_id),
            None if filters is None else json.dumps(filters),
            limit,
        )
        return [_record(r) for r in json.loads(data)]

    def update(self, id: str, text: str | None = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Changes a record's text (embedded again) and/or metadata: the record."""
        data = self._native.update(self.collection, id, text, None if metadata is None else json.dumps(metadata))
        return _record(json.loads(data))

    def delete(self, id: str) -> bool:
        """Deletes a record: whether it existed."""
        return self._native.delete(self.collection, id)

    def history(self, id: str) -> list[dict[str, Any]]:
        """A record's changes, oldest first: ``event`` (ADD, UPDATE, DELETE),
        ``old_memory``, ``new_memory``, ``at``."""
        return json.loads(self._native.history(self.collection, id))

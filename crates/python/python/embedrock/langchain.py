"""LangChain: ``EmbedrockEmbeddings``, a ``langchain_core`` ``Embeddings``.

::

    from embedrock.langchain import EmbedrockEmbeddings

    embeddings = EmbedrockEmbeddings()                      # local all-MiniLM-L6-v2
    embeddings = EmbedrockEmbeddings(model="amazon.titan-embed-text-v2:0",
                                     region="us-east-1", dimensions=512)

Documents are embedded as documents and queries as queries (this matters
for Cohere models), and vectors come back as plain lists of floats.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from .embedder import Embedder

__all__ = ["EmbedrockEmbeddings"]


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


class EmbedrockEmbeddings(BaseModel, Embeddings):
    """embedrock's embedder as LangChain embeddings.

    ``model`` defaults to ``$EMBEDROCK_MODEL``, else ``all-minilm-l6-v2``;
    ``region`` to ``$AWS_REGION``. The other fields are those of
    :class:`embedrock.Embedder`, plus ``dimensions`` and ``normalize`` for
    every request.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", protected_namespaces=())

    model: str = Field(default_factory=lambda: _env("EMBEDROCK_MODEL") or "all-minilm-l6-v2")
    region: str | None = Field(default_factory=lambda: _env("AWS_REGION"))
    profile: str | None = None
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    cache: bool | str | None = None
    concurrency: int | None = None
    dimensions: int | None = None
    normalize: bool | None = None
    _embedder: Embedder = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        secret = self.aws_secret_access_key
        token = self.aws_session_token
        self._embedder = Embedder(
            self.model,
            region=self.region,
            profile=self.profile,
            endpoint_url=self.endpoint_url,
            cache=self.cache,
            concurrency=self.concurrency,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=None if secret is None else secret.get_secret_value(),
            aws_session_token=None if token is None else token.get_secret_value(),
        )

    @property
    def embedder(self) -> Embedder:
        """The underlying :class:`embedrock.Embedder` (usage, facts)."""
        return self._embedder

    def _embed(self, texts: list[str], input_type: str) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._embedder.embed(texts, input_type, self.dimensions, self.normalize)  # type: ignore[arg-type]
        return vectors.tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds documents, in order."""
        return self._embed(list(texts), "document")

    def embed_query(self, text: str) -> list[float]:
        """Embeds a search query."""
        return self._embed([text], "query")[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds documents without blocking the event loop."""
        vectors = await self._embedder.aembed(list(texts), "document", self.dimensions, self.normalize) if texts else []
        return [] if len(vectors) == 0 else vectors.tolist()  # type: ignore[union-attr]

    async def aembed_query(self, text: str) -> list[float]:
        """Embeds a search query without blocking the event loop."""
        vector = await self._embedder.aembed_one(text, "query", self.dimensions, self.normalize)
        return vector.tolist()

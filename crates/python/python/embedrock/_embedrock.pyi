"""The native extension module; use :mod:`embedrock` instead."""

from typing import Any

MAX_TEXTS: int
MAX_TOTAL_BYTES: int

class NativeEmbedder:
    def __init__(
        self,
        model: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        cache_dir: str | None = None,
        no_cache: bool = False,
        concurrency: int | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
        max_attempts: int | None = None,
        precision: str | None = None,
    ) -> None: ...
    def embed(
        self,
        texts: list[str],
        input_type: str | None = None,
        dimensions: int | None = None,
        normalize: bool | None = None,
        output_types: list[str] | None = None,
    ) -> dict[str, Any]: ...
    def count_tokens(self, texts: list[str]) -> list[int]: ...
    def usage_json(self) -> str: ...
    def facts_json(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def dimensions(self) -> int: ...
    @property
    def location(self) -> str: ...
    @property
    def is_bedrock(self) -> bool: ...

class NativeStore:
    def __init__(self, spec: str | None, embedder: NativeEmbedder, dimensions: int | None = None) -> None: ...
    def add(
        self, collection: str, texts: list[str], metadatas: list[str] | None, scope: str | None
    ) -> list[str]: ...
    def search(
        self,
        collection: str,
        query: str,
        scope: str | None,
        filter: str | None,
        top_k: int,
        threshold: float | None,
    ) -> str: ...
    def get(self, collection: str, id: str) -> str | None: ...
    def get_all(self, collection: str, scope: str | None, filter: str | None, limit: int) -> str: ...
    def update(self, collection: str, id: str, text: str | None, metadata: str | None) -> str: ...
    def delete(self, collection: str, id: str) -> bool: ...
    def history(self, collection: str, id: str) -> str: ...
    @property
    def location(self) -> str: ...

"""embedrock: text embeddings from a local CPU model or Amazon Bedrock.

::

    import embedrock

    e = embedrock.Embedder()                      # all-MiniLM-L6-v2, local
    vectors = e.embed(["a text", "another"])      # numpy float32, shape (2, 384)
    query = e.embed_one("a question", input_type="query")

    titan = embedrock.Embedder("amazon.titan-embed-text-v2:0", region="us-east-1")
    forms = titan.embed(["x"], dimensions=256, output_types=["float", "binary"])

    store = embedrock.Store("memories.db", embedder=e)
    store.add("I like green tea", user_id="alice")
    store.search("drinks", user_id="alice")

Adapters: :mod:`embedrock.langchain` and :mod:`embedrock.mem0`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import errors
from .embedder import Embedder, InputType, OutputType
from .errors import (
    AccessDeniedError,
    EmbedrockError,
    InputTooLongError,
    ModelNotFoundError,
    NotFoundError,
    ServiceError,
    StoreError,
    ThrottlingError,
    TransportError,
    ValidationError,
)
from .store import Store

try:
    __version__ = version("embedrock")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["Embedder", "Store", "InputType", "OutputType", *errors.__all__]

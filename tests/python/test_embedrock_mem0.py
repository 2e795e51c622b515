"""`embedrock.mem0.EmbedrockEmbedding` inside the real mem0 `Memory`
(infer=False, a local Qdrant folder, no LLM call)."""

import os
import tempfile

os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="mem0-"))
os.environ["MEM0_TELEMETRY"] = "False"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import embedrock  # noqa: E402
from embedrock.mem0 import EmbedrockEmbedding, memory  # noqa: E402


class Recording(EmbedrockEmbedding):
    """Records the memory actions mem0 embeds with."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.actions = []

    def embed(self, text, memory_action=None):
        self.actions.append(memory_action)
        return super().embed(text, memory_action)

    def embed_batch(self, texts, memory_action="add"):
        self.actions.append(memory_action)
        return super().embed_batch(texts, memory_action)


def config(tmp_path):
    return {
        "vector_store": {
            "provider": "qdrant",
            "config": {"path": str(tmp_path / "qdrant"), "on_disk": True, "collection_name": "mem0"},
        },
        "history_db_path": str(tmp_path / "history.db"),
    }


def test_memory_adds_and_searches_with_embedrock(tmp_path):
    emb = Recording({"model": "all-minilm-l6-v2"})
    m = memory(config(tmp_path), embedder=emb)
    assert m.embedding_model is emb
    m.add("I love skiing in the Alps", user_id="alice", infer=False)
    m.add("My favourite drink is green tea", user_id="alice", infer=False)
    m.add("My favourite drink is black coffee", user_id="bob", infer=False)
    hits = m.search("what does she like to drink?", filters={"user_id": "alice"}, top_k=2)["results"]
    assert hits[0]["memory"] == "My favourite drink is green tea"
    assert {h["user_id"] for h in hits} == {"alice"}
    assert "search" in emb.actions and "add" in emb.actions
    assert len(m.get_all(filters={"user_id": "alice"})["results"]) == 2


def test_embedder_shape_and_actions():
    emb = EmbedrockEmbedding({"model": "all-minilm-l6-v2", "embedding_dims": 128})
    direct = embedrock.Embedder()
    q = emb.embed("a question", "search")
    d = emb.embed("a document", "add")
    assert len(q) == 128 and isinstance(q[0], float)
    assert np.abs(np.array(q) - direct.embed_one("a question", "query", 128)).max() <= 1e-6
    assert np.abs(np.array(d) - direct.embed_one("a document", "document", 128)).max() <= 1e-6
    batch = emb.embed_batch(["a document", "another"], "add")
    assert np.abs(np.array(batch[0]) - np.array(d)).max() <= 1e-6
    assert emb.config.embedding_dims == 128
    with pytest.raises(ValueError, match="unknown embedder settings"):
        EmbedrockEmbedding({"modle": "typo"})

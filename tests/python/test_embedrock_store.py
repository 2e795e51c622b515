"""`embedrock.Store` with the real local model, over a SQLite file and over
the PostgreSQL + pgvector that scripts/test starts
($EMBEDROCK_TEST_POSTGRES_URL); each test has a collection of its own."""

import os
import urllib.parse
import uuid

import pytest

import embedrock


@pytest.fixture(scope="module")
def embedder():
    return embedrock.Embedder()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, embedder):
    collection = "py_" + uuid.uuid4().hex[:12]
    if request.param == "sqlite":
        return embedrock.Store(tmp_path / "store.db", embedder=embedder, collection=collection)
    url = os.environ.get("EMBEDROCK_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("EMBEDROCK_TEST_POSTGRES_URL is not set")
    return embedrock.Store(url, embedder=embedder, collection=collection)


def test_a_postgres_store_shows_its_url_without_the_password(embedder):
    url = os.environ.get("EMBEDROCK_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("EMBEDROCK_TEST_POSTGRES_URL is not set")
    password = urllib.parse.urlsplit(url).password
    assert password
    s = embedrock.Store(url, embedder=embedder, collection="py_" + uuid.uuid4().hex[:12])
    assert "127.0.0.1" in repr(s)
    assert password not in repr(s)


def test_add_search_get_update_delete_history(store):
    ids = store.add(
        ["I love skiing in the Alps", "My favourite drink is green tea"],
        user_id="alice",
        metadata=[{"topic": "sport"}, {"topic": "food"}],
    )
    bob = store.add("My favourite drink is black coffee", user_id="bob")
    assert len(ids) == 2 and len(bob) == 1 and len(set(ids + bob)) == 3
    hits = store.search("what does she like to drink?", user_id="alice", top_k=5)
    assert hits[0]["id"] == ids[1]
    assert {h["user_id"] for h in hits} == {"alice"}
    assert hits[0]["score"] >= hits[-1]["score"]
    food = store.search("anything", user_id="alice", filters={"topic": "sport"})
    assert [h["id"] for h in food] == [ids[0]]
    got = store.get(ids[1])
    assert got["memory"] == got["text"] == "My favourite drink is green tea"
    assert got["metadata"] == {"topic": "food"}
    assert {r["id"] for r in store.get_all(user_id="alice")} == set(ids)
    store.update(ids[1], text="My favourite drink is lemonade")
    assert store.search("lemonade", user_id="alice", top_k=1)[0]["id"] == ids[1]
    assert store.delete(ids[0]) is True
    assert store.delete(ids[0]) is False
    assert store.get(ids[0]) is None
    events = [c["event"] for c in store.history(ids[1])]
    assert events == ["ADD", "UPDATE"]
    assert [c["event"] for c in store.history(ids[0])] == ["ADD", "DELETE"]


def test_store_errors(store):
    with pytest.raises(embedrock.ValidationError):
        store.add("no scope at all")
    with pytest.raises(embedrock.ValidationError):
        store.get_all(user_id="alice", limit=0)
    with pytest.raises(embedrock.ValidationError):
        store.search("x", user_id="alice", filters={"topic": {"$nope": 1}})
    with pytest.raises(embedrock.EmbedrockError):
        store.update("no-such-id", text="x")

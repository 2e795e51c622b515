"""mem0's own `MemoryClient` (the `mem0ai` package) against `embedrock serve`.

The server runs with a SQLite store in a temporary directory, the real local
model and API-key auth; the client sends `Authorization: Token <key>`. No LLM
and no OpenAI key are involved: messages are stored as given.
"""

import os
import tempfile

# mem0 writes a config file under MEM0_DIR when imported and reports usage
# unless told not to: keep both inside the test run.
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="mem0-"))
os.environ["MEM0_TELEMETRY"] = "False"

import pytest  # noqa: E402
from mem0 import MemoryClient  # noqa: E402
from mem0.exceptions import MemoryNotFoundError, ValidationError  # noqa: E402

KEY = "mem0-test-key"


@pytest.fixture
def server(start, tmp_path):
    return start(
        "--store", str(tmp_path / "store.db"),
        "--auth", "bearer", "--api-key", KEY,
    )


@pytest.fixture
def client(server):
    return MemoryClient(api_key=KEY, host=server.url)


def ids_of(results):
    return [r["id"] for r in results]


def test_a_wrong_key_is_refused_when_the_client_is_built(server):
    with pytest.raises(ValueError):
        MemoryClient(api_key="not-the-key", host=server.url)


def test_add_stores_messages_as_given_and_says_so(client):
    r = client.add(
        [
            {"role": "user", "content": "I am vegetarian and allergic to nuts"},
            {"role": "assistant", "content": "Noted: no meat and no nuts"},
        ],
        user_id="alice",
        metadata={"topic": "food"},
    )
    assert r["infer"] is False
    assert "no LLM" in r["message"]
    assert [x["memory"] for x in r["results"]] == [
        "I am vegetarian and allergic to nuts",
        "Noted: no meat and no nuts",
    ]
    assert [x["event"] for x in r["results"]] == ["ADD", "ADD"]
    got = client.get(r["results"][0]["id"])
    assert got["memory"] == "I am vegetarian and allergic to nuts"
    assert got["user_id"] == "alice"
    assert got["metadata"] == {"topic": "food", "role": "user"}
    assert got["created_at"].endswith("Z")


def test_search_ranks_by_meaning_within_a_scope(client):
    client.add("I love skiing in the Alps", user_id="alice")
    tea = client.add("My favourite drink is green tea", user_id="alice")
    client.add("My favourite drink is black coffee", user_id="bob")
    hits = client.search("what does she like to drink?", filters={"user_id": "alice"}, top_k=5)
    results = hits["results"]
    assert results[0]["id"] == tea["results"][0]["id"]
    assert {h["user_id"] for h in results} == {"alice"}, "alice must not see bob's memories"
    assert results[0]["score"] >= results[-1]["score"]
    one = client.search("drink", filters={"user_id": "bob"}, top_k=1)["results"]
    assert [h["memory"] for h in one] == ["My favourite drink is black coffee"]


def test_filters_on_metadata_and_threshold(client):
    client.add("Meeting with the design team on Monday", user_id="carol", metadata={"kind": "work", "priority": 3})
    client.add("Dentist appointment on Tuesday", user_id="carol", metadata={"kind": "personal", "priority": 5})
    client.add("Quarterly report due Friday", user_id="carol", metadata={"kind": "work", "priority": 8})
    work = client.search(
        "schedule", filters={"AND": [{"user_id": "carol"}, {"kind": "work"}]}, top_k=10
    )["results"]
    assert sorted(h["memory"] for h in work) == [
        "Meeting with the design team on Monday",
        "Quarterly report due Friday",
    ]
    urgent = client.search(
        "schedule", filters={"user_id": "carol", "priority": {"gte": 5}}, top_k=10
    )["results"]
    assert sorted(h["metadata"]["priority"] for h in urgent) == [5, 8]
    none = client.search("dentist", filters={"user_id": "carol"}, threshold=0.99)["results"]
    assert none == []
    with pytest.raises(ValidationError):
        client.search("x", filters={"priority": {"between": [1, 2]}})


def test_get_all_pages_and_scopes(client):
    added = [client.add(f"note number {i}", user_id="dave")["results"][0]["id"] for i in range(5)]
    client.add("someone else's note", user_id="erin")
    first = client.get_all(filters={"user_id": "dave"}, page=1, page_size=3)
    assert ids_of(first["results"]) == added[:3]
    assert first["next"] == 2 and first["previous"] is None
    second = client.get_all(filters={"user_id": "dave"}, page=2, page_size=3)
    assert ids_of(second["results"]) == added[3:]
    assert second["next"] is None and second["previous"] == 1
    everyone = client.get_all(filters={"user_id": "*"})
    assert len(everyone["results"]) == 6


def test_update_keeps_history(client):
    mid = client.add("I live in Berlin", user_id="frank")["results"][0]["id"]
    updated = client.update(mid, text="I live in Lisbon")
    assert updated["memory"] == "I live in Lisbon"
    assert client.get(mid)["memory"] == "I live in Lisbon"
    hist = client.history(mid)
    assert [h["event"] for h in hist] == ["ADD", "UPDATE"]
    assert hist[1]["old_memory"] == "I live in Berlin"
    assert hist[1]["new_memory"] == "I live in Lisbon"
    # The new text is what search finds now.
    hits = client.search("Portugal", filters={"user_id": "frank"}, top_k=1)["results"]
    assert hits[0]["memory"] == "I live in Lisbon"
    client.update(mid, metadata={"verified": True})
    assert client.get(mid)["metadata"] == {"verified": True}


def test_delete_and_delete_all(client):
    a = ids_of(client.add(
        [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}], user_id="gina"
    )["results"])
    b = ids_of(client.add("keep me", user_id="hank")["results"])
    assert client.delete(a[0])["message"]
    with pytest.raises(MemoryNotFoundError):
        client.get(a[0])
    with pytest.raises(MemoryNotFoundError):
        client.delete(a[0])
    # History survives the delete.
    assert [h["event"] for h in client.history(a[0])] == ["ADD", "DELETE"]
    gone = client.delete_all(user_id="gina")
    assert gone["deleted"] == 1
    assert client.get_all(filters={"user_id": "gina"})["results"] == []
    assert ids_of(client.get_all(filters={"user_id": "hank"})["results"]) == b


def test_bad_input_is_refused_and_stores_nothing(client):
    with pytest.raises(ValidationError):
        client.add("no scope given")
    with pytest.raises(ValidationError):
        client.add([{"role": "user", "content": "fine"}, {"role": "user"}], user_id="ivan")
    assert client.get_all(filters={"user_id": "ivan"})["results"] == []
    with pytest.raises(MemoryNotFoundError):
        client.get("no-such-id")

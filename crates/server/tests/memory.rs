//! The memory API over real HTTP: a server started in process on a loopback
//! port, a SQLite store in a temporary directory and the real local model.
//! embedrock's own routes (`/v1/memory/...`) and mem0's platform routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use embedrock_server::memory::{MemoryApi, MAX_ADD_TEXTS};
use embedrock_server::testing::TestServer;
use embedrock_server::{AppState, AuthConfig, AuthMode, ServerConfig};
use embedrock_store::{Item, Memory, Scope, SqliteStore, VectorStore};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Fixture {
    server: TestServer,
    store: Arc<dyn VectorStore>,
    _dir: tempfile::TempDir,
}

async fn start_with(config: ServerConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn VectorStore> = Arc::new(SqliteStore::open(dir.path().join("s.db")).unwrap());
    let memory = Memory::new(store.clone(), common::local(), None).unwrap();
    let state = AppState::with_memory(common::models(), config, Some(MemoryApi::new(memory)));
    let server = TestServer::start_state(state, None).await.unwrap();
    Fixture {
        server,
        store,
        _dir: dir,
    }
}

async fn start() -> Fixture {
    start_with(common::config()).await
}

/// One request over a fresh connection: status and JSON body.
async fn send(url: &str, method: &str, path: &str, body: &str, headers: &str) -> (u16, Value) {
    let host = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    (status, json)
}

impl Fixture {
    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        send(self.server.url(), method, path, &body, "").await
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {v}");
        v
    }
}

const C: &str = "/v1/memory/collections/notes";

fn ids(v: &Value) -> Vec<String> {
    v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn own_routes_add_search_list_update_delete() {
    let f = start().await;
    let tea = ids(&f
        .ok(
            "POST",
            &format!("{C}/add"),
            json!({
                "items": [
                    {"text": "My favourite drink is green tea", "metadata": {"kind": "taste"}},
                    {"text": "I go skiing every winter", "metadata": {"kind": "sport"}}
                ],
                "user_id": "alice", "metadata": {"source": "chat"}
            }),
        )
        .await);
    let bob = ids(&f
        .ok(
            "POST",
            &format!("{C}/add"),
            json!({"texts": ["My favourite drink is black coffee"], "user_id": "bob"}),
        )
        .await);
    let msgs = ids(&f
        .ok(
            "POST",
            &format!("{C}/add"),
            json!({
                "messages": [{"role": "user", "content": "I am allergic to peanuts"}],
                "user_id": "alice"
            }),
        )
        .await);
    assert_eq!((tea.len(), bob.len(), msgs.len()), (2, 1, 1));

    // Scoped search: alice never sees bob's record; best first.
    let hits = f
        .ok("POST", &format!("{C}/search"), json!({"query": "what does she drink?", "user_id": "alice", "top_k": 3, "path": "exact"}))
        .await;
    let results = hits["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["id"], tea[0].as_str());
    assert!(results.iter().all(|h| h["user_id"] == "alice"));
    assert!(results[0]["score"].as_f64().unwrap() >= results[2]["score"].as_f64().unwrap());
    assert_eq!(
        results[0]["metadata"],
        json!({"kind": "taste", "source": "chat"})
    );
    // A metadata filter keeps only what it admits, whatever the query.
    let sport = f
        .ok(
            "POST",
            &format!("{C}/search"),
            json!({"query": "drink", "filters": {"kind": {"in": ["sport"]}}}),
        )
        .await;
    assert_eq!(sport["results"].as_array().unwrap().len(), 1);
    assert_eq!(sport["results"][0]["id"], tea[1].as_str());
    let messages = f
        .ok("GET", &format!("{C}/records/{}", msgs[0]), Value::Null)
        .await;
    assert_eq!(messages["metadata"]["role"], "user");

    // Paged listing, oldest first.
    let p1 = f
        .ok("POST", &format!("{C}/list"), json!({"limit": 2}))
        .await;
    assert_eq!(p1["results"][0]["id"], tea[0].as_str());
    assert_eq!(p1["next_offset"], 2);
    let p2 = f
        .ok(
            "POST",
            &format!("{C}/list"),
            json!({"offset": 2, "limit": 2}),
        )
        .await;
    assert_eq!(p2["results"].as_array().unwrap().len(), 2);
    assert_eq!(p2["next_offset"], Value::Null);

    // Update re-embeds and keeps the old text in the history.
    let path = format!("{C}/records/{}", tea[1]);
    let r = f
        .ok(
            "PATCH",
            &path,
            json!({"text": "I swim in the sea every summer"}),
        )
        .await;
    assert_eq!(r["text"], "I swim in the sea every summer");
    let h = f.ok("GET", &format!("{path}/history"), Value::Null).await;
    let h = h["history"].as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["event"], "UPDATE");
    assert_eq!(h[1]["old_memory"], "I go skiing every winter");
    let swim = f
        .ok(
            "POST",
            &format!("{C}/search"),
            json!({"query": "swimming", "user_id": "alice", "top_k": 1}),
        )
        .await;
    assert_eq!(swim["results"][0]["id"], tea[1].as_str());

    // Delete one, then everything of a scope.
    assert_eq!(
        f.ok("DELETE", &path, Value::Null).await["deleted"],
        tea[1].as_str()
    );
    assert_eq!(f.call("GET", &path, Value::Null).await.0, 404);
    assert_eq!(f.call("DELETE", &path, Value::Null).await.0, 404);
    let gone = f
        .ok(
            "POST",
            &format!("{C}/delete_all"),
            json!({"user_id": "alice"}),
        )
        .await;
    assert_eq!(gone["deleted"], 2);
    let left = f.ok("POST", &format!("{C}/list"), json!({})).await;
    assert_eq!(left["results"][0]["id"], bob[0].as_str());
    assert_eq!(left["results"].as_array().unwrap().len(), 1);

    let cols = f.ok("GET", "/v1/memory/collections", Value::Null).await;
    assert_eq!(cols["collections"][0]["name"], "notes");
    assert_eq!(cols["collections"][0]["records"], 1);
    assert_eq!(cols["identity"]["dimensions"], 384);
}

#[tokio::test]
async fn bad_requests_get_fitting_statuses_and_change_nothing() {
    let f = start().await;
    f.ok(
        "POST",
        &format!("{C}/add"),
        json!({"texts": ["kept"], "user_id": "u"}),
    )
    .await;
    let cases = [
        (
            "POST",
            "add",
            json!({"texts": ["x"]}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "add",
            json!({"texts": ["x"], "items": [], "user_id": "u"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "add",
            json!({"texts": ["x"], "user_id": "u", "colour": 1}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "add",
            json!({"texts": ["ok", "  "], "user_id": "u"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "search",
            json!({"query": "x", "filters": {"a": {"between": 1}}}),
            400,
            "invalid_filter",
        ),
        (
            "POST",
            "search",
            json!({"query": "x", "top_k": 0}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "search",
            json!({"query": "x", "top_k": 10_001}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "search",
            json!({"query": "x", "path": "fastest"}),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "list",
            json!({"limit": 10_001}),
            400,
            "invalid_request",
        ),
        ("POST", "delete_all", json!({}), 400, "invalid_request"),
        ("GET", "records/nope", Value::Null, 404, "not_found"),
        ("GET", "records/nope/history", Value::Null, 404, "not_found"),
        (
            "PATCH",
            "records/nope",
            json!({"text": "y"}),
            404,
            "not_found",
        ),
    ];
    for (method, route, body, status, code) in cases {
        let (got, v) = f.call(method, &format!("{C}/{route}"), body.clone()).await;
        assert_eq!(got, status, "{method} {route} {body}: {v}");
        assert_eq!(v["error"]["code"], code, "{method} {route} {body}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, v) = send(f.server.url(), "POST", &format!("{C}/add"), "{not json", "").await;
    assert_eq!(status, 400, "{v}");

    // Too many texts: refused before any is embedded.
    let many: Vec<String> = (0..=MAX_ADD_TEXTS).map(|i| format!("t{i}")).collect();
    let (status, v) = f
        .call(
            "POST",
            &format!("{C}/add"),
            json!({"texts": many, "user_id": "u"}),
        )
        .await;
    assert_eq!(status, 413, "{v}");
    let left = f.ok("POST", &format!("{C}/list"), json!({})).await;
    assert_eq!(left["results"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["results"][0]["text"], "kept");

    let (status, v) = f
        .call("GET", "/v1/memory/collections/absent", Value::Null)
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let mut config = common::config();
    config.max_body_bytes = 1000;
    let f = start_with(config).await;
    let big = "x".repeat(2000);
    let (status, v) = f
        .call(
            "POST",
            &format!("{C}/add"),
            json!({"texts": [big], "user_id": "u"}),
        )
        .await;
    assert_eq!(status, 413, "{v}");
    assert!(f.store.collection("notes").await.unwrap().is_none());
}

/// A collection holding another embedder's vectors (the local model at 128
/// dimensions): adding or searching with the server's embedder is 409 and
/// names both; a background re-embed moves it over, after which it serves.
#[tokio::test]
async fn identity_mismatch_is_409_and_reembed_moves_the_collection() {
    let f = start().await;
    let small = Memory::new(f.store.clone(), common::local(), Some(128)).unwrap();
    let texts = [
        "The cat sleeps on the sofa",
        "Stock markets fell sharply today",
        "A recipe for lentil soup",
    ];
    small
        .add(
            "old",
            &Scope::user("u"),
            texts.iter().map(|t| Item::text(*t)).collect(),
            &|_| {},
        )
        .await
        .unwrap();
    let old = "/v1/memory/collections/old";
    let (status, v) = f
        .call(
            "POST",
            &format!("{old}/add"),
            json!({"texts": ["x"], "user_id": "u"}),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "identity_mismatch");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("128") && msg.contains("384"), "{msg}");
    let (status, _) = f
        .call("POST", &format!("{old}/search"), json!({"query": "cat"}))
        .await;
    assert_eq!(status, 409);

    let (status, v) = f.call("POST", &format!("{old}/reembed"), Value::Null).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["target"]["dimensions"], 384);
    let mut info = Value::Null;
    for _ in 0..200 {
        info = f.ok("GET", old, Value::Null).await;
        if info["background_reembed"]["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(info["background_reembed"]["state"], "finished", "{info}");
    assert_eq!(info["background_reembed"]["records"], 3, "{info}");
    assert_eq!(info["identity"]["dimensions"], 384, "{info}");
    let hits = f
        .ok(
            "POST",
            &format!("{old}/search"),
            json!({"query": "soup to cook", "top_k": 1}),
        )
        .await;
    assert_eq!(hits["results"][0]["text"], "A recipe for lentil soup");
    let (status, v) = f.call("POST", &format!("{old}/reembed"), Value::Null).await;
    assert_eq!((status, v["state"].as_str()), (200, Some("current")));
}

#[tokio::test]
async fn api_keys_guard_the_memory_routes_in_both_header_forms() {
    let mut config = common::config();
    config.auth = AuthConfig::new(AuthMode::Bearer).with_api_key("sekret");
    let f = start_with(config).await;
    let url = f.server.url();
    let (status, v) = send(url, "GET", "/v1/memory/collections", "", "").await;
    assert_eq!(status, 401, "{v}");
    let (status, _) = send(
        url,
        "GET",
        "/v1/ping/",
        "",
        "Authorization: Token wrong\r\n",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(
        url,
        "GET",
        "/v1/memory/collections",
        "",
        "Authorization: Bearer sekret\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let (status, v) = send(
        url,
        "GET",
        "/v1/ping/",
        "",
        "Authorization: Token sekret\r\n",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["project_id"], "memories");
    // mem0's v2/v3 routes are on the same surface, with the same check.
    let (status, _) = send(url, "POST", "/v3/memories/search/", r#"{"query":"x"}"#, "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn mem0_routes_answer_in_mem0_shapes() {
    let f = start().await;
    let added = f
        .ok("POST", "/v3/memories/add/", json!({
            "messages": [{"role": "user", "content": "I live in Lisbon"}, {"role": "assistant", "content": "Lisbon is lovely"}],
            "filters": {"user_id": "alice"}, "app_id": "travel", "infer": true
        }))
        .await;
    assert_eq!(added["infer"], false);
    assert_eq!(added["results"][0]["event"], "ADD");
    assert_eq!(added["results"][1]["memory"], "Lisbon is lovely");
    let id = added["results"][0]["id"].as_str().unwrap().to_string();
    f.ok(
        "POST",
        "/v1/memories/",
        json!({"messages": "I work as a nurse", "user_id": "bob"}),
    )
    .await;

    let got = f
        .ok("GET", &format!("/v1/memories/{id}/"), Value::Null)
        .await;
    assert_eq!(
        (
            got["memory"].as_str(),
            got["user_id"].as_str(),
            got["app_id"].as_str()
        ),
        (Some("I live in Lisbon"), Some("alice"), Some("travel"))
    );
    let hits = f
        .ok(
            "POST",
            "/v2/memories/search/",
            json!({"query": "which city?", "filters": {"app_id": "travel"}, "top_k": 1}),
        )
        .await;
    assert_eq!(hits["results"][0]["id"], id.as_str());
    assert!(hits["results"][0]["score"].as_f64().unwrap() > 0.0);

    let page = f
        .ok(
            "POST",
            "/v3/memories/?page=1&page_size=1",
            json!({"filters": {"user_id": "alice"}}),
        )
        .await;
    assert_eq!(
        (
            page["next"].as_u64(),
            page["results"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );
    let v1 = f.ok("GET", "/v1/memories/?user_id=bob", Value::Null).await;
    assert_eq!(v1["results"][0]["memory"], "I work as a nurse");

    let upd = f
        .ok(
            "PUT",
            &format!("/v1/memories/{id}/"),
            json!({"text": "I live in Porto"}),
        )
        .await;
    assert_eq!(upd["memory"], "I live in Porto");
    let hist = f
        .ok("GET", &format!("/v1/memories/{id}/history/"), Value::Null)
        .await;
    assert_eq!(hist[1]["old_memory"], "I live in Lisbon");

    // The client's filters as a Python dict in the query string.
    let filters = "%7B%27user_id%27%3A+%27alice%27%7D";
    let gone = f
        .ok(
            "DELETE",
            &format!("/v1/memories/?filters={filters}"),
            Value::Null,
        )
        .await;
    assert_eq!(gone["deleted"], 2);
    let (status, v) = f
        .call("GET", &format!("/v1/memories/{id}/"), Value::Null)
        .await;
    assert_eq!(status, 404);
    assert!(v["detail"].as_str().unwrap().contains("not found"), "{v}");
    let (status, v) = f.call("DELETE", "/v1/memories/", Value::Null).await;
    assert_eq!(status, 400, "{v}");
    let left = f.ok("GET", "/v1/memories/?user_id=bob", Value::Null).await;
    assert_eq!(left["results"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn without_a_store_the_memory_routes_are_404() {
    let server = TestServer::start(common::models(), common::config())
        .await
        .unwrap();
    let (status, v) = send(server.url(), "GET", "/v1/memory/collections", "", "").await;
    assert_eq!(status, 404);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--store"),
        "{v}"
    );
    let (status, _) = send(server.url(), "GET", "/v1/ping/", "", "").await;
    assert_eq!(status, 404);
}

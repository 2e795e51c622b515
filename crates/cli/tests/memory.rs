//! The memory commands and `models verify` as a user runs them: the real
//! binary, the real local model, a store file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn run(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(args)
        .arg("--quiet")
        .env("EMBEDROCK_STORE", store)
        .env_remove("EMBEDROCK_MODEL")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn add_search_update_delete_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let input = dir.path().join("facts.jsonl");
    std::fs::write(
        &input,
        "{\"text\": \"I drink green tea every morning\", \"metadata\": {\"topic\": \"food\"}}\n\
         {\"text\": \"My dog is called Rex\", \"metadata\": {\"topic\": \"pets\"}}\n\
         \n\
         {\"text\": \"I work as a nurse in Oslo\"}\n",
    )
    .unwrap();
    let added = lines(&ok(&run(
        &store,
        &[
            "add",
            "--input",
            input.to_str().unwrap(),
            "--user-id",
            "alice",
            "--metadata",
            "{\"src\": \"chat\"}",
        ],
    )));
    assert_eq!(added.len(), 3);
    ok(&run(
        &store,
        &["add", "I drink black coffee", "--user-id", "bob"],
    ));

    let found: serde_json::Value = serde_json::from_str(&ok(&run(
        &store,
        &[
            "search",
            "what does she drink?",
            "--user-id",
            "alice",
            "--limit",
            "2",
            "--output",
            "json",
        ],
    )))
    .unwrap();
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["text"], "I drink green tea every morning");
    assert_eq!(results[0]["metadata"]["src"], "chat");
    assert_eq!(results[0]["user_id"], "alice");
    assert!(results[0]["score"].as_f64().unwrap() > results[1]["score"].as_f64().unwrap());

    let filtered: serde_json::Value = serde_json::from_str(&ok(&run(
        &store,
        &[
            "search",
            "animals",
            "--filter",
            "{\"topic\": {\"in\": [\"pets\"]}}",
            "--output",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(filtered["results"].as_array().unwrap().len(), 1);

    let id = added[0]["id"].as_str().unwrap();
    let updated = lines(&ok(&run(&store, &["update", id, "I drink only water now"])));
    assert_eq!(updated[0]["text"], "I drink only water now");
    let history = lines(&ok(&run(&store, &["history", id])));
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["old_memory"], "I drink green tea every morning");

    let listed = lines(&ok(&run(&store, &["list", "--user-id", "alice"])));
    assert_eq!(listed.len(), 3);
    ok(&run(&store, &["delete", "--all", "--user-id", "alice"]));
    assert!(ok(&run(&store, &["list", "--user-id", "alice"])).is_empty());
    let collections = lines(&ok(&run(&store, &["collections"])));
    assert_eq!(collections[0]["name"], "memories");
    assert_eq!(collections[0]["identity"]["dimensions"], 384);
    assert_eq!(collections[0]["records"], 1);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    ok(&run(&store, &["add", "kept", "--user-id", "u"]));
    assert!(
        err(&run(&store, &["add", "x"])).contains("at least one of user_id, agent_id or run_id")
    );
    assert!(err(&run(
        &store,
        &["add", "x", "--user-id", "u", "--metadata", "{bad"]
    ))
    .contains("--metadata is not valid JSON"));
    assert!(err(&run(
        &store,
        &["search", "x", "--filter", "{\"a\": {\"like\": 1}}"]
    ))
    .contains("unknown operator \"like\""));
    assert!(err(&run(
        &store,
        &["add", "--input", "/no/such/file.txt", "--user-id", "u"]
    ))
    .contains("/no/such/file.txt"));
    assert!(err(&run(&store, &["search", "x", "--dimensions", "128"]))
        .contains("holds vectors of Local all-minilm-l6-v2 at 384 dimensions"));
    assert!(err(&run(&store, &["get", "no-such-id"])).contains("no record no-such-id"));
    assert!(err(&run(&store, &["delete"])).contains("give the id of a record"));
    let listed = lines(&ok(&run(&store, &["list"])));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["text"], "kept");
}

#[test]
fn models_verify_finds_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = embedrock_core::util::cache_root_from_env()
        .unwrap()
        .join("models/all-minilm-l6-v2");
    let model = dir.path().join("models/all-minilm-l6-v2");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
        }
    }
    let pooling = source.join("1_Pooling");
    if pooling.is_dir() {
        std::fs::create_dir_all(model.join("1_Pooling")).unwrap();
        for entry in std::fs::read_dir(&pooling).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(
                entry.path(),
                model.join("1_Pooling").join(entry.file_name()),
            )
            .unwrap();
        }
    }
    let verify = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_embedrock"))
            .args(["models", "verify", "all-minilm-l6-v2", "--quiet"])
            .env("EMBEDROCK_CACHE_DIR", dir)
            .output()
            .unwrap()
    };
    let good = ok(&verify(dir.path()));
    assert!(
        good.contains("Ok") && good.contains("model.safetensors"),
        "{good}"
    );
    // Same size, one byte changed in the middle of the weights.
    let weights = model.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let mid = bytes.len() / 2 + 12_345;
    bytes[mid] ^= 0x5a;
    std::fs::write(&weights, bytes).unwrap();
    let bad = verify(dir.path());
    let e = err(&bad);
    assert!(e.contains("damaged: all-minilm-l6-v2"), "{e}");
    assert!(String::from_utf8_lossy(&bad.stdout).contains("HashMismatch"));
}

#[test]
fn reembed_moves_a_collection_and_keeps_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let added = lines(&ok(&run(
        &store,
        &[
            "add",
            "I drink green tea every morning",
            "My dog is called Rex",
            "I work as a nurse in Oslo",
            "--user-id",
            "alice",
        ],
    )));
    let before = lines(&ok(&run(&store, &["collections"])));
    assert_eq!(before[0]["identity"]["dimensions"], 384);
    let e = err(&run(&store, &["reembed"]));
    assert!(e.contains("reembed needs --model"), "{e}");
    let done: serde_json::Value = serde_json::from_str(
        ok(&run(
            &store,
            &[
                "reembed",
                "--model",
                "all-minilm-l6-v2",
                "--dimensions",
                "128",
            ],
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(done["identity"]["dimensions"], 128);
    assert_eq!(done["records"], 3);
    assert!(done["reembedding"].is_null());
    // Searches now run at 128 dimensions without being told, and find the
    // same records under the same ids.
    let found: serde_json::Value = serde_json::from_str(&ok(&run(
        &store,
        &[
            "search",
            "what pet does she have?",
            "--user-id",
            "alice",
            "--output",
            "json",
            "--limit",
            "1",
        ],
    )))
    .unwrap();
    assert_eq!(found["results"][0]["id"], added[1]["id"]);
    let e = err(&run(
        &store,
        &["add", "more", "--user-id", "alice", "--dimensions", "384"],
    ));
    assert!(
        e.contains("holds vectors of") && e.contains("128 dimensions"),
        "{e}"
    );
    let aborted = lines(&ok(&run(&store, &["reembed", "--abort"])));
    assert_eq!(aborted[0]["aborted"], false);
}

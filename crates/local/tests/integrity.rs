//! Damaged model files are refused on load and reported by `verify`; a model
//! whose output is not finite is an error, never a vector. On the real
//! weights, copied into a temporary cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use embedrock_core::{EmbedRequest, Embedder};
use embedrock_local::{
    Error, FileStatus, LocalEmbedder, LocalOptions, ModelFiles, NoProgress, Source,
};

const MODEL: &str = "all-minilm-l6-v2";

/// The default model, copied into a fresh cache through the project's own
/// fetch step (so the copy has a manifest with fingerprints).
fn cached_copy() -> (tempfile::TempDir, ModelFiles, PathBuf) {
    let source = ModelFiles::from_env().ensure(MODEL, &NoProgress).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let files = ModelFiles::new(cache.path());
    let dir = files
        .pull(MODEL, &[Source::Dir(source)], &NoProgress)
        .unwrap();
    (cache, files, dir)
}

/// Flips one bit in every `every`-th byte from `start` on; the size stays.
fn flip_bytes(path: &Path, start: usize, every: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let len = bytes.len();
    for i in (start..len).step_by(every) {
        bytes[i] ^= 0x40;
    }
    std::fs::write(path, &bytes).unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len(), len as u64);
}

fn load(dir: &Path) -> Result<LocalEmbedder, Error> {
    LocalEmbedder::load(dir, MODEL, LocalOptions::default().with_threads(1))
}

#[test]
fn damaged_weights_are_refused_on_load_and_found_by_verify() {
    let (_cache, files, dir) = cached_copy();
    assert!(files.verify(MODEL).unwrap().is_ok());
    load(&dir).expect("the intact copy loads");

    let weights = dir.join("model.safetensors");
    // Damage spread over the tensor data, past the header.
    flip_bytes(&weights, 1 << 20, 100_000);
    let err = load(&dir).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Damaged { .. }), "{msg}");
    assert!(msg.contains("model.safetensors"), "{msg}");
    assert!(
        msg.contains("embedrock models verify all-minilm-l6-v2"),
        "{msg}"
    );
    assert!(
        msg.contains("embedrock models pull all-minilm-l6-v2"),
        "{msg}"
    );

    let report = files.verify(MODEL).unwrap();
    assert!(!report.is_ok());
    let bad: Vec<_> = report.failures().map(|f| f.path.as_str()).collect();
    assert_eq!(bad, vec!["model.safetensors"]);
    let weights_check = report
        .files
        .iter()
        .find(|f| f.path == "model.safetensors")
        .unwrap();
    assert_eq!(weights_check.status, FileStatus::HashMismatch);
    assert_eq!(weights_check.actual_size, Some(weights_check.expected_size));
    assert!(report.files.len() >= 4);
    assert!(report.bytes >= weights_check.expected_size);
}

#[test]
fn one_flipped_byte_is_found_by_verify_and_a_short_file_on_load() {
    let (_cache, files, dir) = cached_copy();
    let weights = dir.join("model.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len() as usize;
    // One byte somewhere in the middle: the full check always sees it.
    flip_bytes(&weights, len / 2 + 12_345, len);
    let report = files.verify(MODEL).unwrap();
    assert_eq!(
        report.failures().map(|f| f.status).collect::<Vec<_>>(),
        vec![FileStatus::HashMismatch]
    );
    // A truncated file fails the size check at once.
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 1]).unwrap();
    let msg = load(&dir).unwrap_err().to_string();
    assert!(msg.contains("bytes, the manifest records"), "{msg}");
    let report = files.verify(MODEL).unwrap();
    assert_eq!(
        report.failures().next().unwrap().status,
        FileStatus::SizeMismatch
    );
}

/// Removes the fingerprints, as a manifest written before they existed.
fn make_legacy(dir: &Path) -> serde_json::Value {
    let path = dir.join("embedrock-model.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("fingerprint");
    }
    std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
    manifest
}

fn fingerprints(dir: &Path) -> Vec<Option<String>> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("embedrock-model.json")).unwrap())
            .unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn older_manifests_are_checked_in_full_once_then_fingerprinted() {
    let (_cache, _files, dir) = cached_copy();
    let recorded = fingerprints(&dir);
    make_legacy(&dir);
    assert!(fingerprints(&dir).iter().all(Option::is_none));
    load(&dir).expect("an intact model with an older manifest loads");
    assert_eq!(fingerprints(&dir), recorded);

    // Damage one byte under an older manifest: the full sha256 check sees it.
    make_legacy(&dir);
    let weights = dir.join("model.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len() as usize;
    flip_bytes(&weights, len / 3, len);
    let msg = load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("sha256"),
        "{msg}"
    );
    assert!(fingerprints(&dir).iter().all(Option::is_none));
}

/// Writes NaN into the first value of a tensor of a safetensors file.
fn poison_tensor(path: &Path, suffix: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let (name, info) = header
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.ends_with(suffix))
        .unwrap_or_else(|| panic!("no tensor named *{suffix}"));
    assert_eq!(info["dtype"], "F32", "{name}");
    let start = 8 + n + info["data_offsets"][0].as_u64().unwrap() as usize;
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn non_finite_output_is_an_error_naming_the_model() {
    let fixture = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny-bert"
    ));
    let dir = tempfile::tempdir().unwrap();
    for entry in walk(fixture) {
        let to = dir.path().join(entry.strip_prefix(fixture).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    let intact = LocalEmbedder::load(dir.path(), "tiny-poisoned", LocalOptions::default()).unwrap();
    let texts = vec!["a finite sentence".to_string()];
    assert!(intact.embed_sync(&texts, true).is_ok());

    poison_tensor(
        &dir.path().join("model.safetensors"),
        "embeddings.LayerNorm.weight",
    );
    let model = LocalEmbedder::load(dir.path(), "tiny-poisoned", LocalOptions::default()).unwrap();
    let err = model.embed_sync(&texts, false).unwrap_err();
    assert!(matches!(err, Error::NonFinite { index: 0, .. }), "{err}");
    assert!(err.to_string().contains("tiny-poisoned"), "{err}");
    // Through the trait too, with normalisation (which would hide nothing).
    let err = model.embed(EmbedRequest::new(texts)).await.unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    assert!(err.to_string().contains("tiny-poisoned"), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

//! Every family's recorded request and response bodies, checked both ways:
//! decoded and encoded again they give the same JSON, and the server-side
//! encoder writes the recorded responses from the same vectors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use embedrock_bedrock::codec::{
    self, cohere_v3, cohere_v4, titan_multimodal, titan_text_v1, titan_text_v2,
};
use embedrock_bedrock::{decode_request, encode_request, ErrorKind, FamilyRequest, Output};
use embedrock_core::{EmbedRequest, Family, InputType, OutputType};
use serde_json::Value;

fn fixtures(family: &str, suffix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(family);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no {suffix} fixtures in {}",
        dir.display()
    );
    files
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn family_of(dir: &str) -> Family {
    match dir {
        "titan_text_v1" => Family::TitanTextV1,
        "titan_text_v2" => Family::TitanTextV2,
        "titan_multimodal" => Family::TitanMultimodal,
        "cohere_v3" => Family::CohereV3,
        "cohere_v4" => Family::CohereV4,
        other => panic!("unknown family dir {other}"),
    }
}

fn request_value(r: &FamilyRequest) -> Value {
    match r {
        FamilyRequest::TitanTextV1(r) => serde_json::to_value(r),
        FamilyRequest::TitanTextV2(r) => serde_json::to_value(r),
        FamilyRequest::TitanMultimodal(r) => serde_json::to_value(r),
        FamilyRequest::CohereV3(r) => serde_json::to_value(r),
        FamilyRequest::CohereV4(r) => serde_json::to_value(r),
    }
    .unwrap()
}

const FAMILIES: [&str; 5] = [
    "titan_text_v1",
    "titan_text_v2",
    "titan_multimodal",
    "cohere_v3",
    "cohere_v4",
];

#[test]
fn requests_round_trip() {
    for dir in FAMILIES {
        for path in fixtures(dir, ".request.json") {
            let body = std::fs::read(&path).unwrap();
            let decoded = decode_request(family_of(dir), &body)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(request_value(&decoded), json(&path), "{}", path.display());
        }
    }
}

fn response_round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(path: &Path) {
    let v = json(path);
    let parsed: T =
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        v,
        "{}",
        path.display()
    );
}

#[test]
fn responses_round_trip_and_decode() {
    for dir in FAMILIES {
        for path in fixtures(dir, ".response.json") {
            match dir {
                "titan_text_v1" => response_round_trip::<titan_text_v1::Response>(&path),
                "titan_text_v2" => response_round_trip::<titan_text_v2::Response>(&path),
                "titan_multimodal" => response_round_trip::<titan_multimodal::Response>(&path),
                _ => response_round_trip::<codec::CohereResponse>(&path),
            }
            let d = codec::decode_response(family_of(dir), &std::fs::read(&path).unwrap()).unwrap();
            assert!(
                !d.vectors.is_empty() || d.typed.int8.is_some(),
                "{}",
                path.display()
            );
        }
    }
}

fn served(
    family: Family,
    request: &str,
    vectors: Vec<Vec<f32>>,
    tokens: Vec<usize>,
    id: &str,
) -> Value {
    let r = decode_request(family, request.as_bytes()).unwrap();
    serde_json::from_slice(&r.encode_response(&Output::new(vectors, tokens, id))).unwrap()
}

#[test]
fn the_server_writes_the_recorded_responses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let v = served(
        Family::TitanTextV2,
        r#"{"inputText":"x","embeddingTypes":["float","binary"]}"#,
        vec![vec![0.5, -0.25, 0.0, 0.75]],
        vec![3],
        "",
    );
    assert_eq!(v, json(&dir.join("titan_text_v2/both_types.response.json")));
    let v = served(
        Family::TitanTextV2,
        r#"{"inputText":"x"}"#,
        vec![vec![0.5, -0.25]],
        vec![2],
        "",
    );
    assert_eq!(v, json(&dir.join("titan_text_v2/default.response.json")));
    let v = served(
        Family::TitanTextV1,
        r#"{"inputText":"x"}"#,
        vec![vec![0.125, -0.5, 0.25]],
        vec![2],
        "",
    );
    assert_eq!(v, json(&dir.join("titan_text_v1/basic.response.json")));
    let v = served(
        Family::CohereV3,
        r#"{"texts":["a","b"],"input_type":"search_document"}"#,
        vec![vec![0.5, -0.5], vec![0.25, 0.75]],
        vec![1, 1],
        "5c3d2f1e-0000-4000-8000-000000000001",
    );
    assert_eq!(v, json(&dir.join("cohere_v3/floats.response.json")));
    let v = served(
        Family::CohereV3,
        r#"{"texts":["a"],"input_type":"search_document","embedding_types":["float","int8","ubinary"]}"#,
        vec![vec![0.5, -0.5]],
        vec![1],
        "5c3d2f1e-0000-4000-8000-000000000002",
    );
    assert_eq!(v, json(&dir.join("cohere_v3/by_type.response.json")));
    let v = served(
        Family::CohereV4,
        r#"{"texts":["hello"],"input_type":"search_document"}"#,
        vec![vec![0.5, -0.5]],
        vec![1],
        "y",
    );
    assert_eq!(v, json(&dir.join("cohere_v4/by_type.response.json")));
}

#[test]
fn the_client_writes_the_recorded_requests() {
    let enc = |f, r: &EmbedRequest| -> Value {
        serde_json::from_slice(&encode_request(f, r).unwrap()).unwrap()
    };
    let r = EmbedRequest::new(["hello world"]).with_dimensions(Some(256));
    assert_eq!(
        enc(Family::TitanTextV2, &r),
        json(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/titan_text_v2/boto3_capture.request.json")
                .as_path()
        )
    );
    let r = EmbedRequest::new(["hi"]).with_input_type(InputType::Query);
    assert_eq!(
        enc(Family::CohereV3, &r),
        json(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/cohere_v3/boto3_capture.request.json")
                .as_path()
        )
    );
    let r = EmbedRequest::new(["hello world"]);
    assert_eq!(
        enc(Family::TitanTextV1, &r),
        json(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/titan_text_v1/basic.request.json")
                .as_path()
        )
    );
    let r = EmbedRequest::new(["a"]).with_dimensions(Some(384));
    assert_eq!(
        enc(Family::TitanMultimodal, &r)["embeddingConfig"]["outputEmbeddingLength"],
        384
    );
    let r = EmbedRequest::new(["a"])
        .with_dimensions(Some(512))
        .with_output_types(vec![OutputType::Int8]);
    let v = enc(Family::CohereV4, &r);
    assert_eq!(v["output_dimension"], 512);
    assert_eq!(v["embedding_types"], serde_json::json!(["int8"]));
    // Limits are checked on the way out too.
    assert!(encode_request(Family::TitanTextV2, &EmbedRequest::new(["a", "b"])).is_err());
    assert!(encode_request(
        Family::TitanTextV2,
        &EmbedRequest::new(["a"]).with_dimensions(Some(384))
    )
    .is_err());
    assert!(encode_request(Family::CohereV3, &EmbedRequest::new(vec!["a"; 97])).is_err());
}

fn message(family: Family, body: &str) -> String {
    let e = decode_request(family, body.as_bytes()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Validation, "{body}");
    e.message
}

#[test]
fn validation_messages() {
    let t2 = Family::TitanTextV2;
    assert_eq!(
        message(t2, r#"{"inputText":"x","dimensions":384}"#),
        "Malformed input request: #/dimensions: 384 is not a valid enum value, please reformat your input and try again."
    );
    assert_eq!(
        message(t2, r#"{"dimensions":256}"#),
        "Malformed input request: #: required key [inputText] not found, please reformat your input and try again."
    );
    assert_eq!(
        message(t2, r#"{"inputText":5,"normalize":"yes"}"#),
        "Malformed input request: 2 schema violations found, please reformat your input and try again."
    );
    assert!(message(t2, r#"{"inputText":""}"#)
        .contains("#/inputText: expected minLength: 1, actual: 0"));
    assert!(
        message(t2, &format!(r#"{{"inputText":"{}"}}"#, "a".repeat(50_001)))
            .contains("expected maxLength: 50000")
    );
    assert!(
        message(t2, r#"{"inputText":"x","embeddingTypes":["int8"]}"#)
            .contains("#/embeddingTypes/0: int8 is not a valid enum value")
    );
    assert!(
        message(Family::TitanTextV1, r#"{"inputText":"x","dimensions":256}"#)
            .contains("extraneous key [dimensions]")
    );
    assert!(message(t2, "not json").starts_with("Malformed input request"));
    assert!(message(t2, "[]").contains("expected type: JSONObject, found: JSONArray"));
    let mm = Family::TitanMultimodal;
    assert!(message(mm, r#"{}"#).contains("required key [inputText]"));
    assert!(message(
        mm,
        r#"{"inputText":"a","embeddingConfig":{"outputEmbeddingLength":512}}"#
    )
    .contains("#/embeddingConfig/outputEmbeddingLength: 512 is not a valid enum value"));
    assert!(message(mm, r#"{"inputImage":"***"}"#).contains("base64"));
    let c3 = Family::CohereV3;
    assert!(message(c3, r#"{"texts":["a"]}"#).contains("required key [input_type] not found"));
    assert!(message(c3, r#"{"texts":["a"],"input_type":"query"}"#)
        .contains("#/input_type: query is not a valid enum value"));
    let many = serde_json::to_string(&vec!["a"; 97]).unwrap();
    assert!(message(
        c3,
        &format!(r#"{{"texts":{many},"input_type":"search_query"}}"#)
    )
    .contains("expected maximum item count: 96, found: 97"));
    let long = serde_json::to_string(&vec!["a".repeat(2049)]).unwrap();
    assert!(message(
        c3,
        &format!(r#"{{"texts":{long},"input_type":"search_query"}}"#)
    )
    .contains("#/texts/0: expected maxLength: 2048, actual: 2049"));
    // 96 texts of 2,048 characters each are fine: the limit is per text.
    let full = serde_json::to_string(&vec!["a".repeat(2048); 96]).unwrap();
    assert!(decode_request(
        c3,
        format!(r#"{{"texts":{full},"input_type":"search_query"}}"#).as_bytes()
    )
    .is_ok());
    assert!(message(
        c3,
        r#"{"texts":["a"],"input_type":"search_query","truncate":"LEFT"}"#
    )
    .contains("#/truncate: LEFT is not a valid enum value"));
    assert!(message(
        c3,
        r#"{"texts":["a"],"input_type":"search_query","embedding_types":["float","bits"]}"#
    )
    .contains("#/embedding_types/1: bits is not a valid enum value"));
    assert!(message(c3, r#"{"images":["data:image/png;base64,AA==","data:image/png;base64,AA=="],"input_type":"image"}"#).contains("expected maximum item count: 1"));
    assert!(message(
        c3,
        r#"{"images":["data:image/gif;base64,AA=="],"input_type":"image"}"#
    )
    .contains("unsupported image format"));
    let c4 = Family::CohereV4;
    assert!(message(c4, r#"{"texts":["a"],"input_type":"image"}"#)
        .contains("#/input_type: image is not a valid enum value"));
    assert!(message(
        c4,
        r#"{"texts":["a"],"input_type":"search_query","output_dimension":768}"#
    )
    .contains("#/output_dimension: 768 is not a valid enum value"));
    assert!(message(
        c4,
        r#"{"texts":["a"],"input_type":"search_query","truncate":"END"}"#
    )
    .contains("#/truncate: END is not a valid enum value"));
    assert!(message(
        c4,
        r#"{"texts":["a"],"images":["data:image/png;base64,AA=="],"input_type":"search_query"}"#
    )
    .contains("only one of"));
    assert!(message(
        c4,
        r#"{"input_type":"search_query","inputs":[{"content":[{"type":"video"}]}]}"#
    )
    .contains("#/inputs/0/content/0/type: video is not a valid enum value"));
    assert!(message(
        c4,
        r#"{"input_type":"search_query","texts":["a"],"max_tokens":0}"#
    )
    .contains("#/max_tokens: 0 is not greater or equal to 1"));
}

#[test]
fn invocations_carry_the_defaults() {
    let inv = decode_request(Family::TitanTextV2, br#"{"inputText":"x"}"#)
        .unwrap()
        .invocation();
    assert_eq!(
        (inv.dimensions, inv.normalize, inv.token_limit),
        (1024, true, Some((8192, false)))
    );
    let inv = decode_request(Family::CohereV4, br#"{"input_type":"search_query","inputs":[{"content":[{"type":"text","text":"a"},{"type":"image_url","image_url":"data:image/png;base64,AA=="},{"type":"text","text":"b"}]}]}"#).unwrap().invocation();
    assert_eq!(inv.texts, vec!["a b".to_string()]);
    assert_eq!(
        (inv.images, inv.dimensions, inv.input_type),
        (1, 1536, InputType::Query)
    );
    let inv = decode_request(
        Family::CohereV3,
        br#"{"texts":["a"],"input_type":"clustering","truncate":"NONE"}"#,
    )
    .unwrap()
    .invocation();
    assert_eq!(
        (inv.input_type, inv.token_limit),
        (InputType::Clustering, Some((512, false)))
    );
    let inv = decode_request(Family::TitanMultimodal, br#"{"inputImage":"AAAA"}"#)
        .unwrap()
        .invocation();
    assert_eq!((inv.images, inv.texts.len(), inv.dimensions), (1, 0, 1024));
    let _ = (cohere_v3::MAX_TEXTS, cohere_v4::MAX_ITEMS);
}

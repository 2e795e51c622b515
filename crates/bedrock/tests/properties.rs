//! Property tests of every codec, seeded and bounded (a few seconds in a
//! debug build): arbitrary and mutated request bodies never panic and every
//! refusal is a `ValidationException` worded as Bedrock words it; valid
//! requests and responses survive encode → decode; non-finite numbers are
//! refused where Bedrock refuses them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use embedrock_bedrock::codec::limits;
use embedrock_bedrock::{
    decode_request, decode_response, encode_request, ErrorKind, Output, WireError,
};
use embedrock_core::{Catalogue, EmbedRequest, Family, InputType, ModelInfo, OutputType};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use serde_json::{json, Value};

const FAMILIES: [Family; 5] = [
    Family::TitanTextV1,
    Family::TitanTextV2,
    Family::TitanMultimodal,
    Family::CohereV3,
    Family::CohereV4,
];

fn runner(cases: u32) -> TestRunner {
    let mut config = Config::with_cases(cases);
    config.failure_persistence = None;
    config.rng_algorithm = RngAlgorithm::ChaCha;
    config.rng_seed = RngSeed::Fixed(0x00e3_bed0_c0de);
    TestRunner::new(config)
}

fn row(f: Family) -> &'static ModelInfo {
    limits::row(f).unwrap()
}

/// A refusal as Bedrock gives it: a `ValidationException` with a message.
fn bedrock_shaped(e: &WireError) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.kind, ErrorKind::Validation, "{}", e);
    prop_assert!(!e.message.is_empty());
    let body = e.body();
    prop_assert_eq!(body["message"].as_str(), Some(e.message.as_str()));
    Ok(())
}

/// Valid bodies of each family, the starting points of mutation.
fn seeds(f: Family) -> Vec<Value> {
    match f {
        Family::TitanTextV1 => vec![json!({"inputText": "hello"})],
        Family::TitanTextV2 => vec![
            json!({"inputText": "hello"}),
            json!({"inputText": "hi", "dimensions": 256, "normalize": false, "embeddingTypes": ["float", "binary"]}),
        ],
        Family::TitanMultimodal => vec![
            json!({"inputText": "red shoe", "embeddingConfig": {"outputEmbeddingLength": 384}}),
            json!({"inputImage": "AAAA"}),
        ],
        Family::CohereV3 => vec![
            json!({"texts": ["a", "b"], "input_type": "search_query", "truncate": "END", "embedding_types": ["float", "int8"]}),
            json!({"images": ["data:image/png;base64,AA=="], "input_type": "image"}),
        ],
        _ => vec![
            json!({"texts": ["a"], "input_type": "search_document", "output_dimension": 512, "max_tokens": 100, "truncate": "RIGHT"}),
            json!({"input_type": "clustering", "inputs": [{"content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]}),
        ],
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| json!(x)),
        any::<String>().prop_map(Value::from),
        Just(json!(256)),
        Just(json!("search_query")),
        Just(json!("binary")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::vec(("[a-zA-Z_]{1,12}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Replaces, removes or adds one key of a body.
fn mutate(mut body: Value, pick: usize, op: u8, value: Value, new_key: String) -> Value {
    if let Some(obj) = body.as_object_mut() {
        let keys: Vec<String> = obj.keys().cloned().collect();
        let key = keys.get(pick % keys.len().max(1)).cloned();
        match (op % 3, key) {
            (0, Some(k)) => {
                obj.insert(k, value);
            }
            (1, Some(k)) => {
                obj.remove(&k);
            }
            _ => {
                obj.insert(new_key, value);
            }
        }
    }
    body
}

/// What a decoded request must satisfy whenever it is accepted.
fn accepted_within_limits(f: Family, body: &[u8]) -> Result<(), TestCaseError> {
    match decode_request(f, body) {
        Ok(req) => {
            let inv = req.invocation();
            prop_assert!(limits::validate(row(f), &inv).is_ok());
            prop_assert!(row(f).allows_dimensions(inv.dimensions));
            prop_assert!(inv.texts.len() <= row(f).max_batch);
            let out = Output::new(
                vec![vec![0.5; inv.dimensions]; inv.texts.len().max(1)],
                vec![1; inv.texts.len().max(1)],
                "id",
            );
            let answer: Value = serde_json::from_slice(&req.encode_response(&out)).unwrap();
            prop_assert!(answer.is_object());
        }
        Err(e) => bedrock_shaped(&e)?,
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic_and_errors_have_bedrocks_shape() {
    for f in FAMILIES {
        runner(200)
            .run(&proptest::collection::vec(any::<u8>(), 0..200), |bytes| {
                accepted_within_limits(f, &bytes)
            })
            .unwrap();
    }
}

#[test]
fn mutated_bodies_never_panic_and_errors_have_bedrocks_shape() {
    for f in FAMILIES {
        let seeds = seeds(f);
        let strategy = (
            0..seeds.len(),
            any::<usize>(),
            any::<u8>(),
            any_json(),
            "[a-zA-Z_]{1,16}",
        );
        runner(300)
            .run(&strategy, |(s, pick, op, value, key)| {
                let body = mutate(seeds[s].clone(), pick, op, value, key);
                accepted_within_limits(f, &serde_json::to_vec(&body).unwrap())
            })
            .unwrap();
    }
}

fn valid_request(f: Family) -> impl Strategy<Value = EmbedRequest> {
    let m = row(f);
    let types: Vec<OutputType> = [
        OutputType::Float,
        OutputType::Int8,
        OutputType::Uint8,
        OutputType::Binary,
        OutputType::Ubinary,
    ]
    .into_iter()
    .filter(|t| limits::returns(m, *t))
    .collect();
    let max_texts = m.max_batch.min(6);
    let max_chars = m.max_text_chars().unwrap_or(100).min(60);
    (
        proptest::collection::vec(
            proptest::collection::vec(any::<char>(), 1..max_chars).prop_map(String::from_iter),
            1..=max_texts,
        ),
        proptest::sample::select(InputType::ALL.to_vec()),
        proptest::option::of(proptest::sample::select(m.dimensions.to_vec())),
        proptest::sample::subsequence(types.clone(), 0..=types.len()),
        any::<bool>(),
    )
        .prop_map(move |(texts, input_type, dims, types, normalize)| {
            EmbedRequest::new(texts)
                .with_input_type(input_type)
                .with_dimensions(dims)
                .with_output_types(types)
                .with_normalize(normalize || !m.normalize_option)
        })
}

#[test]
fn valid_requests_round_trip() {
    for f in FAMILIES {
        let m = row(f);
        runner(150)
            .run(&valid_request(f), |r| {
                let body = encode_request(f, &r).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let inv = decode_request(f, &body)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .invocation();
                prop_assert_eq!(&inv.texts, &r.texts);
                prop_assert_eq!(inv.dimensions, r.dimensions.unwrap_or(m.default_dimensions));
                prop_assert_eq!(inv.normalize, r.normalize);
                if matches!(f, Family::CohereV3 | Family::CohereV4) {
                    prop_assert_eq!(inv.input_type, r.input_type);
                }
                for t in &r.output_types {
                    let wire = if *t == OutputType::Ubinary && !m.output_types.contains(t) {
                        OutputType::Binary
                    } else {
                        *t
                    };
                    prop_assert!(inv.output_types.contains(&wire), "{:?} lost", t);
                }
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn responses_round_trip_with_every_asked_form() {
    for f in FAMILIES {
        let finite = -1.0e6f32..1.0e6f32;
        let m = row(f);
        let n = if m.max_batch > 1 {
            1..4usize
        } else {
            1..2usize
        };
        let strategy =
            (n, proptest::sample::select(m.dimensions.to_vec())).prop_flat_map(move |(n, d)| {
                (
                    proptest::collection::vec(proptest::collection::vec(finite.clone(), d), n),
                    proptest::collection::vec(0usize..10_000, n),
                )
            });
        runner(60)
            .run(&strategy, |(vectors, tokens)| {
                let d = vectors[0].len();
                let texts: Vec<String> = (0..vectors.len()).map(|i| format!("t{i}")).collect();
                let types: Vec<OutputType> = m.output_types.to_vec();
                let request = EmbedRequest::new(texts.clone())
                    .with_dimensions(Some(d))
                    .with_output_types(types.clone());
                let body = encode_request(f, &request).unwrap();
                let decoded = decode_request(f, &body).unwrap();
                let answer =
                    decoded.encode_response(&Output::new(vectors.clone(), tokens.clone(), "id"));
                let back = decode_response(f, &answer)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .into_response("m", Some(tokens.iter().sum()), &texts);
                prop_assert_eq!(&back.vectors, &vectors);
                prop_assert_eq!(back.total_tokens(), tokens.iter().sum::<usize>());
                let typed = embedrock_core::TypedEmbeddings::from_floats(&vectors, &types);
                if types.contains(&OutputType::Int8) {
                    prop_assert_eq!(&back.typed.int8, &typed.int8);
                }
                if types.contains(&OutputType::Binary) {
                    prop_assert_eq!(&back.typed.binary, &typed.binary);
                }
                if types.contains(&OutputType::Ubinary) || types.contains(&OutputType::Binary) {
                    prop_assert_eq!(&back.typed.ubinary, &packed(&vectors));
                }
                Ok(())
            })
            .unwrap();
    }
}

fn packed(vectors: &[Vec<f32>]) -> Option<Vec<Vec<u8>>> {
    Some(
        vectors
            .iter()
            .map(|v| embedrock_core::math::binarize(v))
            .collect(),
    )
}

#[test]
fn non_finite_numbers_are_refused() {
    let bodies: [(Family, &str); 6] = [
        (
            Family::TitanTextV2,
            r#"{"inputText":"a","dimensions":1e999}"#,
        ),
        (Family::TitanTextV2, r#"{"inputText":"a","dimensions":NaN}"#),
        (
            Family::TitanTextV2,
            r#"{"inputText":"a","dimensions":256.5}"#,
        ),
        (
            Family::CohereV4,
            r#"{"texts":["a"],"input_type":"search_query","max_tokens":Infinity}"#,
        ),
        (
            Family::CohereV4,
            r#"{"texts":["a"],"input_type":"search_query","output_dimension":-1e400}"#,
        ),
        (
            Family::TitanMultimodal,
            r#"{"inputText":"a","embeddingConfig":{"outputEmbeddingLength":1e308}}"#,
        ),
    ];
    for (f, body) in bodies {
        let e = decode_request(f, body.as_bytes()).expect_err(body);
        assert_eq!(e.kind, ErrorKind::Validation, "{body}");
        assert!(
            e.message.starts_with("Malformed input request"),
            "{body}: {e}"
        );
    }
    // A response whose numbers do not fit an f32 is not turned into infinities.
    for (f, body) in [
        (
            Family::TitanTextV1,
            r#"{"embedding":[1e39,0.5],"inputTextTokenCount":1}"#,
        ),
        (Family::CohereV3, r#"{"id":"x","embeddings":[[0.5,-1e40]]}"#),
        (
            Family::CohereV4,
            r#"{"id":"x","embeddings":{"float":[[1e999]]}}"#,
        ),
    ] {
        let e = decode_response(f, body.as_bytes()).expect_err(body);
        assert_eq!(e.kind, ErrorKind::ModelError, "{body}");
    }
    assert!(Catalogue::bedrock().count() == FAMILIES.len() + 1);
}

//! Every Bedrock row of the catalogue, checked at each of its limits just
//! under, at and just over, on both sides of the wire: the client's
//! `encode_request` and the server's `decode_request` accept and refuse the
//! same requests, with Bedrock's wording.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use embedrock_bedrock::codec::{limits, Invocation};
use embedrock_bedrock::{decode_request, encode_request, ErrorKind, WireError};
use embedrock_core::{Catalogue, EmbedRequest, Family, ModelInfo, OutputType};
use serde_json::{json, Value};

fn is_cohere(f: Family) -> bool {
    matches!(f, Family::CohereV3 | Family::CohereV4)
}

/// A request body of this family holding `texts` (Titan: the first one).
fn body(f: Family, texts: &[String], extra: Value) -> Vec<u8> {
    let mut v = if is_cohere(f) {
        json!({"texts": texts, "input_type": "search_document"})
    } else {
        json!({"inputText": texts[0]})
    };
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    serde_json::to_vec(&v).unwrap()
}

fn refused(r: Result<impl std::fmt::Debug, WireError>, want: &str, what: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.kind, ErrorKind::Validation, "{what}");
    assert!(
        e.message.starts_with("Malformed input request: "),
        "{what}: {}",
        e.message
    );
    assert!(
        e.message.contains(want),
        "{what}: {} lacks {want}",
        e.message
    );
}

fn texts(n: usize, chars: usize) -> Vec<String> {
    vec!["a".repeat(chars); n]
}

fn check_batch(m: &ModelInfo) {
    let f = m.family;
    let max = m.max_batch;
    for n in [max - 1, max, max + 1] {
        if n == 0 {
            continue;
        }
        let client = encode_request(f, &EmbedRequest::new(texts(n, 3)));
        let what = format!("{} with {n} texts", m.id);
        if n <= max {
            assert!(client.is_ok(), "{what}: {client:?}");
        } else if is_cohere(f) {
            let want = format!("expected maximum item count: {max}, found: {n}");
            refused(client, &want, &what);
            refused(
                decode_request(f, &body(f, &texts(n, 3), json!({}))),
                &want,
                &what,
            );
        } else {
            refused(client, "one text per call", &what);
        }
        if n <= max && is_cohere(f) {
            assert!(
                decode_request(f, &body(f, &texts(n, 3), json!({}))).is_ok(),
                "{what}"
            );
        }
    }
}

fn check_chars(m: &ModelInfo) {
    let f = m.family;
    let max = m
        .max_text_chars()
        .expect("every Bedrock row has a character bound");
    assert_eq!(
        m.max_chars.is_some(),
        max == m.max_chars.unwrap_or(0),
        "{}",
        m.id
    );
    for n in [max - 1, max, max + 1] {
        let what = format!("{} with {n} characters", m.id);
        let t = texts(1, n);
        let client = encode_request(f, &EmbedRequest::new(t.clone()));
        let server = decode_request(f, &body(f, &t, json!({})));
        if n <= max {
            assert!(client.is_ok(), "{what}: {client:?}");
            assert!(server.is_ok(), "{what}: {server:?}");
        } else {
            let want = format!(
                "{}: expected maxLength: {max}, actual: {n}",
                limits::text_path(f, 0)
            );
            refused(client, &want, &what);
            refused(server, &want, &what);
        }
    }
}

/// The whole-request bound, where texts at their own limit can pass it.
fn check_request_chars(m: &ModelInfo) {
    let per_text = m.max_text_chars().unwrap();
    let bound = m.max_request_chars();
    if per_text.saturating_mul(m.max_batch) <= bound {
        return;
    }
    let f = m.family;
    let full = bound / per_text;
    for total in [bound, bound + 1] {
        let mut t = texts(full, per_text);
        let rest = total - full * per_text;
        if rest > 0 {
            t.push("a".repeat(rest));
        }
        // The check itself, which both sides run (serialising 25 MB of JSON
        // in a debug build would dominate the test's time).
        let what = format!("{} with {total} characters in all", m.id);
        let request = EmbedRequest::new(t);
        let checked = limits::validate(m, &Invocation::requested(m, &request));
        if total <= bound {
            assert!(checked.is_ok(), "{what}");
        } else {
            let want = format!("the limit is {bound}");
            refused(checked, &want, &what);
            refused(encode_request(f, &request), &want, &what);
        }
    }
}

fn dims_body(f: Family, d: usize) -> Option<Value> {
    let field = limits::dimensions_field(f)?;
    Some(match field.split_once('/') {
        Some((outer, inner)) => json!({ outer: { inner: d } }),
        None => json!({ field: d }),
    })
}

fn check_dimensions(m: &ModelInfo) {
    let f = m.family;
    let one = texts(1, 5);
    let mut candidates: Vec<usize> = m
        .dimensions
        .iter()
        .flat_map(|&d| [d - 1, d, d + 1])
        .collect();
    candidates.push(384);
    for d in candidates {
        let allowed = m.dimensions.contains(&d);
        let what = format!("{} at {d} dimensions", m.id);
        let client = encode_request(f, &EmbedRequest::new(one.clone()).with_dimensions(Some(d)));
        let server = dims_body(f, d).map(|extra| decode_request(f, &body(f, &one, extra)));
        if allowed {
            assert!(client.is_ok(), "{what}: {client:?}");
            if let Some(s) = server {
                let inv = s.unwrap_or_else(|e| panic!("{what}: {e}")).invocation();
                assert_eq!(inv.dimensions, d, "{what}");
            }
        } else {
            let want = format!("{d} is not a valid enum value");
            refused(client, &want, &what);
            if let Some(s) = server {
                refused(s, &want, &what);
            }
        }
    }
}

fn check_output_types(m: &ModelInfo) {
    let f = m.family;
    let all = [
        OutputType::Float,
        OutputType::Int8,
        OutputType::Uint8,
        OutputType::Binary,
        OutputType::Ubinary,
    ];
    for t in all {
        let r = EmbedRequest::new(texts(1, 5)).with_output_types(vec![t]);
        let what = format!("{} asked for {}", m.id, t.as_str());
        if limits::returns(m, t) {
            assert!(encode_request(f, &r).is_ok(), "{what}");
        } else {
            refused(encode_request(f, &r), "", &what);
        }
    }
}

fn check_tokens(m: &ModelInfo) {
    let f = m.family;
    let max = m.max_tokens.expect("every Bedrock row has a token limit");
    let inv = decode_request(f, &body(f, &texts(1, 5), json!({})))
        .unwrap()
        .invocation();
    assert_eq!(inv.token_limit.map(|(t, _)| t), Some(max), "{}", m.id);
    if f != Family::CohereV4 {
        return;
    }
    // v4's own max_tokens field is bounded by the row.
    for n in [max - 1, max, max + 1] {
        let r = decode_request(f, &body(f, &texts(1, 5), json!({ "max_tokens": n })));
        if n <= max {
            assert_eq!(r.unwrap().invocation().token_limit, Some((n, true)));
        } else {
            refused(
                r,
                &format!("{n} is not less or equal to {max}"),
                "max_tokens",
            );
        }
    }
}

fn check_images(m: &ModelInfo) {
    if !is_cohere(m.family) {
        return;
    }
    let f = m.family;
    let max = m.max_images;
    for n in [max - 1, max, max + 1] {
        if n == 0 {
            continue;
        }
        let images = vec!["data:image/png;base64,AA=="; n];
        let input_type = if f == Family::CohereV3 {
            "image"
        } else {
            "search_document"
        };
        let b = serde_json::to_vec(&json!({"images": images, "input_type": input_type})).unwrap();
        let r = decode_request(f, &b);
        if n <= max {
            assert_eq!(r.unwrap().invocation().images, n, "{}", m.id);
        } else {
            refused(
                r,
                &format!("expected maximum item count: {max}, found: {n}"),
                m.id,
            );
        }
    }
}

#[test]
fn every_codec_at_every_limit_of_its_catalogue_row() {
    let rows: Vec<&ModelInfo> = Catalogue::bedrock().collect();
    assert_eq!(rows.len(), 6);
    for m in rows {
        check_batch(m);
        check_chars(m);
        check_request_chars(m);
        check_dimensions(m);
        check_output_types(m);
        check_tokens(m);
        check_images(m);
    }
}

#[test]
fn codec_constants_are_the_rows() {
    use embedrock_bedrock::codec::{
        cohere_v3, cohere_v4, titan_multimodal, titan_text_v1, titan_text_v2,
    };
    let row = |f| limits::row(f).unwrap();
    assert_eq!(
        titan_text_v1::MAX_TOKENS,
        row(Family::TitanTextV1).max_tokens.unwrap()
    );
    assert_eq!(
        titan_text_v1::DIMENSIONS,
        row(Family::TitanTextV1).default_dimensions
    );
    assert_eq!(
        titan_text_v2::DIMENSIONS,
        row(Family::TitanTextV2).dimensions
    );
    assert_eq!(
        titan_text_v2::MAX_CHARS,
        row(Family::TitanTextV2).max_chars.unwrap()
    );
    assert_eq!(
        titan_multimodal::DIMENSIONS,
        row(Family::TitanMultimodal).dimensions
    );
    assert_eq!(
        titan_multimodal::MAX_TOKENS,
        row(Family::TitanMultimodal).max_tokens.unwrap()
    );
    assert_eq!(cohere_v3::MAX_TEXTS, row(Family::CohereV3).max_batch);
    assert_eq!(
        cohere_v3::MAX_CHARS,
        row(Family::CohereV3).max_chars.unwrap()
    );
    assert_eq!(cohere_v4::MAX_ITEMS, row(Family::CohereV4).max_batch);
    assert_eq!(
        cohere_v4::DEFAULT_DIMENSIONS,
        row(Family::CohereV4).default_dimensions
    );
    assert!(limits::row(Family::LocalBert).is_err());
}

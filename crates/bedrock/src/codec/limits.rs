//! Each family's limits, read from its catalogue row, and the one check that
//! the client (before it sends) and the server (after it decodes) run on
//! every request: [`validate`].
//!
//! Violations are worded as Bedrock's input-schema validator words them
//! (`#/texts: expected maximum item count: 96, found: 97`), with the field
//! names of the family's own body, so a request refused by the client reads
//! the same as one refused by the server.

use embedrock_core::{Catalogue, EmbedRequest, Family, ModelInfo, OutputType};

use super::Invocation;
use crate::WireError;

/// The catalogue row a family's limits come from (every row of one family
/// shares them); a model id error for a family that is not a Bedrock one.
pub fn row(family: Family) -> Result<&'static ModelInfo, WireError> {
    match family {
        Family::LocalBert => Err(WireError::invalid_model_id()),
        f => Catalogue::family_row(f).ok_or_else(WireError::invalid_model_id),
    }
}

/// The JSON path of text `index` in a body of this family.
pub fn text_path(family: Family, index: usize) -> String {
    match family {
        Family::CohereV3 | Family::CohereV4 => format!("#/texts/{index}"),
        _ => "#/inputText".to_string(),
    }
}

/// The body field that asks for output dimensions, when the family has one.
pub fn dimensions_field(family: Family) -> Option<&'static str> {
    match family {
        Family::TitanTextV2 => Some("dimensions"),
        Family::TitanMultimodal => Some("embeddingConfig/outputEmbeddingLength"),
        Family::CohereV4 => Some("output_dimension"),
        _ => None,
    }
}

/// The body field that lists output types, when the family has one.
pub fn output_types_field(family: Family) -> Option<&'static str> {
    match family {
        Family::TitanTextV2 => Some("embeddingTypes"),
        Family::CohereV3 | Family::CohereV4 => Some("embedding_types"),
        _ => None,
    }
}

/// The wire names of the output types a model returns, in the row's order.
pub fn output_type_names(info: &ModelInfo) -> Vec<&'static str> {
    info.output_types.iter().map(|t| t.as_str()).collect()
}

/// The violation for one text over the model's character bound
/// ([`ModelInfo::max_text_chars`]), or `None` when it is within it.
pub fn check_text(info: &ModelInfo, index: usize, text: &str) -> Option<String> {
    let max = info.max_text_chars()?;
    // A text of no more bytes than the limit has no more characters either.
    if text.len() <= max {
        return None;
    }
    let n = text.chars().count();
    (n > max).then(|| {
        format!(
            "{}: expected maxLength: {max}, actual: {n}",
            text_path(info.family, index)
        )
    })
}

/// Whether the model can hand back `t`: it returns it, or (Titan) returns
/// the bits it is packed from.
pub fn returns(info: &ModelInfo, t: OutputType) -> bool {
    info.output_types.contains(&t)
        || (t == OutputType::Ubinary && info.output_types.contains(&OutputType::Binary))
}

fn check_counts(info: &ModelInfo, inv: &Invocation, out: &mut Vec<String>) {
    let n = inv.texts.len();
    if n > info.max_batch {
        out.push(match info.family {
            Family::CohereV3 | Family::CohereV4 => format!(
                "#/texts: expected maximum item count: {}, found: {n}",
                info.max_batch
            ),
            _ => format!("#/inputText: one text per call, found: {n}"),
        });
    }
    if inv.images > info.max_images {
        out.push(format!(
            "#/images: expected maximum item count: {}, found: {}",
            info.max_images, inv.images
        ));
    }
}

fn check_options(info: &ModelInfo, inv: &Invocation, out: &mut Vec<String>) {
    let d = inv.dimensions;
    if !info.allows_dimensions(d) {
        let field = dimensions_field(info.family).unwrap_or("dimensions");
        out.push(format!("#/{field}: {d} is not a valid enum value"));
    }
    if !inv.normalize && !info.normalize_option {
        out.push("#: extraneous key [normalize] is not permitted".into());
    }
    for (i, t) in inv.output_types.iter().enumerate() {
        if !returns(info, *t) {
            out.push(match output_types_field(info.family) {
                Some(f) => format!("#/{f}/{i}: {} is not a valid enum value", t.as_str()),
                None => "#: extraneous key [embeddingTypes] is not permitted".into(),
            });
        }
    }
    if let (Some((asked, _)), Some(max)) = (inv.token_limit, info.max_tokens) {
        if asked > max || asked == 0 {
            out.push(format!("#/max_tokens: {asked} is not within 1 and {max}"));
        }
    }
}

/// Checks a request against its family's limits, as Bedrock would: texts
/// and images per call, characters per text (the documented limit, else
/// the derived bound of [`ModelInfo::max_text_chars`]), characters per
/// request ([`ModelInfo::max_request_chars`]), dimensions, normalisation,
/// output types and the token limit asked for. Every violation is
/// reported, in Bedrock's "Malformed input request" wording.
///
/// ```
/// use embedrock_bedrock::codec::{limits, Invocation};
/// use embedrock_core::{Catalogue, EmbedRequest};
/// let v3 = Catalogue::get("cohere.embed-english-v3").unwrap();
/// let ok = Invocation::requested(v3, &EmbedRequest::new(["hello"]));
/// assert!(limits::validate(v3, &ok).is_ok());
/// let long = Invocation::requested(v3, &EmbedRequest::new(["x".repeat(2049)]));
/// let e = limits::validate(v3, &long).unwrap_err();
/// assert!(e.message.contains("#/texts/0: expected maxLength: 2048, actual: 2049"));
/// ```
pub fn validate(info: &ModelInfo, inv: &Invocation) -> Result<(), WireError> {
    let mut violations = Vec::new();
    check_counts(info, inv, &mut violations);
    let mut total = 0usize;
    for (i, text) in inv.texts.iter().enumerate() {
        total = total.saturating_add(text.len());
        violations.extend(check_text(info, i, text));
    }
    let max_total = info.max_request_chars();
    if total > max_total && violations.is_empty() {
        violations.push(format!(
            "#: the request holds {total} bytes of text, the limit is {max_total}"
        ));
    }
    check_options(info, inv, &mut violations);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(WireError::malformed(&violations))
    }
}

impl Invocation {
    /// What an [`EmbedRequest`] asks of a model with this row, before any
    /// family encodes it (the client's side of [`validate`]).
    pub fn requested(info: &ModelInfo, request: &EmbedRequest) -> Invocation {
        Invocation {
            texts: request.texts.clone(),
            images: 0,
            input_type: request.input_type,
            dimensions: request.dimensions.unwrap_or(info.default_dimensions),
            normalize: request.normalize,
            output_types: request.output_types.clone(),
            token_limit: None,
        }
    }
}

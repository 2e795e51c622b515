//! Model ids as callers write them: base ids, inference-profile ids with a
//! geography prefix, ARNs of every kind, percent-encoded or not.
//!
//! Most forms name the base model, and so its wire format. An
//! application-inference-profile ARN (and a provisioned, imported or
//! deployed model's ARN) ends in an opaque id; for those the family must be
//! given as a hint (for the server, in its configuration).

use embedrock_core::{Catalogue, Family, ModelInfo, UnknownName};

use crate::WireError;

/// The geography prefixes of system inference profiles.
pub const GEO_PREFIXES: &[&str] = &[
    "us", "us-gov", "eu", "apac", "global", "jp", "au", "sa", "amer", "ca",
];

/// The longest model id Bedrock accepts.
pub const MAX_LEN: usize = 2048;

/// What kind of identifier a model id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// `amazon.titan-embed-text-v2:0`.
    Base,
    /// `us.cohere.embed-v4:0`.
    SystemProfile,
    /// `arn:...:foundation-model/<base id>`.
    FoundationModelArn,
    /// `arn:...:inference-profile/<geo>.<base id>`.
    InferenceProfileArn,
    /// `arn:...:application-inference-profile/<opaque id>`.
    ApplicationInferenceProfileArn,
    /// `arn:...:custom-model/<base id>/<opaque id>` (or just the opaque id).
    CustomModelArn,
    /// `arn:...:imported-model/<opaque id>`.
    ImportedModelArn,
    /// `arn:...:provisioned-model/<opaque id>`.
    ProvisionedModelArn,
    /// `arn:...:custom-model-deployment/<opaque id>`.
    CustomModelDeploymentArn,
    /// `arn:...:prompt/<id>`.
    PromptArn,
    /// `arn:...:prompt-router/<id>` or `default-prompt-router/<id>`.
    PromptRouterArn,
    /// `arn:...:sagemaker:...:endpoint/<name>`.
    SageMakerEndpointArn,
}

/// A parsed model id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelId {
    /// The id as given, percent-decoded.
    pub raw: String,
    /// Its kind.
    pub kind: IdKind,
    /// The ARN's partition, region and account, when it is an ARN.
    pub partition: Option<String>,
    /// The ARN's region.
    pub region: Option<String>,
    /// The ARN's account (empty for foundation models).
    pub account: Option<String>,
    /// The geography prefix of an inference profile.
    pub geo: Option<String>,
    /// The base model id, when the id names one.
    pub base: Option<String>,
    /// The resource part after the ARN's resource type (or the id itself).
    pub resource: String,
}

impl ModelId {
    /// Parses an id, percent-decoding it first.
    ///
    /// ```
    /// use embedrock_bedrock::{IdKind, ModelId};
    /// use embedrock_core::Family;
    /// let id = ModelId::parse("us.cohere.embed-v4%3A0").unwrap();
    /// assert_eq!(id.kind, IdKind::SystemProfile);
    /// assert_eq!((id.geo.as_deref(), id.base.as_deref()), (Some("us"), Some("cohere.embed-v4:0")));
    /// assert_eq!(id.family(None), Some(Family::CohereV4));
    /// let app = ModelId::parse("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc").unwrap();
    /// assert!(app.is_opaque());
    /// assert_eq!(app.family(Some(Family::CohereV3)), Some(Family::CohereV3));
    /// ```
    pub fn parse(id: &str) -> Result<ModelId, WireError> {
        let raw = percent_decode(id).ok_or_else(WireError::invalid_model_id)?;
        if raw.is_empty() || raw.len() > MAX_LEN || raw.chars().any(char::is_control) {
            return Err(WireError::invalid_model_id());
        }
        if raw.starts_with("arn:") {
            return parse_arn(&raw).ok_or_else(WireError::invalid_model_id);
        }
        if raw.contains('/') || raw.contains(char::is_whitespace) {
            return Err(WireError::invalid_model_id());
        }
        let (kind, geo, base) = split_profile(&raw);
        Ok(ModelId {
            resource: raw.clone(),
            raw,
            kind,
            partition: None,
            region: None,
            account: None,
            geo,
            base: Some(base),
        })
    }

    /// The catalogue row of the base model, when the id names a known one.
    pub fn model_info(&self) -> Option<&'static ModelInfo> {
        self.base.as_deref().and_then(Catalogue::get)
    }

    /// The wire family: the base model's, else `hint` (for ids that carry no
    /// model name, such as application-inference-profile ARNs).
    pub fn family(&self, hint: Option<Family>) -> Option<Family> {
        self.model_info().map(|m| m.family).or(hint)
    }

    /// Whether the id names its model only through an opaque id.
    pub fn is_opaque(&self) -> bool {
        self.base.is_none()
    }
}

fn split_profile(id: &str) -> (IdKind, Option<String>, String) {
    if let Some((prefix, rest)) = id.split_once('.') {
        if GEO_PREFIXES.contains(&prefix) && rest.contains('.') {
            return (
                IdKind::SystemProfile,
                Some(prefix.to_string()),
                rest.to_string(),
            );
        }
    }
    (IdKind::Base, None, id.to_string())
}

fn parse_arn(arn: &str) -> Option<ModelId> {
    let mut parts = arn.splitn(6, ':');
    let (_, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if !partition.starts_with("aws") {
        return None;
    }
    let (rtype, rid) = resource.split_once('/')?;
    if rid.is_empty() {
        return None;
    }
    let (kind, geo, base) = match (service, rtype) {
        ("sagemaker", "endpoint") => (IdKind::SageMakerEndpointArn, None, None),
        ("bedrock", "foundation-model") => {
            (IdKind::FoundationModelArn, None, Some(rid.to_string()))
        }
        ("bedrock", "inference-profile") => {
            let (_, geo, base) = split_profile(rid);
            (IdKind::InferenceProfileArn, geo, Some(base))
        }
        ("bedrock", "application-inference-profile") => {
            (IdKind::ApplicationInferenceProfileArn, None, None)
        }
        ("bedrock", "custom-model") => {
            // `custom-model/<base id>/<id>` names its base; `custom-model/<id>` does not.
            let base = rid.rsplit_once('/').map(|(b, _)| b.to_string());
            (IdKind::CustomModelArn, None, base)
        }
        ("bedrock", "imported-model") => (IdKind::ImportedModelArn, None, None),
        ("bedrock", "provisioned-model") => (IdKind::ProvisionedModelArn, None, None),
        ("bedrock", "custom-model-deployment") => (IdKind::CustomModelDeploymentArn, None, None),
        ("bedrock", "prompt") => (IdKind::PromptArn, None, None),
        ("bedrock", "prompt-router" | "default-prompt-router") => {
            (IdKind::PromptRouterArn, None, None)
        }
        _ => return None,
    };
    Some(ModelId {
        raw: arn.to_string(),
        kind,
        partition: Some(partition.to_string()),
        region: Some(region.to_string()),
        account: Some(account.to_string()),
        geo,
        base,
        resource: rid.to_string(),
    })
}

/// A family name as configuration files and flags write it (`titan-text-v2`,
/// `cohere_v4`, ...), for ids such as application-inference-profile ARNs that
/// do not name their model.
///
/// ```
/// use embedrock_bedrock::model_id::parse_family;
/// use embedrock_core::Family;
/// assert_eq!(parse_family("cohere_v4").unwrap(), Family::CohereV4);
/// assert_eq!(parse_family("gpt").unwrap_err().given, "gpt");
/// ```
pub fn parse_family(s: &str) -> Result<Family, UnknownName> {
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "titan-text-v1" => Ok(Family::TitanTextV1),
        "titan-text-v2" => Ok(Family::TitanTextV2),
        "titan-multimodal" | "titan-image" => Ok(Family::TitanMultimodal),
        "cohere-v3" => Ok(Family::CohereV3),
        "cohere-v4" => Ok(Family::CohereV4),
        other => Err(UnknownName::new(
            "family",
            other,
            "titan-text-v1, titan-text-v2, titan-multimodal, cohere-v3, cohere-v4",
        )),
    }
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result
/// is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes a path label as botocore does: everything but `A-Z a-z 0-9 - . _ ~`
/// becomes `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_and_profiles() {
        let m = ModelId::parse("amazon.titan-embed-text-v2%3A0").unwrap();
        assert_eq!(m.kind, IdKind::Base);
        assert_eq!(m.raw, "amazon.titan-embed-text-v2:0");
        assert_eq!(m.family(None), Some(Family::TitanTextV2));
        for geo in ["us", "eu", "apac", "global", "us-gov", "jp", "au"] {
            let m = ModelId::parse(&format!("{geo}.cohere.embed-v4:0")).unwrap();
            assert_eq!(m.kind, IdKind::SystemProfile);
            assert_eq!(m.geo.as_deref(), Some(geo));
            assert_eq!(m.base.as_deref(), Some("cohere.embed-v4:0"));
            assert_eq!(m.family(None), Some(Family::CohereV4));
        }
        let m = ModelId::parse("cohere.embed-english-v3").unwrap();
        assert_eq!(m.kind, IdKind::Base);
        assert_eq!(m.family(None), Some(Family::CohereV3));
        let m = ModelId::parse("amazon.nova-lite-v1:0").unwrap();
        assert_eq!(m.family(None), None);
    }

    #[test]
    fn arns_of_every_kind() {
        let cases = [
            ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v1", IdKind::FoundationModelArn, Some("amazon.titan-embed-text-v1")),
            ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.cohere.embed-v4:0", IdKind::InferenceProfileArn, Some("cohere.embed-v4:0")),
            ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6", IdKind::ApplicationInferenceProfileArn, None),
            ("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-embed-text-v2:0/abcdef123456", IdKind::CustomModelArn, Some("amazon.titan-embed-text-v2:0")),
            ("arn:aws:bedrock:us-east-1:123456789012:custom-model/abcdef123456", IdKind::CustomModelArn, None),
            ("arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123", IdKind::ImportedModelArn, None),
            ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123", IdKind::ProvisionedModelArn, None),
            ("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123", IdKind::CustomModelDeploymentArn, None),
            ("arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT12345:1", IdKind::PromptArn, None),
            ("arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1", IdKind::PromptRouterArn, None),
            ("arn:aws:bedrock:us-east-1:123456789012:prompt-router/abc", IdKind::PromptRouterArn, None),
            ("arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint", IdKind::SageMakerEndpointArn, None),
            ("arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/cohere.embed-english-v3", IdKind::FoundationModelArn, Some("cohere.embed-english-v3")),
        ];
        for (arn, kind, base) in cases {
            let m = ModelId::parse(arn).unwrap_or_else(|e| panic!("{arn}: {e}"));
            assert_eq!(m.kind, kind, "{arn}");
            assert_eq!(m.base.as_deref(), base, "{arn}");
            // The same ARN as botocore sends it.
            let encoded = percent_encode(arn);
            assert!(!encoded.contains('/') && !encoded.contains(':'));
            assert_eq!(ModelId::parse(&encoded).unwrap(), m);
        }
        let app = ModelId::parse(cases[2].0).unwrap();
        assert!(app.is_opaque());
        assert_eq!(app.family(None), None);
        assert_eq!(app.family(Some(Family::CohereV4)), Some(Family::CohereV4));
        assert_eq!(app.account.as_deref(), Some("123456789012"));
        assert_eq!(app.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn the_captured_boto3_path_label() {
        let m = ModelId::parse("arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.amazon.nova-lite-v1%3A0").unwrap();
        assert_eq!(m.kind, IdKind::InferenceProfileArn);
        assert_eq!(m.base.as_deref(), Some("amazon.nova-lite-v1:0"));
        assert_eq!(m.geo.as_deref(), Some("us"));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "%zz",
            "%C3%28",
            "arn:aws:bedrock",
            "arn:aws:s3:::bucket/key",
            "a/b",
            "arn:aws:bedrock:us-east-1::foundation-model/",
            "x\u{1}",
        ] {
            assert!(ModelId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ModelId::parse(&"a".repeat(2049)).is_err());
        assert_eq!(percent_encode("a:b/c d"), "a%3Ab%2Fc%20d");
    }
}

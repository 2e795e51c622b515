//! How to reach Bedrock and how hard to push it: region, credentials,
//! endpoint, concurrency, retries, over-long input, cache.
//!
//! Anything left `None` falls to the AWS SDK's standard chains: region from
//! `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile, IMDS; credentials from the
//! environment, the shared config and credentials files (profiles, SSO,
//! `credential_process`, assumed roles), web identity, the container (ECS)
//! endpoint and IMDS; endpoints from `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
//! `AWS_ENDPOINT_URL_BEDROCK` and `AWS_ENDPOINT_URL`; a Bedrock API key from
//! `AWS_BEARER_TOKEN_BEDROCK`.

use std::path::PathBuf;
use std::time::Duration;

use embedrock_core::Family;

use super::retry::RetryPolicy;

/// A secret string: keys and tokens. `Debug` and `Display` print
/// `<redacted>`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for handing to the SDK.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// What to do with an input over the model's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLong {
    /// Fail that item with an error naming it (the default).
    #[default]
    Error,
    /// Cut it to the limit: characters on the client, `truncate` in Cohere's
    /// request, and for Titan a shorter retry when the service counts too
    /// many tokens.
    Truncate,
    /// Cut it into pieces within the limit, embed each, and return their
    /// token-weighted mean (normalised when asked) with the tokens summed.
    Chunk,
}

impl OverLong {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            OverLong::Error => "error",
            OverLong::Truncate => "truncate",
            OverLong::Chunk => "chunk",
        }
    }
}

impl std::str::FromStr for OverLong {
    type Err = embedrock_core::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "error" | "none" => Ok(OverLong::Error),
            "truncate" | "end" | "right" => Ok(OverLong::Truncate),
            "chunk" => Ok(OverLong::Chunk),
            other => Err(embedrock_core::UnknownName::new(
                "over-long policy",
                other,
                "error, truncate or chunk",
            )),
        }
    }
}

/// Everything the provider needs. Build with `Default` and the `with_*`
/// setters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct BedrockSettings {
    /// The region; `None` follows the SDK's chain, then `us-east-1`.
    pub region: Option<String>,
    /// A named profile of the shared config files.
    pub profile: Option<String>,
    /// The runtime endpoint (`embedrock serve`, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// The control-plane endpoint, for model listing (default: `endpoint_url`).
    pub control_endpoint_url: Option<String>,
    /// An access key id, used with `secret_access_key`.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<Secret>,
    /// A session token for temporary credentials.
    pub session_token: Option<Secret>,
    /// A Bedrock API key, sent as `Authorization: Bearer`.
    pub api_key: Option<Secret>,
    /// The body format of ids that do not name a model (application
    /// inference profiles, provisioned and imported models).
    pub family: Option<Family>,
    /// Calls in flight at the start.
    pub initial_concurrency: usize,
    /// The most calls in flight.
    pub max_concurrency: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// The longest one attempt may take.
    pub attempt_timeout: Duration,
    /// Over-long input.
    pub over_long: OverLong,
    /// The cache directory; `None` turns the cache off.
    pub cache_dir: Option<PathBuf>,
}

impl serde::Serialize for RetryPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("RetryPolicy", 4)?;
        st.serialize_field("max_attempts", &self.max_attempts)?;
        st.serialize_field("max_throttled_attempts", &self.max_throttled_attempts)?;
        st.serialize_field("base_ms", &(self.base.as_millis() as u64))?;
        st.serialize_field("cap_ms", &(self.cap.as_millis() as u64))?;
        st.end()
    }
}

impl Default for BedrockSettings {
    fn default() -> Self {
        BedrockSettings {
            region: None,
            profile: None,
            endpoint_url: None,
            control_endpoint_url: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            api_key: None,
            family: None,
            initial_concurrency: 8,
            max_concurrency: 64,
            retry: RetryPolicy::default(),
            attempt_timeout: Duration::from_secs(60),
            over_long: OverLong::Error,
            cache_dir: None,
        }
    }
}

impl BedrockSettings {
    /// Sets the region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the runtime (and, unless set apart, control-plane) endpoint.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sets static credentials.
    pub fn with_keys(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.access_key_id = Some(access_key_id.to_string());
        self.secret_access_key = Some(Secret::new(secret_access_key));
        self
    }

    /// Sets a Bedrock API key.
    pub fn with_api_key(mut self, key: &str) -> Self {
        self.api_key = Some(Secret::new(key));
        self
    }

    /// Sets the profile.
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Sets the starting and largest number of calls in flight.
    pub fn with_concurrency(mut self, initial: usize, max: usize) -> Self {
        self.initial_concurrency = initial.max(1);
        self.max_concurrency = max.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets what happens to over-long input.
    pub fn with_over_long(mut self, over_long: OverLong) -> Self {
        self.over_long = over_long;
        self
    }

    /// Turns the cache on in `dir`.
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Sets the family hint for opaque ids.
    pub fn with_family(mut self, family: Option<Family>) -> Self {
        self.family = family;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = BedrockSettings::default()
            .with_keys("AKIDEXAMPLE", "wJalrXUtnFEMI")
            .with_api_key("bedrock-api-key-abc");
        let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap_or_default());
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("bedrock-api-key-abc"), "{shown}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert_eq!(
            s.secret_access_key.as_ref().map(Secret::expose),
            Some("wJalrXUtnFEMI")
        );
    }
}

//! Who may call: nobody is checked by default (meant for loopback), or
//! SigV4 signatures are verified against configured credentials, or Bedrock
//! API keys (`Authorization: Bearer`) are checked, or either is accepted.
//!
//! SigV4 is checked as AWS does it for Bedrock: the signing name is
//! `bedrock` for both the runtime and the control plane, the canonical URI is
//! the path as received encoded a second time (`%3A` becomes `%253A`), the
//! payload hash is over the body, and the signing time must be within 15
//! minutes of the server's clock. Failures get the exception names and
//! messages AWS front ends answer with.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method};
use embedrock_bedrock::{ErrorKind, WireError};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The SigV4 service name Bedrock signs with.
pub const SIGNING_NAME: &str = "bedrock";
/// The largest clock difference accepted, in seconds.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// How callers are checked.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Nobody is checked.
    #[default]
    None,
    /// SigV4 signatures.
    Sigv4,
    /// Bedrock API keys.
    Bearer,
    /// SigV4 or an API key.
    Any,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(AuthMode::None),
            "sigv4" => Ok(AuthMode::Sigv4),
            "bearer" | "api-key" => Ok(AuthMode::Bearer),
            "any" => Ok(AuthMode::Any),
            other => Err(format!(
                "unknown auth mode {other:?} (none, sigv4, bearer, any)"
            )),
        }
    }
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthMode::None => "none",
            AuthMode::Sigv4 => "sigv4",
            AuthMode::Bearer => "bearer",
            AuthMode::Any => "any",
        })
    }
}

/// The auth settings: the mode, the SigV4 credentials (access key id to
/// secret) and the API keys. Secrets never appear in `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The mode.
    pub mode: AuthMode,
    /// Access key id to secret access key.
    pub credentials: BTreeMap<String, String>,
    /// Accepted Bedrock API keys.
    pub api_keys: Vec<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("mode", &self.mode)
            .field(
                "access_key_ids",
                &self.credentials.keys().collect::<Vec<_>>(),
            )
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .finish()
    }
}

impl AuthConfig {
    /// Settings of this mode with no credentials yet.
    pub fn new(mode: AuthMode) -> Self {
        AuthConfig {
            mode,
            ..AuthConfig::default()
        }
    }

    /// Adds a SigV4 credential.
    pub fn with_credential(mut self, access_key_id: &str, secret: &str) -> Self {
        self.credentials
            .insert(access_key_id.to_string(), secret.to_string());
        self
    }

    /// Adds an API key.
    pub fn with_api_key(mut self, key: &str) -> Self {
        self.api_keys.push(key.to_string());
        self
    }

    /// Checks a request. `path` and `query` are exactly as received
    /// (still percent-encoded).
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), WireError> {
        if self.mode == AuthMode::None {
            return Ok(());
        }
        let auth = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let Some(auth) = auth else {
            return Err(WireError::new(
                ErrorKind::MissingAuthenticationToken,
                "Missing Authentication Token",
            ));
        };
        let sigv4_ok = matches!(self.mode, AuthMode::Sigv4 | AuthMode::Any);
        let bearer_ok = matches!(self.mode, AuthMode::Bearer | AuthMode::Any);
        if let Some(token) = auth.strip_prefix("Bearer ") {
            if !bearer_ok {
                return Err(WireError::new(
                    ErrorKind::AccessDenied,
                    "Authentication with a Bedrock API key is not enabled on this endpoint.",
                ));
            }
            let token = token.trim().as_bytes();
            return if self
                .api_keys
                .iter()
                .any(|k| constant_eq(k.as_bytes(), token))
            {
                Ok(())
            } else {
                Err(WireError::new(
                    ErrorKind::UnrecognizedClient,
                    "The security token included in the request is invalid.",
                ))
            };
        }
        if auth.starts_with("AWS4-HMAC-SHA256") && sigv4_ok {
            return verify_sigv4(&self.credentials, method, path, query, headers, body, now);
        }
        Err(WireError::new(
            ErrorKind::InvalidSignature,
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        ))
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Parsed<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(auth: &str) -> Option<Parsed<'_>> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => {}
        }
    }
    let mut scope = cred?.splitn(5, '/');
    let parsed = Parsed {
        access_key: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        signed_headers: signed?.split(';').collect(),
        signature: sig?,
    };
    (scope.next()? == "aws4_request").then_some(parsed)
}

fn verify_sigv4(
    credentials: &BTreeMap<String, String>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), WireError> {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let p = parse_authorization(auth).ok_or_else(|| {
        WireError::new(
            ErrorKind::InvalidSignature,
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        )
    })?;
    if p.service != SIGNING_NAME {
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            format!("Credential should be scoped to correct service: '{SIGNING_NAME}'. "),
        ));
    }
    let Some(secret) = credentials.get(p.access_key) else {
        return Err(WireError::new(
            ErrorKind::UnrecognizedClient,
            "The security token included in the request is invalid.",
        ));
    };
    let amz_date = header(headers, "x-amz-date").unwrap_or_default();
    let Some(signed_at) = parse_amz_date(&amz_date) else {
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    if !amz_date.starts_with(p.date) {
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'", p.date, amz_date.get(..8).unwrap_or_default()),
        ));
    }
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if (now_secs - signed_at).abs() > MAX_SKEW_SECS {
        let earlier = now_secs - signed_at > 0;
        let limit = if earlier {
            now_secs - MAX_SKEW_SECS
        } else {
            now_secs + MAX_SKEW_SECS
        };
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            format!(
                "Signature {}: {amz_date} is now {} than {} ({} {} 15 min.)",
                if earlier {
                    "expired"
                } else {
                    "not yet current"
                },
                if earlier { "earlier" } else { "later" },
                format_amz_date(limit),
                format_amz_date(now_secs),
                if earlier { "-" } else { "+" },
            ),
        ));
    }
    let canonical = canonical_request(method, path, query, headers, &p.signed_headers, body);
    let scope = format!("{}/{}/{}/aws4_request", p.date, p.region, p.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), p.date.as_bytes());
    for part in [p.region, p.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, to_sign.as_bytes()));
    if constant_eq(expected.as_bytes(), p.signature.as_bytes()) {
        Ok(())
    } else {
        Err(WireError::new(
            ErrorKind::InvalidSignature,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ))
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn canonical_request(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    signed: &[&str],
    body: &[u8],
) -> String {
    let uri = if path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(path, false)
    };
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                embedrock_bedrock::model_id::percent_decode(&s.replace('+', " "))
                    .unwrap_or_else(|| s.to_string())
            };
            (uri_encode(&dec(k), true), uri_encode(&dec(v), true))
        })
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload =
        header(headers, "x-amz-content-sha256").unwrap_or_else(|| hex(&Sha256::digest(body)));
    format!(
        "{method}\n{uri}\n{query}\n{canonical_headers}\n{}\n{payload}",
        signed.join(";")
    )
}

/// Percent-encodes every byte outside `A-Z a-z 0-9 - _ . ~` (and `/` unless
/// `slash` is set), as SigV4 requires.
fn uri_encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !slash)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `20261121T232706Z` as seconds since the epoch.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(9..11)?,
        n(11..13)?,
        n(13..15)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Seconds since the epoch as `20261121T232706Z`.
pub(crate) fn format_amz_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_round_trip() {
        let t = parse_amz_date("20261121T232706Z").unwrap();
        assert_eq!(format_amz_date(t), "20261121T232706Z");
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(format_amz_date(951_782_400), "20000229T000000Z");
        assert!(parse_amz_date("2026-11-21").is_none());
    }

    /// The raw requests in `shared/bedrock-captured-requests.txt`, signed by
    /// boto3 and the Rust SDK with the secret `dummy-secret`.
    type Captured = (Method, String, Option<String>, HeaderMap, Vec<u8>);

    fn captured() -> Vec<Captured> {
        let text = include_str!("../tests/fixtures/captured-requests.txt");
        let mut out = Vec::new();
        for block in text.split("---- end of request ----") {
            let block = block
                .lines()
                .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            let Some((head, body)) = block.split_once("\n\n") else {
                continue;
            };
            let mut lines = head.lines();
            let Some(start) = lines.next() else { continue };
            let mut parts = start.split(' ');
            let method: Method = parts.next().unwrap().parse().unwrap();
            let target = parts.next().unwrap();
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (target.to_string(), None),
            };
            let mut headers = HeaderMap::new();
            for l in lines {
                let (k, v) = l.split_once(':').unwrap();
                headers.append(
                    axum::http::HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes())
                        .unwrap(),
                    v.trim().parse().unwrap(),
                );
            }
            out.push((
                method,
                path,
                query,
                headers,
                body.trim_end_matches('\n').as_bytes().to_vec(),
            ));
        }
        out
    }

    #[test]
    fn every_captured_signature_verifies() {
        let cfg =
            AuthConfig::new(AuthMode::Sigv4).with_credential("<ACCESS_KEY_ID>", "dummy-secret");
        let wrong =
            AuthConfig::new(AuthMode::Sigv4).with_credential("<ACCESS_KEY_ID>", "other-secret");
        let mut signed = 0;
        for (method, path, query, headers, body) in captured() {
            let auth = headers.get("authorization").unwrap().to_str().unwrap();
            if !auth.starts_with("AWS4") {
                continue;
            }
            let date =
                parse_amz_date(headers.get("x-amz-date").unwrap().to_str().unwrap()).unwrap();
            let now = UNIX_EPOCH + Duration::from_secs(date as u64 + 60);
            cfg.check(&method, &path, query.as_deref(), &headers, &body, now)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let e = wrong
                .check(&method, &path, query.as_deref(), &headers, &body, now)
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSignature);
            // A changed body breaks the signature.
            let mut tampered = body.clone();
            tampered.push(b' ');
            assert!(cfg
                .check(&method, &path, query.as_deref(), &headers, &tampered, now)
                .is_err());
            // Out of the clock-skew window.
            let late = now + Duration::from_secs(16 * 60);
            let e = cfg
                .check(&method, &path, query.as_deref(), &headers, &body, late)
                .unwrap_err();
            assert!(e.message.starts_with("Signature expired"), "{}", e.message);
            let early = UNIX_EPOCH + Duration::from_secs(date as u64 - 16 * 60);
            assert!(cfg
                .check(&method, &path, query.as_deref(), &headers, &body, early)
                .is_err());
            signed += 1;
        }
        assert_eq!(signed, 7);
    }

    #[test]
    fn missing_unknown_and_bearer() {
        let now = SystemTime::now();
        let cfg = AuthConfig::new(AuthMode::Any)
            .with_credential("AKID", "s")
            .with_api_key("key-1");
        let h = HeaderMap::new();
        let e = cfg
            .check(&Method::GET, "/", None, &h, b"", now)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingAuthenticationToken);
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer key-1".parse().unwrap());
        assert!(cfg.check(&Method::GET, "/", None, &h, b"", now).is_ok());
        h.insert("authorization", "Bearer key-2".parse().unwrap());
        assert_eq!(
            cfg.check(&Method::GET, "/", None, &h, b"", now)
                .unwrap_err()
                .kind,
            ErrorKind::UnrecognizedClient
        );
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=NOPE/20261121/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00".parse().unwrap());
        assert_eq!(
            cfg.check(&Method::GET, "/", None, &h, b"", now)
                .unwrap_err()
                .kind,
            ErrorKind::UnrecognizedClient
        );
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00".parse().unwrap());
        assert_eq!(
            cfg.check(&Method::GET, "/", None, &h, b"", now)
                .unwrap_err()
                .kind,
            ErrorKind::InvalidSignature
        );
        let sig_only = AuthConfig::new(AuthMode::Sigv4);
        h.insert("authorization", "Bearer key-1".parse().unwrap());
        assert_eq!(
            sig_only
                .check(&Method::GET, "/", None, &h, b"", now)
                .unwrap_err()
                .kind,
            ErrorKind::AccessDenied
        );
        assert!(AuthConfig::default()
            .check(&Method::GET, "/", None, &HeaderMap::new(), b"", now)
            .is_ok());
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("key-1") && shown.contains("AKID"));
    }
}

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
use embedrock_core::util::hex;
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

    /// Whether `token` is one of the API keys (compared in constant time).
    pub fn accepts_api_key(&self, token: &str) -> bool {
        self.api_keys.iter().fold(false, |found, k| {
            found | constant_eq(k.as_bytes(), token.as_bytes())
        })
    }

    /// Checks a request. `path` and `query` are exactly as received
    /// (still percent-encoded); `regions` are the regions a SigV4 credential
    /// scope may name.
    pub fn check(
        &self,
        request: &Incoming<'_>,
        regions: &[String],
        now: SystemTime,
    ) -> Result<(), WireError> {
        let Incoming { headers, .. } = *request;
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
            return if self.accepts_api_key(token.trim()) {
                Ok(())
            } else {
                Err(WireError::new(
                    ErrorKind::UnrecognizedClient,
                    "The security token included in the request is invalid.",
                ))
            };
        }
        if auth.starts_with("AWS4-HMAC-SHA256") && sigv4_ok {
            return verify_sigv4(&self.credentials, request, regions, now);
        }
        Err(WireError::new(
            ErrorKind::InvalidSignature,
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        ))
    }
}

/// A request as received, for checking its credentials.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// The query, still percent-encoded.
    pub query: Option<&'a str>,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body, exactly as received.
    pub body: &'a [u8],
}

/// The value of `x-amz-content-sha256` that leaves a body unsigned. Bedrock's
/// runtime signs payloads (the AWS SDKs always send the hash), so a request
/// carrying it is refused like any other payload that does not match.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

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
    request: &Incoming<'_>,
    regions: &[String],
    now: SystemTime,
) -> Result<(), WireError> {
    let headers = request.headers;
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
    if !regions.iter().any(|r| r == p.region) {
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                p.region
            ),
        ));
    }
    let Some(secret) = credentials.get(p.access_key) else {
        return Err(WireError::new(
            ErrorKind::UnrecognizedClient,
            "The security token included in the request is invalid.",
        ));
    };
    let (amz_date, signed_at) = signing_date(headers, p.date)?;
    check_skew(&amz_date, signed_at, now)?;
    let payload_hash = hex(&Sha256::digest(request.body));
    if header(headers, "x-amz-content-sha256").is_some_and(|h| h != payload_hash) {
        // The hash the client signed is not the hash of the body received
        // (or is UNSIGNED-PAYLOAD): AWS computes the signature over the body
        // it got, so this is a plain signature mismatch.
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            SIGNATURE_MISMATCH,
        ));
    }
    let canonical = canonical_request(request, &p.signed_headers, &payload_hash);
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
            SIGNATURE_MISMATCH,
        ))
    }
}

/// The request's `x-amz-date` and its time, which must match the
/// credential scope's date.
fn signing_date(headers: &HeaderMap, scope_date: &str) -> Result<(String, i64), WireError> {
    let amz_date = header(headers, "x-amz-date").unwrap_or_default();
    let Some(signed_at) = parse_amz_date(&amz_date) else {
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    if !amz_date.starts_with(scope_date) {
        return Err(WireError::new(
            ErrorKind::InvalidSignature,
            format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'", scope_date, amz_date.get(..8).unwrap_or_default()),
        ));
    }
    Ok((amz_date, signed_at))
}

/// Refuses a signing time more than [`MAX_SKEW_SECS`] from `now`, in AWS's words.
fn check_skew(amz_date: &str, signed_at: i64, now: SystemTime) -> Result<(), WireError> {
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
        Err(WireError::new(
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
        ))
    } else {
        Ok(())
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn canonical_request(request: &Incoming<'_>, signed: &[&str], payload: &str) -> String {
    let Incoming {
        method,
        path,
        query,
        headers,
        ..
    } = *request;
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

    fn regions() -> Vec<String> {
        vec!["us-east-1".to_string(), "eu-west-1".to_string()]
    }

    /// Checks one captured request, with its body replaced by `body`, at `now`.
    fn check(
        cfg: &AuthConfig,
        c: &Captured,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), WireError> {
        let (method, path, query, headers, _) = c;
        let req = Incoming {
            method,
            path,
            query: query.as_deref(),
            headers,
            body,
        };
        cfg.check(&req, &regions(), now)
    }

    /// The signed captured requests and a time within their skew window.
    fn signed() -> Vec<(Captured, SystemTime)> {
        let out: Vec<_> = captured()
            .into_iter()
            .filter(|c| {
                let auth = c.3.get("authorization").unwrap().to_str().unwrap();
                auth.starts_with("AWS4")
            })
            .map(|c| {
                let date = parse_amz_date(c.3.get("x-amz-date").unwrap().to_str().unwrap());
                let now = UNIX_EPOCH + Duration::from_secs(date.unwrap() as u64 + 60);
                (c, now)
            })
            .collect();
        assert_eq!(out.len(), 7);
        out
    }

    fn dummy() -> AuthConfig {
        AuthConfig::new(AuthMode::Sigv4).with_credential("<ACCESS_KEY_ID>", "dummy-secret")
    }

    #[test]
    fn every_captured_signature_verifies() {
        let cfg = dummy();
        let wrong =
            AuthConfig::new(AuthMode::Sigv4).with_credential("<ACCESS_KEY_ID>", "other-secret");
        for (c, now) in signed() {
            let body = c.4.clone();
            check(&cfg, &c, &body, now).unwrap_or_else(|e| panic!("{} {}: {e}", c.0, c.1));
            let e = check(&wrong, &c, &body, now).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSignature);
            // Out of the clock-skew window.
            let late = now + Duration::from_secs(16 * 60);
            let e = check(&cfg, &c, &body, late).unwrap_err();
            assert!(e.message.starts_with("Signature expired"), "{}", e.message);
            let early = now - Duration::from_secs(17 * 60);
            assert!(check(&cfg, &c, &body, early).is_err());
        }
    }

    #[test]
    fn a_swapped_body_is_refused_as_aws_refuses_it() {
        let cfg = dummy();
        for (c, now) in signed() {
            for swapped in [
                b"{\"inputText\":\"something else entirely\"}".to_vec(),
                [c.4.as_slice(), &b" "[..]].concat(),
                Vec::new(),
            ] {
                if swapped == c.4 {
                    continue;
                }
                let e = check(&cfg, &c, &swapped, now).unwrap_err();
                assert_eq!(e.kind, ErrorKind::InvalidSignature, "{} {}", c.0, c.1);
                assert_eq!(e.kind.status(), 403);
                assert_eq!(e.message, SIGNATURE_MISMATCH);
            }
        }
    }

    #[test]
    fn unsigned_payload_is_refused() {
        let cfg = dummy();
        for (mut c, now) in signed() {
            c.3.insert("x-amz-content-sha256", UNSIGNED_PAYLOAD.parse().unwrap());
            let body = c.4.clone();
            let e = check(&cfg, &c, &body, now).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSignature);
            assert_eq!(e.message, SIGNATURE_MISMATCH);
        }
    }

    #[test]
    fn the_credential_scope_region_is_checked() {
        let cfg = dummy();
        let only_us = vec!["us-east-1".to_string()];
        let mut refused = 0;
        for (c, now) in signed() {
            let (method, path, query, headers, body) = &c;
            let req = Incoming {
                method,
                path,
                query: query.as_deref(),
                headers,
                body,
            };
            let auth = headers.get("authorization").unwrap().to_str().unwrap();
            match cfg.check(&req, &only_us, now) {
                Ok(()) => assert!(auth.contains("/us-east-1/")),
                Err(e) => {
                    assert!(auth.contains("/eu-west-1/"), "{auth}");
                    assert_eq!(e.kind, ErrorKind::InvalidSignature);
                    assert_eq!(
                        e.message,
                        "Credential should be scoped to a valid region, not 'eu-west-1'. "
                    );
                    refused += 1;
                }
            }
            let e = cfg
                .check(&req, &["xx-fake-1".to_string()], now)
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSignature);
        }
        assert_eq!(refused, 1);
    }

    fn get(headers: &HeaderMap) -> Incoming<'_> {
        Incoming {
            method: &Method::GET,
            path: "/",
            query: None,
            headers,
            body: b"",
        }
    }

    #[test]
    fn missing_unknown_and_bearer() {
        let now = SystemTime::now();
        let cfg = AuthConfig::new(AuthMode::Any)
            .with_credential("AKID", "s")
            .with_api_key("key-1");
        let h = HeaderMap::new();
        let e = cfg.check(&get(&h), &regions(), now).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingAuthenticationToken);
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer key-1".parse().unwrap());
        assert!(cfg.check(&get(&h), &regions(), now).is_ok());
        h.insert("authorization", "Bearer key-2".parse().unwrap());
        assert_eq!(
            cfg.check(&get(&h), &regions(), now).unwrap_err().kind,
            ErrorKind::UnrecognizedClient
        );
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=NOPE/20261121/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00".parse().unwrap());
        assert_eq!(
            cfg.check(&get(&h), &regions(), now).unwrap_err().kind,
            ErrorKind::UnrecognizedClient
        );
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00".parse().unwrap());
        assert_eq!(
            cfg.check(&get(&h), &regions(), now).unwrap_err().kind,
            ErrorKind::InvalidSignature
        );
        let sig_only = AuthConfig::new(AuthMode::Sigv4);
        h.insert("authorization", "Bearer key-1".parse().unwrap());
        assert_eq!(
            sig_only.check(&get(&h), &regions(), now).unwrap_err().kind,
            ErrorKind::AccessDenied
        );
        assert!(AuthConfig::default()
            .check(&get(&HeaderMap::new()), &regions(), now)
            .is_ok());
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("key-1") && shown.contains("AKID"));
    }
}

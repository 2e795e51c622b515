//! [`BedrockEmbedder`]: an [`Embedder`] over `InvokeModel` for every
//! embedding family, built for bulk work.
//!
//! A request is cut into calls the model takes (Cohere: up to 96 texts;
//! Titan: one), texts already in the cache are answered from it, and the
//! calls run concurrently under an [`AdaptiveLimiter`]. Each call is retried
//! on its own, with jittered exponential backoff, while the error is
//! retryable and attempts remain. Results land at their input positions, so
//! output order is input order; an item that fails keeps its place with its
//! reason ([`BedrockEmbedder::embed_items`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_bedrockruntime::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use embedrock_core::{
    Catalogue, EmbedRequest, EmbedResponse, Embedder, Error, Family, ModelInfo, OutputType,
    TypedEmbeddings,
};

use super::accounting::{Accounting, CallTokens, Totals};
use super::cache::{Cache, Entry};
use super::limiter::AdaptiveLimiter;
use super::retry::CallError;
use super::settings::{BedrockSettings, OverLong};
use crate::{codec, ErrorKind, ModelId};

/// The header Bedrock counts input tokens in.
pub const INPUT_TOKENS_HEADER: &str = "x-amzn-bedrock-input-token-count";

/// One embedded item.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Item {
    /// The float vector.
    pub vector: Vec<f32>,
    /// Input tokens counted for it (for Cohere, whose bodies carry no
    /// counts, a call's whole count is given to its first item).
    pub tokens: usize,
    /// Quantised forms, one row each, when asked for.
    pub typed: TypedEmbeddings,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// Why one item has no vector.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("item {index}: {code}: {message} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
#[non_exhaustive]
pub struct ItemError {
    /// The item's position in the request.
    pub index: usize,
    /// The error code: a Bedrock exception name, `InputTooLong`,
    /// `Transport` or `Client`.
    pub code: String,
    /// The reason.
    pub message: String,
    /// Calls made for it (0 when it was refused before any call).
    pub attempts: u32,
    /// Whether the last error was one that may pass if tried later.
    pub retryable: bool,
}

/// An [`Embedder`] for Amazon Bedrock's embedding models.
#[derive(Clone)]
pub struct BedrockEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: aws_sdk_bedrockruntime::Client,
    model_id: String,
    /// The name cache keys use: the base model when the id names one.
    cache_model: String,
    family: Family,
    info: Option<&'static ModelInfo>,
    settings: BedrockSettings,
    limiter: Arc<AdaptiveLimiter>,
    cache: Option<Cache>,
    accounting: Arc<Accounting>,
}

impl std::fmt::Debug for BedrockEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockEmbedder")
            .field("model_id", &self.inner.model_id)
            .field("family", &self.inner.family)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

/// Loads the SDK configuration: explicit settings first, the SDK's chains for
/// the rest, `us-east-1` when no region is found. The SDK's own retries are
/// off; the provider retries.
pub async fn load_sdk_config(settings: &BedrockSettings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(settings.attempt_timeout)
                .connect_timeout(std::time::Duration::from_secs(10))
                .build(),
        );
    if let Some(r) = &settings.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p);
    }
    if let Some(u) = &settings.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    if let (Some(k), Some(s)) = (&settings.access_key_id, &settings.secret_access_key) {
        loader = loader.credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
            k,
            s.expose(),
            settings
                .session_token
                .as_ref()
                .map(|t| t.expose().to_string()),
            None,
            "embedrock-settings",
        ));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        sdk.into_builder()
            .region(aws_config::Region::new("us-east-1"))
            .build()
    } else {
        sdk
    }
}

/// The runtime client for these settings (bearer auth when an API key is set).
pub fn runtime_client(
    sdk: &aws_config::SdkConfig,
    settings: &BedrockSettings,
) -> aws_sdk_bedrockruntime::Client {
    let mut b = aws_sdk_bedrockruntime::config::Builder::from(sdk);
    if let Some(key) = &settings.api_key {
        b = b
            .bearer_token(aws_sdk_bedrockruntime::config::Token::new(
                key.expose(),
                None,
            ))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ]);
    }
    aws_sdk_bedrockruntime::Client::from_conf(b.build())
}

/// Reads the input-token header of each response into a slot.
#[derive(Debug)]
struct HeaderTokens(Arc<Mutex<Option<usize>>>);

impl Intercept for HeaderTokens {
    fn name(&self) -> &'static str {
        "embedrock-input-token-header"
    }

    fn read_before_deserialization(
        &self,
        ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let n = ctx
            .response()
            .headers()
            .get(INPUT_TOKENS_HEADER)
            .and_then(|v| v.trim().parse::<usize>().ok());
        if let Ok(mut slot) = self.0.lock() {
            *slot = n;
        }
        Ok(())
    }
}

impl BedrockEmbedder {
    /// Connects to `model` with these settings.
    pub async fn connect(model: &str, settings: BedrockSettings) -> Result<Self, Error> {
        let sdk = load_sdk_config(&settings).await;
        Self::from_sdk_config(&sdk, model, settings)
    }

    /// A provider for `model` on an already loaded SDK configuration.
    pub fn from_sdk_config(
        sdk: &aws_config::SdkConfig,
        model: &str,
        settings: BedrockSettings,
    ) -> Result<Self, Error> {
        let id = ModelId::parse(model).map_err(|e| Error::UnknownModel {
            model: model.to_string(),
            hint: Some(e.message),
        })?;
        let family = id.family(settings.family).ok_or_else(|| Error::UnknownModel {
            model: model.to_string(),
            hint: Some(if id.is_opaque() {
                "this id does not name its model: give the family (titan-text-v1, titan-text-v2, titan-multimodal, cohere-v3, cohere-v4)".into()
            } else {
                "not a Bedrock embedding model this client knows".into()
            }),
        })?;
        let info = id
            .model_info()
            .or_else(|| Catalogue::bedrock().find(|m| m.family == family));
        let runtime = runtime_client(sdk, &settings);
        let limiter = Arc::new(AdaptiveLimiter::new(
            settings.initial_concurrency,
            settings.max_concurrency,
        ));
        Ok(BedrockEmbedder {
            inner: Arc::new(Inner {
                runtime,
                model_id: id.raw.clone(),
                cache_model: id.base.clone().unwrap_or_else(|| id.raw.clone()),
                family,
                info,
                cache: settings.cache_dir.as_ref().map(Cache::new),
                settings,
                limiter,
                accounting: Arc::new(Accounting::default()),
            }),
        })
    }

    /// The wire family.
    pub fn family(&self) -> Family {
        self.inner.family
    }

    /// The catalogue row the provider prices and limits with.
    pub fn info(&self) -> Option<&'static ModelInfo> {
        self.inner.info
    }

    /// Totals since the provider was made.
    pub fn totals(&self) -> Totals {
        self.inner.accounting.snapshot(self.inner.info)
    }

    /// The live counters (for a progress display).
    pub fn accounting(&self) -> Arc<Accounting> {
        Arc::clone(&self.inner.accounting)
    }

    /// The current concurrency limit.
    pub fn concurrency(&self) -> usize {
        self.inner.limiter.limit()
    }

    /// Texts per call.
    pub fn batch_size(&self) -> usize {
        match self.inner.family {
            Family::CohereV3 | Family::CohereV4 => self.inner.info.map_or(96, |i| i.max_batch),
            _ => 1,
        }
    }

    /// Embeds every text of `request`, one result per text in input order:
    /// a vector, or the reason there is none.
    pub async fn embed_items(&self, request: &EmbedRequest) -> Vec<Result<Item, ItemError>> {
        let inner = &self.inner;
        let n = request.texts.len();
        let mut results: Vec<Option<Result<Item, ItemError>>> = vec![None; n];
        let truncate = inner.settings.over_long == OverLong::Truncate;
        let mut template = request.clone();
        template.texts.clear();
        if matches!(inner.family, Family::CohereV3 | Family::CohereV4)
            && !template.output_types.is_empty()
            && !template.output_types.contains(&OutputType::Float)
        {
            template.output_types.insert(0, OutputType::Float);
        }
        let template = Arc::new(template);

        // Limits, then the cache.
        let mut pending: Vec<(usize, String, Option<String>)> = Vec::new();
        let (mut hits, mut misses) = (0usize, 0usize);
        let chunking = inner.settings.over_long == OverLong::Chunk;
        // Items cut into pieces: (item, the pieces' result slots, cache key).
        let mut chunked: Vec<(usize, Vec<usize>, Option<String>)> = Vec::new();
        for (i, text) in request.texts.iter().enumerate() {
            let mut text = text.clone();
            let key = inner.cache.as_ref().map(|_| {
                Cache::key(
                    &inner.cache_model,
                    request,
                    inner.settings.over_long.as_str(),
                    &request.texts[i],
                )
            });
            if let (Some(cache), Some(k)) = (&inner.cache, &key) {
                if let Some(e) = cache.get(k) {
                    hits += 1;
                    results[i] = Some(Ok(Item {
                        vector: e.vector,
                        tokens: e.tokens,
                        typed: e.typed,
                        cached: true,
                    }));
                    continue;
                }
                misses += 1;
            }
            if let Some(max) = inner.info.and_then(|m| m.max_chars) {
                let chars = text.chars().count();
                if chars > max {
                    if truncate {
                        text = text.chars().take(max).collect();
                    } else if chunking {
                        let size = inner
                            .info
                            .and_then(|m| m.max_tokens)
                            .map_or(max, |t| max.min(t.saturating_mul(3)))
                            .max(1);
                        let mut slots = Vec::new();
                        for piece in split_chars(&text, size) {
                            slots.push(results.len());
                            pending.push((results.len(), piece, None));
                            results.push(None);
                        }
                        chunked.push((i, slots, key));
                        continue;
                    } else {
                        results[i] = Some(Err(ItemError {
                            index: i,
                            code: "InputTooLong".into(),
                            message: format!(
                                "{chars} characters, the limit of {} is {max} (opt in to truncation or chunking)",
                                inner.model_id
                            ),
                            attempts: 0,
                            retryable: false,
                        }));
                        continue;
                    }
                }
            }
            pending.push((i, text, key));
        }
        inner.accounting.cache(hits, misses);
        let refused = results.iter().filter(|r| r.is_some()).count() - hits;
        inner.accounting.items(hits, refused);

        // The calls.
        let batch = self.batch_size().max(1);
        let mut tasks = tokio::task::JoinSet::new();
        let mut batches = Vec::new();
        let mut rest = pending.into_iter().peekable();
        while rest.peek().is_some() {
            batches.push(rest.by_ref().take(batch).collect::<Vec<_>>());
        }
        for b in batches {
            let permit = inner.limiter.acquire().await;
            let me = Arc::clone(&self.inner);
            let template = Arc::clone(&template);
            let indices: Vec<usize> = b.iter().map(|(i, _, _)| *i).collect();
            tasks.spawn(async move {
                let out = me.run_batch(b, &template, permit).await;
                (indices, out)
            });
            while let Some(done) = tasks.try_join_next() {
                place(&mut results, done);
            }
        }
        while let Some(done) = tasks.join_next().await {
            place(&mut results, done);
        }
        for (owner, slots, key) in chunked {
            let pieces: Vec<Option<Result<Item, ItemError>>> =
                slots.iter().map(|&s| results[s].take()).collect();
            let combined = inner.combine(owner, pieces, request);
            if let (Ok(item), Some(cache), Some(key)) = (&combined, &inner.cache, &key) {
                let _ = cache.put(
                    key,
                    &Entry {
                        vector: item.vector.clone(),
                        tokens: item.tokens,
                        typed: item.typed.clone(),
                    },
                );
            }
            results[owner] = Some(combined);
        }
        results.truncate(n);
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(ItemError {
                        index: i,
                        code: "Client".into(),
                        message: "the task embedding this item stopped before it finished".into(),
                        attempts: 0,
                        retryable: true,
                    })
                })
            })
            .collect()
    }
}

/// Cuts `text` into pieces of at most `size` characters, at whitespace
/// where there is some in the second half of a piece.
fn split_chars(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + size).min(chars.len());
        if end < chars.len() {
            if let Some(ws) = (start + size / 2..end)
                .rev()
                .find(|&k| chars[k].is_whitespace())
            {
                end = ws + 1;
            }
        }
        out.push(chars[start..end].iter().collect());
        start = end;
    }
    out
}

type BatchOutcome = (Vec<usize>, Vec<Result<Item, ItemError>>);

fn place(
    results: &mut [Option<Result<Item, ItemError>>],
    done: Result<BatchOutcome, tokio::task::JoinError>,
) {
    if let Ok((indices, items)) = done {
        for (i, r) in indices.into_iter().zip(items) {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(r);
            }
        }
    }
}

/// `Max input tokens: M, request input token count: N` from Titan's message.
fn token_counts(message: &str) -> Option<(usize, usize)> {
    let num_after = |label: &str| -> Option<usize> {
        let rest = &message[message.find(label)? + label.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    Some((
        num_after("Max input tokens:")?,
        num_after("request input token count:")?,
    ))
}

impl Inner {
    /// One item's vector from its pieces: the token-weighted mean,
    /// normalised when asked; tokens summed. A failed piece fails the item.
    fn combine(
        &self,
        owner: usize,
        pieces: Vec<Option<Result<Item, ItemError>>>,
        request: &EmbedRequest,
    ) -> Result<Item, ItemError> {
        let total = pieces.len();
        let mut items = Vec::with_capacity(total);
        for (k, p) in pieces.into_iter().enumerate() {
            match p {
                Some(Ok(item)) => items.push(item),
                Some(Err(mut e)) => {
                    e.index = owner;
                    e.message = format!("piece {} of {total}: {}", k + 1, e.message);
                    return Err(e);
                }
                None => {
                    return Err(ItemError {
                        index: owner,
                        code: "Client".into(),
                        message: format!("piece {} of {total} has no result", k + 1),
                        attempts: 0,
                        retryable: true,
                    })
                }
            }
        }
        let dims = items.first().map_or(0, |i| i.vector.len());
        let mut vector = vec![0f32; dims];
        let mut weight_sum = 0f32;
        for it in &items {
            let w = it.tokens.max(1) as f32;
            weight_sum += w;
            for (v, x) in vector.iter_mut().zip(&it.vector) {
                *v += w * x;
            }
        }
        for v in &mut vector {
            *v /= weight_sum.max(1.0);
        }
        if request.normalize {
            let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                for v in &mut vector {
                    *v /= norm;
                }
            }
        }
        let typed =
            TypedEmbeddings::from_floats(std::slice::from_ref(&vector), &request.output_types);
        Ok(Item {
            vector,
            tokens: items.iter().map(|i| i.tokens).sum(),
            typed,
            cached: false,
        })
    }

    /// One call with its retries; one result per text.
    async fn run_batch(
        &self,
        batch: Vec<(usize, String, Option<String>)>,
        template: &EmbedRequest,
        first: super::limiter::Permit,
    ) -> Vec<Result<Item, ItemError>> {
        let mut texts: Vec<String> = batch.iter().map(|(_, t, _)| t.clone()).collect();
        let mut permit = Some(first);
        let mut attempt = 0u32;
        let mut other_failures = 0u32;
        let mut shrinks = 0u32;
        let truncate = self.settings.over_long == OverLong::Truncate;
        let fail = |e: &CallError, attempts: u32| {
            let too_long = matches!(e, CallError::Service { message, .. } if message.contains("Too many input tokens"));
            batch
                .iter()
                .map(|(i, _, _)| {
                    Err(ItemError {
                        index: *i,
                        code: if too_long {
                            "InputTooLong".into()
                        } else {
                            e.code().to_string()
                        },
                        message: match e {
                            CallError::Service { message, .. } => message.clone(),
                            other => other.to_string(),
                        },
                        attempts,
                        retryable: e.retryable(),
                    })
                })
                .collect::<Vec<_>>()
        };
        loop {
            attempt += 1;
            let p = match permit.take() {
                Some(p) => p,
                None => self.limiter.acquire().await,
            };
            self.accounting.attempt(attempt > 1);
            let started = Instant::now();
            let outcome = self.call(&texts, template).await;
            drop(p);
            match outcome {
                Ok((response, tokens)) => {
                    self.limiter.on_success(started.elapsed());
                    self.accounting.call(tokens);
                    self.accounting.items(batch.len(), 0);
                    return batch
                        .iter()
                        .enumerate()
                        .map(|(k, (_, _, key))| {
                            let item = Item {
                                vector: response.vectors.get(k).cloned().unwrap_or_default(),
                                tokens: response.tokens.get(k).copied().unwrap_or(0),
                                typed: row(&response.typed, k),
                                cached: false,
                            };
                            if let (Some(cache), Some(key)) = (&self.cache, key) {
                                // A cache that cannot be written costs money later, not results now.
                                let _ = cache.put(
                                    key,
                                    &Entry {
                                        vector: item.vector.clone(),
                                        tokens: item.tokens,
                                        typed: item.typed.clone(),
                                    },
                                );
                            }
                            Ok(item)
                        })
                        .collect();
                }
                Err(e) => {
                    if e.is_throttle() {
                        self.limiter.on_throttle();
                        self.accounting.throttle();
                    }
                    // Titan counts tokens only on the service: cut the text in
                    // proportion and try again (not a retry of a fault).
                    if truncate && texts.len() == 1 && shrinks < 4 {
                        if let CallError::Service { message, .. } = &e {
                            if let Some((max, count)) = token_counts(message) {
                                if count > max {
                                    let chars = texts[0].chars().count();
                                    let keep =
                                        (chars as f64 * max as f64 / count as f64 * 0.95) as usize;
                                    texts[0] = texts[0].chars().take(keep.max(1)).collect();
                                    shrinks += 1;
                                    attempt -= 1;
                                    continue;
                                }
                            }
                        }
                    }
                    if !e.is_throttle() {
                        other_failures += 1;
                    }
                    let policy = &self.settings.retry;
                    let exhausted = other_failures >= policy.max_attempts
                        || attempt >= policy.max_throttled_attempts.max(policy.max_attempts);
                    if !e.retryable() || exhausted {
                        let failed = fail(&e, attempt);
                        self.accounting.items(0, failed.len());
                        return failed;
                    }
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
            }
        }
    }

    /// One `InvokeModel` request.
    async fn call(
        &self,
        texts: &[String],
        template: &EmbedRequest,
    ) -> Result<(EmbedResponse, CallTokens), CallError> {
        let mut req = template.clone();
        req.texts = texts.to_vec();
        let mut body =
            codec::encode_request(self.family, &req).map_err(|e| CallError::Service {
                kind: Some(e.kind),
                code: e.kind.name().into(),
                message: e.message,
                status: 0,
            })?;
        if self.settings.over_long == OverLong::Truncate {
            let value = match self.family {
                Family::CohereV3 => Some("END"),
                Family::CohereV4 => Some("RIGHT"),
                _ => None,
            };
            if let Some(value) = value {
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    v["truncate"] = serde_json::Value::from(value);
                    body = serde_json::to_vec(&v).unwrap_or(body);
                }
            }
        }
        let slot = Arc::new(Mutex::new(None));
        let sent = self
            .runtime
            .invoke_model()
            .model_id(&self.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .customize()
            .interceptor(HeaderTokens(Arc::clone(&slot)))
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(SdkError::ServiceError(se)) => {
                let status = se.raw().status().as_u16();
                let err = se.err();
                let code = err.code().unwrap_or("UnknownError").to_string();
                return Err(CallError::Service {
                    kind: ErrorKind::from_name(&code),
                    message: err.message().unwrap_or_default().to_string(),
                    code,
                    status,
                });
            }
            Err(e @ SdkError::ConstructionFailure(_)) => {
                return Err(CallError::Local(DisplayErrorContext(&e).to_string()))
            }
            Err(e) => return Err(CallError::Transport(DisplayErrorContext(&e).to_string())),
        };
        let header = slot.lock().ok().and_then(|s| *s);
        let decoded = codec::decode_response(self.family, out.body().as_ref())
            .map_err(|e| CallError::Local(format!("cannot read the answer: {}", e.message)))?;
        if decoded.vectors.len() != texts.len() {
            return Err(CallError::Local(format!(
                "the answer holds {} vectors for {} texts",
                decoded.vectors.len(),
                texts.len()
            )));
        }
        let body_tokens = decoded.tokens.as_ref().map(|t| t.iter().sum());
        let response = decoded.into_response(&self.model_id, header);
        Ok((
            response,
            CallTokens {
                body: body_tokens,
                header,
            },
        ))
    }
}

/// Row `k` of each quantised form.
fn row(t: &TypedEmbeddings, k: usize) -> TypedEmbeddings {
    fn pick<T: Clone>(v: &Option<Vec<Vec<T>>>, k: usize) -> Option<Vec<Vec<T>>> {
        v.as_ref()
            .and_then(|rows| rows.get(k))
            .map(|r| vec![r.clone()])
    }
    TypedEmbeddings {
        int8: pick(&t.int8, k),
        uint8: pick(&t.uint8, k),
        binary: pick(&t.binary, k),
        ubinary: pick(&t.ubinary, k),
    }
}

/// Rows of several one-row forms, stacked.
fn stack(rows: &[TypedEmbeddings]) -> TypedEmbeddings {
    fn cat<T: Clone>(
        rows: &[TypedEmbeddings],
        f: impl Fn(&TypedEmbeddings) -> &Option<Vec<Vec<T>>>,
    ) -> Option<Vec<Vec<T>>> {
        if rows.iter().all(|r| f(r).is_none()) {
            return None;
        }
        Some(
            rows.iter()
                .map(|r| {
                    f(r).as_ref()
                        .and_then(|v| v.first())
                        .cloned()
                        .unwrap_or_default()
                })
                .collect(),
        )
    }
    TypedEmbeddings {
        int8: cat(rows, |r| &r.int8),
        uint8: cat(rows, |r| &r.uint8),
        binary: cat(rows, |r| &r.binary),
        ubinary: cat(rows, |r| &r.ubinary),
    }
}

/// The items of a fully successful run as one response.
pub fn into_response(model: &str, items: Vec<Item>) -> EmbedResponse {
    let typed = stack(&items.iter().map(|i| i.typed.clone()).collect::<Vec<_>>());
    let (vectors, tokens) = items.into_iter().map(|i| (i.vector, i.tokens)).unzip();
    let mut r = EmbedResponse::new(model, vectors, tokens);
    r.typed = typed;
    r
}

#[async_trait::async_trait]
impl Embedder for BedrockEmbedder {
    async fn embed(&self, request: EmbedRequest) -> embedrock_core::Result<EmbedResponse> {
        if request.texts.is_empty() {
            return Err(Error::EmptyInput);
        }
        let results = self.embed_items(&request).await;
        let mut items = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(item) => items.push(item),
                Err(e) if e.code == "InputTooLong" => {
                    let text = request.texts.get(e.index).map_or("", String::as_str);
                    let chars = text.chars().count();
                    return Err(match self.inner.info.and_then(|m| m.max_chars) {
                        Some(max) if chars > max => Error::InputTooLong {
                            model: self.inner.model_id.clone(),
                            index: e.index,
                            length: chars,
                            max,
                            unit: "characters",
                        },
                        _ => Error::backend_msg(e.to_string()),
                    });
                }
                Err(e) => return Err(Error::backend_msg(e.to_string())),
            }
        }
        Ok(into_response(&self.inner.model_id, items))
    }

    fn model_id(&self) -> &str {
        &self.inner.model_id
    }

    fn dimensions(&self) -> usize {
        self.inner.info.map_or(1024, |m| m.default_dimensions)
    }

    fn max_batch(&self) -> usize {
        self.batch_size() * self.inner.settings.max_concurrency.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titan_token_message_is_read() {
        assert_eq!(
            token_counts("400 Bad Request: Too many input tokens. Max input tokens: 8192, request input token count: 9875"),
            Some((8192, 9875))
        );
        assert_eq!(token_counts("Malformed input request"), None);
    }

    #[test]
    fn rows_split_and_stack() {
        let t = TypedEmbeddings {
            int8: Some(vec![vec![1, 2], vec![3, 4]]),
            ..TypedEmbeddings::default()
        };
        let rows = vec![row(&t, 0), row(&t, 1)];
        assert_eq!(rows[1].int8, Some(vec![vec![3, 4]]));
        assert_eq!(stack(&rows), t);
    }
}

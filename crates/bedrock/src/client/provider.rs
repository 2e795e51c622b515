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
    math, Catalogue, EmbedRequest, EmbedResponse, Embedder, Error, Family, ModelFacts, ModelInfo,
    OutputType, TypedEmbeddings, Usage,
};

use super::accounting::{Accounting, CallTokens, Totals};
use super::cache::{Cache, Entry};
use super::limiter::AdaptiveLimiter;
use super::retry::CallError;
use super::settings::{BedrockSettings, OverLong};
use crate::headers::INPUT_TOKEN_COUNT;
use crate::{codec, ErrorKind, ModelId};

pub use super::item::{Item, ItemCode, ItemError};

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
    /// The family's limits (its catalogue row).
    limits: &'static ModelInfo,
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
            .get(INPUT_TOKEN_COUNT)
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
        let limits = codec::limits::row(family).map_err(|e| Error::UnknownModel {
            model: model.to_string(),
            hint: Some(e.message),
        })?;
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
                limits,
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

    /// Texts per call (the family's catalogue row).
    pub fn batch_size(&self) -> usize {
        self.inner.limits.max_batch.max(1)
    }

    /// The most characters one text may have before it counts as over-long
    /// (the family's [`embedrock_core::ModelInfo::max_text_chars`]).
    pub fn max_text_chars(&self) -> Option<usize> {
        self.inner.limits.max_text_chars()
    }

    /// The size of the pieces `--chunk` cuts an over-long text into: the
    /// character limit, and at most three characters per token of the token
    /// limit.
    pub fn chunk_chars(&self) -> Option<usize> {
        let max = self.max_text_chars()?;
        Some(
            self.inner
                .limits
                .max_tokens
                .map_or(max, |t| max.min(t.saturating_mul(3)))
                .max(1),
        )
    }

    /// Embeds every text of `request`, one result per text in input order:
    /// a vector, or the reason there is none.
    pub async fn embed_items(&self, request: &EmbedRequest) -> Vec<Result<Item, ItemError>> {
        let n = request.texts.len();
        let mut plan = self.plan(request);
        let template = Arc::new(self.template(request));
        let pending = std::mem::take(&mut plan.pending);
        self.dispatch(pending, &template, &mut plan.results).await;
        self.assemble(&mut plan, request);
        plan.results.truncate(n);
        plan.results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(ItemError::new(
                        i,
                        ItemCode::Client,
                        "the task embedding this item stopped before it finished",
                        0,
                        true,
                    ))
                })
            })
            .collect()
    }

    /// The request every call is built from (texts filled in per call).
    /// Cohere is asked for floats too when only other forms are wanted.
    fn template(&self, request: &EmbedRequest) -> EmbedRequest {
        let mut template = request.clone();
        template.texts.clear();
        if matches!(self.inner.family, Family::CohereV3 | Family::CohereV4)
            && !template.output_types.is_empty()
            && !template.output_types.contains(&OutputType::Float)
        {
            template.output_types.insert(0, OutputType::Float);
        }
        template
    }

    /// Answers what the cache holds, refuses or cuts over-long texts, and
    /// lists the texts left to send.
    fn plan(&self, request: &EmbedRequest) -> Plan {
        let inner = &self.inner;
        let mut plan = Plan {
            results: vec![None; request.texts.len()],
            ..Plan::default()
        };
        let (mut hits, mut misses) = (0usize, 0usize);
        for (i, text) in request.texts.iter().enumerate() {
            let key = inner.cache.as_ref().map(|_| {
                Cache::key(
                    &inner.cache_model,
                    request,
                    inner.settings.over_long.as_str(),
                    text,
                )
            });
            if let (Some(cache), Some(k)) = (&inner.cache, &key) {
                if let Some(e) = cache.get(k) {
                    hits += 1;
                    plan.results[i] = Some(Ok(Item {
                        vector: e.vector,
                        tokens: e.tokens,
                        counted: false,
                        typed: e.typed,
                        cached: true,
                    }));
                    continue;
                }
                misses += 1;
            }
            self.plan_text(&mut plan, i, text, key);
        }
        inner.accounting.cache(hits, misses);
        let refused = plan.results.iter().filter(|r| r.is_some()).count() - hits;
        inner.accounting.items(hits, refused);
        plan
    }

    /// One text that is not in the cache: sent as it is, cut, chunked, or
    /// refused, by the over-long policy.
    fn plan_text(&self, plan: &mut Plan, i: usize, text: &str, key: Option<String>) {
        let inner = &self.inner;
        let over = codec::limits::check_text(inner.limits, i, text).is_some();
        let max = self.max_text_chars().unwrap_or(usize::MAX);
        match (over, inner.settings.over_long) {
            (false, _) => plan.pending.push((i, text.to_string(), key)),
            (true, OverLong::Truncate) => {
                plan.pending
                    .push((i, text.chars().take(max).collect(), key));
            }
            (true, OverLong::Chunk) => {
                let size = self.chunk_chars().unwrap_or(max);
                let mut slots = Vec::new();
                for piece in chunk_text(text, size) {
                    slots.push((plan.results.len(), piece.chars().count()));
                    plan.pending.push((plan.results.len(), piece, None));
                    plan.results.push(None);
                }
                plan.chunked.push((i, slots, key));
            }
            (true, OverLong::Error) => {
                plan.results[i] = Some(Err(ItemError::new(
                    i,
                    ItemCode::InputTooLong,
                    format!(
                        "{} characters, the limit of {} is {max} (opt in to truncation or chunking)",
                        text.chars().count(),
                        inner.model_id
                    ),
                    0,
                    false,
                )));
            }
        }
    }

    /// Sends the pending texts in batches the model takes, as many at once
    /// as the limiter allows, and places each result at its slot. Dropping
    /// the future stops the calls still in flight.
    async fn dispatch(
        &self,
        pending: Vec<Pending>,
        template: &Arc<EmbedRequest>,
        results: &mut [Option<Result<Item, ItemError>>],
    ) {
        let batch = self.batch_size().max(1);
        let mut tasks = tokio::task::JoinSet::new();
        let mut rest = pending.into_iter().peekable();
        while rest.peek().is_some() {
            let b: Vec<Pending> = rest.by_ref().take(batch).collect();
            let permit = self.inner.limiter.acquire().await;
            let me = Arc::clone(&self.inner);
            let template = Arc::clone(template);
            let indices: Vec<usize> = b.iter().map(|(i, _, _)| *i).collect();
            tasks.spawn(async move {
                let out = me.run_batch(b, &template, permit).await;
                (indices, out)
            });
            while let Some(done) = tasks.try_join_next() {
                place(results, done);
            }
        }
        while let Some(done) = tasks.join_next().await {
            place(results, done);
        }
    }

    /// Combines each chunked item's pieces into its result (and caches it).
    fn assemble(&self, plan: &mut Plan, request: &EmbedRequest) {
        let inner = &self.inner;
        for (owner, slots, key) in std::mem::take(&mut plan.chunked) {
            let pieces: Vec<(Option<Result<Item, ItemError>>, usize)> = slots
                .iter()
                .map(|&(s, chars)| (plan.results[s].take(), chars))
                .collect();
            let combined = combine(owner, pieces, request);
            if let (Ok(item), Some(cache), Some(key)) = (&combined, &inner.cache, &key) {
                // A cache that cannot be written costs money later, not results now.
                let _ = cache.put(key, &Entry::of(item));
            }
            plan.results[owner] = Some(combined);
        }
    }
}

/// A text to send: its result slot, the text, its cache key.
type Pending = (usize, String, Option<String>);

/// The work of one [`BedrockEmbedder::embed_items`] call.
#[derive(Default)]
struct Plan {
    /// One slot per input, then one per chunk piece.
    results: Vec<Option<Result<Item, ItemError>>>,
    /// Texts to send.
    pending: Vec<Pending>,
    /// Items cut into pieces.
    chunked: Vec<Chunked>,
}

/// An item cut into pieces: its slot, its pieces' (slot, characters), its cache key.
type Chunked = (usize, Vec<(usize, usize)>, Option<String>);

/// Cuts `text` into pieces of at most `size` characters, at whitespace
/// where there is some in the second half of a piece.
pub fn chunk_text(text: &str, size: usize) -> Vec<String> {
    let size = size.max(1);
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

/// The weighted mean of vectors of one length (the first's).
pub fn weighted_mean(vectors: &[&[f32]], weights: &[f64]) -> Vec<f32> {
    let dims = vectors.first().map_or(0, |v| v.len());
    let mut sum = vec![0f64; dims];
    let mut total = 0f64;
    for (v, &w) in vectors.iter().zip(weights) {
        total += w;
        for (s, x) in sum.iter_mut().zip(v.iter()) {
            *s += w * f64::from(*x);
        }
    }
    let total = if total > 0.0 { total } else { 1.0 };
    sum.into_iter().map(|s| (s / total) as f32).collect()
}

/// One item's vector from its pieces (each with its character count): the
/// mean weighted by each piece's own size — its own token count when the
/// service counted every piece alone, else its characters — normalised
/// when asked; tokens summed. A failed piece fails the item.
fn combine(
    owner: usize,
    pieces: Vec<(Option<Result<Item, ItemError>>, usize)>,
    request: &EmbedRequest,
) -> Result<Item, ItemError> {
    let total = pieces.len();
    let mut items = Vec::with_capacity(total);
    let mut chars = Vec::with_capacity(total);
    for (k, (p, c)) in pieces.into_iter().enumerate() {
        match p {
            Some(Ok(item)) => {
                items.push(item);
                chars.push(c);
            }
            Some(Err(mut e)) => {
                e.index = owner;
                e.message = format!("piece {} of {total}: {}", k + 1, e.message);
                return Err(e);
            }
            None => {
                return Err(ItemError::new(
                    owner,
                    ItemCode::Client,
                    format!("piece {} of {total} has no result", k + 1),
                    0,
                    true,
                ))
            }
        }
    }
    let counted = items.iter().all(|i| i.counted);
    let weights: Vec<f64> = items
        .iter()
        .zip(&chars)
        .map(|(i, &c)| if counted { i.tokens } else { c }.max(1) as f64)
        .collect();
    let vectors: Vec<&[f32]> = items.iter().map(|i| i.vector.as_slice()).collect();
    let mut vector = weighted_mean(&vectors, &weights);
    if request.normalize {
        math::l2_normalize(&mut vector);
    }
    let typed = TypedEmbeddings::from_floats(std::slice::from_ref(&vector), &request.output_types);
    Ok(Item {
        vector,
        tokens: items.iter().map(|i| i.tokens).sum(),
        counted,
        typed,
        cached: false,
    })
}

impl Inner {
    /// One call with its retries; one result per text.
    async fn run_batch(
        &self,
        batch: Vec<Pending>,
        template: &EmbedRequest,
        first: super::limiter::Permit,
    ) -> Vec<Result<Item, ItemError>> {
        let mut texts: Vec<String> = batch.iter().map(|(_, t, _)| t.clone()).collect();
        let mut permit = Some(first);
        let mut attempt = 0u32;
        let mut other_failures = 0u32;
        let mut shrinks = 0u32;
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
            let e = match outcome {
                Ok(answer) => {
                    self.limiter.on_success(started.elapsed());
                    return self.deliver(&batch, answer, template);
                }
                Err(e) => e,
            };
            if e.is_throttle() {
                self.limiter.on_throttle();
                self.accounting.throttle();
            }
            // Titan counts tokens only on the service: cut the text in
            // proportion and try again (not a retry of a fault).
            if shrinks < 4 && self.shrink(&mut texts, &e) {
                shrinks += 1;
                attempt -= 1;
                continue;
            }
            if !e.is_throttle() {
                other_failures += 1;
            }
            let policy = &self.settings.retry;
            let exhausted = other_failures >= policy.max_attempts
                || attempt >= policy.max_throttled_attempts.max(policy.max_attempts);
            if !e.retryable() || exhausted {
                self.accounting.items(0, batch.len());
                return batch
                    .iter()
                    .map(|(i, _, _)| Err(ItemError::of_call(*i, &e, attempt)))
                    .collect();
            }
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
    }

    /// With truncation on, a lone text the service counted too many tokens
    /// in is cut to the share of characters that fits (with 5% to spare).
    fn shrink(&self, texts: &mut [String], e: &CallError) -> bool {
        let CallError::Service { message, .. } = e else {
            return false;
        };
        let Some(over) = crate::TokenOverflow::parse(message) else {
            return false;
        };
        if self.settings.over_long != OverLong::Truncate || over.count <= over.max {
            return false;
        }
        let [text] = texts else { return false };
        let chars = text.chars().count();
        let keep = (chars as f64 * over.max as f64 / over.count as f64 * 0.95) as usize;
        *text = text.chars().take(keep.max(1)).collect();
        true
    }

    /// The items of a successful call, counted and cached.
    fn deliver(
        &self,
        batch: &[Pending],
        (response, tokens, counted): (EmbedResponse, CallTokens, bool),
        template: &EmbedRequest,
    ) -> Vec<Result<Item, ItemError>> {
        self.accounting.call(tokens);
        self.accounting.items(batch.len(), 0);
        batch
            .iter()
            .enumerate()
            .map(|(k, (_, _, key))| {
                let item = Item {
                    vector: response.vectors.get(k).cloned().unwrap_or_default(),
                    tokens: response.tokens.get(k).copied().unwrap_or(0),
                    counted,
                    typed: keep_types(row(&response.typed, k), &template.output_types),
                    cached: false,
                };
                if let (Some(cache), Some(key)) = (&self.cache, key) {
                    // A cache that cannot be written costs money later, not results now.
                    let _ = cache.put(key, &Entry::of(&item));
                }
                Ok(item)
            })
            .collect()
    }

    /// One `InvokeModel` request: the response, the call's token counts, and
    /// whether the body counted each text alone.
    async fn call(
        &self,
        texts: &[String],
        template: &EmbedRequest,
    ) -> Result<(EmbedResponse, CallTokens, bool), CallError> {
        let mut req = template.clone();
        req.texts = texts.to_vec();
        let options =
            codec::EncodeOptions::truncating(self.settings.over_long == OverLong::Truncate);
        let body = codec::encode_request_with(self.family, &req, options).map_err(|e| {
            CallError::Service {
                kind: Some(e.kind),
                code: e.kind.name().into(),
                message: e.message,
                status: 0,
            }
        })?;
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
        let out = sent.map_err(call_error)?;
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
        let counted = decoded.tokens.is_some();
        let response = decoded.into_response(&self.model_id, header, texts);
        let tokens = CallTokens {
            body: body_tokens,
            header,
        };
        Ok((response, tokens, counted))
    }
}

/// The SDK's error as a [`CallError`].
fn call_error(
    e: SdkError<
        aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> CallError {
    match e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let err = se.err();
            let code = err.code().unwrap_or("UnknownError").to_string();
            CallError::Service {
                kind: ErrorKind::from_name(&code),
                message: err.message().unwrap_or_default().to_string(),
                code,
                status,
            }
        }
        e @ SdkError::ConstructionFailure(_) => {
            CallError::Local(DisplayErrorContext(&e).to_string())
        }
        e => CallError::Transport(DisplayErrorContext(&e).to_string()),
    }
}

/// Only the forms that were asked for (a Titan body's bits fill both packed forms).
fn keep_types(mut t: TypedEmbeddings, wanted: &[OutputType]) -> TypedEmbeddings {
    if !wanted.contains(&OutputType::Int8) {
        t.int8 = None;
    }
    if !wanted.contains(&OutputType::Uint8) {
        t.uint8 = None;
    }
    if !wanted.contains(&OutputType::Binary) {
        t.binary = None;
    }
    if !wanted.contains(&OutputType::Ubinary) {
        t.ubinary = None;
    }
    t
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
                Err(e) if e.code == ItemCode::InputTooLong => {
                    let text = request.texts.get(e.index).map_or("", String::as_str);
                    let chars = text.chars().count();
                    return Err(match self.max_text_chars() {
                        Some(max) if chars > max => Error::InputTooLong {
                            model: self.inner.model_id.clone(),
                            index: e.index,
                            length: chars,
                            max,
                            unit: "characters",
                        },
                        _ => e.into(),
                    });
                }
                Err(e) => return Err(e.into()),
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

    fn facts(&self) -> ModelFacts {
        ModelFacts::from_info(
            self.inner.model_id.clone(),
            self.inner.info.unwrap_or(self.inner.limits),
        )
    }

    fn usage(&self) -> Usage {
        self.totals().usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_weighed_by_their_own_size() {
        let piece = |v: Vec<f32>, tokens: usize, counted: bool| Item {
            vector: v,
            tokens,
            counted,
            typed: TypedEmbeddings::default(),
            cached: false,
        };
        let request = EmbedRequest::new(["x"]).with_normalize(false);
        // Cohere-like: the first piece carries the call's share by characters only.
        let got = combine(
            0,
            vec![
                (Some(Ok(piece(vec![1.0, 0.0], 30, false))), 100),
                (Some(Ok(piece(vec![0.0, 1.0], 10, false))), 300),
            ],
            &request,
        )
        .unwrap();
        assert_eq!(got.vector, vec![0.25, 0.75]);
        assert_eq!(got.tokens, 40);
        // Titan-like: each piece counted alone, so tokens weigh.
        let got = combine(
            0,
            vec![
                (Some(Ok(piece(vec![1.0, 0.0], 30, true))), 100),
                (Some(Ok(piece(vec![0.0, 1.0], 10, true))), 300),
            ],
            &request,
        )
        .unwrap();
        assert_eq!(got.vector, vec![0.75, 0.25]);
        let failed = combine(0, vec![(None, 3)], &request).unwrap_err();
        assert_eq!(failed.code, ItemCode::Client);
    }

    #[test]
    fn chunks_cover_the_text() {
        let text = "alpha beta gamma delta ".repeat(40);
        let pieces = chunk_text(&text, 50);
        assert!(pieces.iter().all(|p| p.chars().count() <= 50));
        assert_eq!(pieces.concat(), text);
        assert_eq!(chunk_text("", 5), Vec::<String>::new());
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

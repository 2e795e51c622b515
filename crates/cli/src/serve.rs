//! `embedrock serve`: a Bedrock-compatible embedding server on local models.
//!
//! With no flags it serves every Bedrock embedding model id of the catalogue
//! from the local default model on 127.0.0.1, without auth, and prints the
//! address it listens on (`--port 0` picks a free port).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use embedrock_core::DynEmbedder;
use embedrock_server::memory::MemoryApi;
use embedrock_server::{AppState, AuthMode, FaultConfig, Listening, ServerConfig, Tls};

/// Options of `embedrock serve`.
#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    /// The address to listen on. Anything but loopback should have --auth.
    #[arg(long, default_value = "127.0.0.1", env = "EMBEDROCK_HOST")]
    pub host: String,
    /// The port; 0 picks a free one.
    #[arg(long, default_value_t = 8765, env = "EMBEDROCK_PORT")]
    pub port: u16,
    /// A YAML configuration file (model routes, limits, auth, faults, TLS).
    #[arg(long, env = "EMBEDROCK_SERVE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The local model that answers every Bedrock embedding id.
    #[arg(long)]
    pub model: Option<String>,
    /// Who may call: none, sigv4, bearer (Bedrock API keys) or any.
    #[arg(long)]
    pub auth: Option<AuthMode>,
    /// A SigV4 credential as ACCESS_KEY_ID:SECRET (repeatable).
    #[arg(
        long = "credential",
        env = "EMBEDROCK_CREDENTIALS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub credentials: Vec<String>,
    /// An accepted Bedrock API key (repeatable).
    #[arg(
        long = "api-key",
        env = "EMBEDROCK_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,
    /// A fault to inject, key=value: latency=50ms | 10ms..200ms | exp:40ms,
    /// rpm=N, tpm=N, error-rate=0.1, unavailable-share=0.5, not-ready=30s,
    /// timeout-above-tokens=N, seed=N (repeatable, or comma separated).
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Refuse dimensions the local model cannot produce natively, rather than
    /// zero-padding or truncating.
    #[arg(long)]
    pub strict_dimensions: bool,
    /// CPU threads of each local model, 1 to 256 (default: every core).
    #[arg(long, env = "EMBEDROCK_THREADS", value_parser = crate::ranged::<1, { crate::MAX_THREADS }>)]
    pub threads: Option<usize>,
    /// The dense layers' arithmetic of the local models: fp32 (default),
    /// int8 or bf16; overrides the config file's `precision`. Default:
    /// $EMBEDROCK_PRECISION, else fp32.
    #[arg(long, value_parser = crate::open::parse_precision)]
    pub precision: Option<embedrock_local::Precision>,
    /// Serve HTTPS, with --tls-cert/--tls-key or else a fresh self-signed
    /// certificate for localhost and 127.0.0.1.
    #[arg(long)]
    pub tls: bool,
    /// PEM certificate chain for HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where to write the self-signed certificate, for clients to trust
    /// (boto3: AWS_CA_BUNDLE).
    #[arg(long)]
    pub tls_cert_out: Option<PathBuf>,
    /// No access log on standard error.
    #[arg(long)]
    pub no_access_log: bool,
    /// The memory store behind `/v1/memory/` and mem0's routes:
    /// `sqlite://PATH` or a file path (default: the memory commands' store,
    /// `$XDG_DATA_HOME/embedrock/store.db`).
    #[arg(long, env = "EMBEDROCK_STORE")]
    pub store: Option<String>,
    /// The local model the memory API embeds with (default: the served
    /// default model).
    #[arg(long)]
    pub memory_model: Option<String>,
    /// The collection mem0's routes use.
    #[arg(long, default_value = embedrock_server::memory::DEFAULT_COLLECTION)]
    pub memory_collection: String,
    /// Serve no memory API and open no store (wins over --store and
    /// EMBEDROCK_STORE).
    #[arg(long)]
    pub no_memory: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Bounds on the server's work; each overrides the configuration file's key
/// of the same name (docs/server.md, "Limits and timeouts").
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LimitArgs {
    /// A region accepted in SigV4 credential scopes besides the server's own
    /// (repeatable).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Texts being embedded at once over all requests; beyond it requests are
    /// refused with a throttling error (0: no limit).
    #[arg(long)]
    pub max_in_flight_texts: Option<usize>,
    /// Characters over all texts of one request.
    #[arg(long)]
    pub max_request_chars: Option<usize>,
    /// Seconds to receive a request's headers (and the keep-alive wait).
    #[arg(long)]
    pub header_timeout: Option<f64>,
    /// Seconds to receive a request's body.
    #[arg(long)]
    pub body_timeout: Option<f64>,
    /// Seconds a connection may sit idle.
    #[arg(long)]
    pub idle_timeout: Option<f64>,
    /// Open connections at most; more are closed at once.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Seconds requests in flight get after SIGINT/SIGTERM before every
    /// connection is dropped.
    #[arg(long)]
    pub shutdown_timeout: Option<f64>,
}

impl LimitArgs {
    fn apply(&self, config: &mut ServerConfig) {
        config.regions.extend(self.regions.iter().cloned());
        let set = |target: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *target = v;
            }
        };
        set(&mut config.max_in_flight_texts, self.max_in_flight_texts);
        set(&mut config.max_request_chars, self.max_request_chars);
        set(&mut config.max_connections, self.max_connections);
        let secs = |target: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *target = v;
            }
        };
        secs(&mut config.header_timeout_secs, self.header_timeout);
        secs(&mut config.body_timeout_secs, self.body_timeout);
        secs(&mut config.idle_timeout_secs, self.idle_timeout);
        secs(&mut config.shutdown_timeout_secs, self.shutdown_timeout);
    }
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("config", &self.config)
            .field("auth", &self.auth)
            .field(
                "credentials",
                &format_args!("[{} redacted]", self.credentials.len()),
            )
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .field("faults", &self.faults)
            .field(
                "store",
                &self.store.as_deref().map(embedrock_core::util::redact_url),
            )
            .finish()
    }
}

fn build_config(args: &ServeArgs) -> Result<ServerConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            ServerConfig::from_yaml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => ServerConfig::default(),
    };
    if let Some(model) = &args.model {
        config.default_backend = Some(model.clone());
    }
    if let Some(mode) = &args.auth {
        config.auth.mode = mode.clone();
    }
    for c in &args.credentials {
        let (id, secret) = c
            .split_once(':')
            .context("--credential takes ACCESS_KEY_ID:SECRET")?;
        config
            .auth
            .credentials
            .insert(id.to_string(), secret.to_string());
    }
    config.auth.api_keys.extend(args.api_keys.iter().cloned());
    if !args.faults.is_empty() {
        let mut faults = FaultConfig::parse_spec(&args.faults).map_err(anyhow::Error::msg)?;
        if faults == FaultConfig::default() {
            faults = config.faults.clone();
        }
        config.faults = faults;
    }
    if let Some(p) = args.precision {
        config.precision = Some(p.to_string());
    }
    config.strict_dimensions |= args.strict_dimensions;
    config.access_log &= !args.no_access_log;
    args.limits.apply(&mut config);
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("server settings: {e}"))?;
    match config.auth.mode {
        AuthMode::Sigv4 if config.auth.credentials.is_empty() => {
            bail!("--auth sigv4 needs at least one --credential ACCESS_KEY_ID:SECRET")
        }
        AuthMode::Bearer if config.auth.api_keys.is_empty() => {
            bail!("--auth bearer needs at least one --api-key")
        }
        _ => {}
    }
    Ok(config)
}

fn tls_settings(args: &ServeArgs, config: &ServerConfig) -> Result<Option<Tls>> {
    let file = config.tls.clone().unwrap_or_default();
    let cert = args.tls_cert.clone().or(file.cert);
    let key = args.tls_key.clone().or(file.key);
    if !args.tls && config.tls.is_none() {
        return Ok(None);
    }
    let tls = match (cert, key) {
        (Some(c), Some(k)) => {
            Tls::from_files(&c, &k).context("reading the TLS certificate and key")?
        }
        _ => {
            let tls = Tls::self_signed().map_err(anyhow::Error::msg)?;
            if let Some(out) = args.tls_cert_out.clone().or(file.self_signed_cert_out) {
                tls.write_cert(&out)
                    .with_context(|| format!("writing {}", out.display()))?;
                eprintln!("self-signed certificate written to {}", out.display());
            }
            tls
        }
    };
    Ok(Some(tls))
}

/// The memory API: the store `--store` names (else the memory commands'
/// default) and the memory model, reusing a served model's embedder. With
/// no `--store` and no default location (no `HOME`), the server runs
/// without a memory API and says so.
async fn open_memory(
    args: &ServeArgs,
    config: &ServerConfig,
    backends: &[(String, DynEmbedder)],
    settings: &crate::open::OpenSettings,
) -> Result<Option<MemoryApi>> {
    if args.no_memory {
        return Ok(None);
    }
    let name_len = args.memory_collection.len();
    if !(1..=embedrock_store::MAX_ID_BYTES).contains(&name_len) {
        bail!(
            "--memory-collection must be 1 to {} bytes",
            embedrock_store::MAX_ID_BYTES
        );
    }
    let store = match crate::memory::open_store_at(args.store.as_deref()) {
        Ok(s) => s,
        Err(e) if args.store.is_none() => {
            eprintln!("warning: no memory API: {e:#} (give --store)");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let model = args
        .memory_model
        .clone()
        .or_else(|| config.default_backend.clone())
        .unwrap_or_else(|| embedrock_core::Catalogue::LOCAL_DEFAULT.to_string());
    if crate::open::is_bedrock(&model, &settings.bedrock) {
        bail!(
            "{model} is an Amazon Bedrock model; the memory API of serve embeds with local models"
        );
    }
    let embedder = match backends.iter().find(|(n, _)| *n == model) {
        Some((_, e)) => e.clone(),
        None => crate::open::open_embedder(&model, settings)
            .await
            .with_context(|| format!("opening local model {model}"))?,
    };
    let memory = embedrock_store::Memory::new(store, embedder, None)?;
    eprintln!(
        "memory API: store {}, model {model}, mem0 collection {:?}",
        args.store.as_deref().map_or_else(
            || "the default file".to_string(),
            embedrock_core::util::redact_url
        ),
        args.memory_collection
    );
    Ok(Some(MemoryApi::with_collection(
        memory,
        args.memory_collection.clone(),
    )))
}

/// Runs the server until SIGINT or SIGTERM; requests in flight finish first.
pub async fn run(args: ServeArgs) -> Result<()> {
    let config = build_config(&args)?;
    let tls = tls_settings(&args, &config)?;
    let names = config.backend_names();
    let settings = crate::open::OpenSettings {
        batch_size: 32,
        threads: args.threads.unwrap_or_else(crate::default_threads),
        bedrock: Default::default(),
        quiet: true,
        precision: config
            .precision
            .as_deref()
            .map(crate::open::parse_precision)
            .transpose()
            .map_err(anyhow::Error::msg)?,
    };
    let mut backends: Vec<(String, DynEmbedder)> = Vec::new();
    for name in names {
        if crate::open::is_bedrock(&name, &settings.bedrock) {
            bail!("{name} is an Amazon Bedrock model; serve answers with local models");
        }
        let embedder = crate::open::open_embedder(&name, &settings)
            .await
            .with_context(|| format!("opening local model {name}"))?;
        backends.push((name, embedder));
    }
    let models = config
        .build_models(|name| {
            backends
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, e)| e.clone())
                .ok_or_else(|| format!("no backend {name}"))
        })
        .map_err(anyhow::Error::msg)?;
    let memory = open_memory(&args, &config, &backends, &settings).await?;
    let listening = Listening::bind(&args.host, args.port)
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    if !listening.addr.ip().is_loopback() && config.auth.mode == AuthMode::None {
        eprintln!(
            "warning: listening on {} without auth; anyone who can reach it can use it (see --auth)",
            listening.addr
        );
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let shown_host = if listening.addr.is_ipv6() {
        format!("[{}]", listening.addr.ip())
    } else {
        listening.addr.ip().to_string()
    };
    println!(
        "embedrock serve listening on {scheme}://{shown_host}:{} ({} model ids, auth {:?})",
        listening.addr.port(),
        models.routes().len(),
        config.auth.mode,
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let limits = config.connection_limits();
    let app = embedrock_server::router(AppState::with_memory(models, config, memory));
    embedrock_server::serve_with(
        listening,
        app,
        tls,
        limits,
        embedrock_server::shutdown_signal(),
    )
    .await
    .context("serving")?;
    eprintln!("embedrock serve stopped");
    Ok(())
}

//! The memory commands: `add`, `search`, `get`, `list`, `update`, `delete`,
//! `history` and `collections`, over the embedded store.
//!
//! The store is `--store` (`sqlite://PATH`, a path, or `postgres://...`;
//! `$EMBEDROCK_STORE`),
//! by default `$XDG_DATA_HOME/embedrock/store.db`. A command with no
//! `--model` uses the model the collection was made with, or the local
//! default for a new collection.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use embedrock_core::Catalogue;
use embedrock_store::{
    Filter, Hit, IngestEvent, IngestOptions, Item, Memory, Outcome, Page, Record, Scope,
    SearchPath, Source, SourceReport, VectorStore, MAX_PAGE,
};
use serde_json::{json, Map, Value};

use crate::open::OpenSettings;
pub(crate) use embedrock_cli::stores::open_store_at;

/// Where the store is and which collection to use.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// The store: `sqlite://PATH`, a file path, or
    /// `postgres://user:password@host:port/database` (PostgreSQL + pgvector;
    /// default: `$XDG_DATA_HOME/embedrock/store.db`, else `~/.local/share/embedrock/store.db`).
    #[arg(long, env = "EMBEDROCK_STORE")]
    pub store: Option<String>,
    /// The collection.
    #[arg(long, short, default_value = "memories")]
    pub collection: String,
}

/// mem0's scopes.
#[derive(Args, Clone, Debug, Default)]
pub struct ScopeArgs {
    /// The user the memories are about.
    #[arg(long)]
    pub user_id: Option<String>,
    /// The agent that holds them.
    #[arg(long)]
    pub agent_id: Option<String>,
    /// The run (session) they come from.
    #[arg(long)]
    pub run_id: Option<String>,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        Scope {
            user_id: self.user_id.clone(),
            agent_id: self.agent_id.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

/// The embedder a command uses.
#[derive(Args, Clone, Debug)]
pub struct EmbedderArgs {
    /// The model (default: the collection's own, else the local default).
    #[arg(long, short, env = "EMBEDROCK_MODEL")]
    pub model: Option<String>,
    /// Output dimensions (default: the collection's own, else the model's).
    #[arg(long, short)]
    pub dimensions: Option<usize>,
    /// CPU threads for a local model, 1 to 256 (default: every core).
    #[arg(long, env = "EMBEDROCK_THREADS", value_parser = crate::ranged::<1, { crate::MAX_THREADS }>)]
    pub threads: Option<usize>,
    /// The dense layers' arithmetic of a local model: fp32 (default), int8
    /// or bf16. int8 vectors are close to fp32's (cosine ~0.997), so a
    /// collection may mix them. Default: $EMBEDROCK_PRECISION, else fp32.
    #[arg(long, value_parser = crate::open::parse_precision)]
    pub precision: Option<embedrock_local::Precision>,
    #[command(flatten)]
    pub bedrock: crate::bedrock::BedrockArgs,
}

/// `embedrock add`.
#[derive(Args)]
pub struct AddArgs {
    /// Texts to add. Without them, texts come from --input.
    pub texts: Vec<String>,
    /// A file of texts: one per line, or `.jsonl` with `text` and optional
    /// `metadata` per line.
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// JSON object of metadata for every text added.
    #[arg(long)]
    pub metadata: Option<String>,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub embedder: EmbedderArgs,
}

/// `embedrock add --file/--url`: documents cut into chunks.
#[derive(Args, Clone, Debug, Default)]
pub struct IngestArgs {
    /// A file (txt, md, html) or a directory, cut into chunks (repeatable;
    /// files are read before URLs).
    #[arg(long, conflicts_with_all = ["texts", "input"])]
    pub file: Vec<PathBuf>,
    /// An http(s) URL to fetch and cut into chunks (repeatable).
    #[arg(long, conflicts_with_all = ["texts", "input"])]
    pub url: Vec<String>,
    /// Which files of a --file directory, e.g. `**/*.md` (default: every
    /// txt, md and html file).
    #[arg(long, requires = "file")]
    pub glob: Option<String>,
    /// Tokens per chunk (default: the model's limit, at most 512).
    #[arg(long, value_parser = crate::ranged::<1, 1_000_000>)]
    pub chunk_tokens: Option<usize>,
    /// Tokens each chunk repeats from the one before (default: an eighth of
    /// the chunk size).
    #[arg(long, value_parser = crate::ranged::<0, 1_000_000>)]
    pub chunk_overlap: Option<usize>,
    /// Stop at the first file or URL that fails.
    #[arg(long)]
    pub stop_on_error: bool,
}

impl IngestArgs {
    fn sources(&self) -> Vec<Source> {
        let files = self.file.iter().map(|path| Source::Path {
            path: path.clone(),
            glob: self.glob.clone(),
        });
        files
            .chain(self.url.iter().cloned().map(Source::Url))
            .collect()
    }
}

/// How search results are printed.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SearchOutput {
    /// `{"results": [{"id", "score", "text", "metadata", ...}]}`.
    Json,
    /// A table for people.
    Table,
}

/// `embedrock search`.
#[derive(Args)]
pub struct SearchArgs {
    /// What to look for.
    pub query: String,
    /// A filter in mem0's language, as JSON (`{"topic": {"in": ["a", "b"]}}`).
    #[arg(long)]
    pub filter: Option<String>,
    /// How many results at most (1 to 10000).
    #[arg(long, short = 'k', default_value_t = 10, value_parser = crate::ranged::<1, MAX_PAGE>)]
    pub limit: usize,
    /// Leave out results scoring below this.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = SearchOutput::Table)]
    pub output: SearchOutput,
    /// How to search: `auto` picks by collection size and filter; `exact`
    /// scores every vector; `int8` and `binary` scan quantised vectors and
    /// rescore the best; `approximate` uses the HNSW index (built on first
    /// use and saved beside the store).
    #[arg(long, default_value = "auto", value_parser = parse_search_path)]
    pub search_path: SearchPath,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub embedder: EmbedderArgs,
}

fn parse_search_path(s: &str) -> std::result::Result<SearchPath, String> {
    SearchPath::parse(s).ok_or_else(|| {
        format!("{s:?} is not a search path: auto, exact, int8, binary or approximate")
    })
}

/// `embedrock get`, `delete`, `history`: one record by id.
#[derive(Args)]
pub struct IdArgs {
    /// The record's id.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `embedrock list`.
#[derive(Args)]
pub struct ListArgs {
    /// A filter in mem0's language, as JSON.
    #[arg(long)]
    pub filter: Option<String>,
    /// Records to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Records per page (1 to 10000).
    #[arg(long, default_value_t = 100, value_parser = crate::ranged::<1, MAX_PAGE>)]
    pub limit: usize,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `embedrock update`.
#[derive(Args)]
pub struct UpdateArgs {
    /// The record's id.
    pub id: String,
    /// The new text (re-embedded; the old text goes to the history).
    pub text: Option<String>,
    /// New metadata, a JSON object replacing the old.
    #[arg(long)]
    pub metadata: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub embedder: EmbedderArgs,
}

/// `embedrock delete`.
#[derive(Args)]
pub struct DeleteArgs {
    /// The record's id; without it, every record of the given scope.
    pub id: Option<String>,
    /// Delete every record of the scope (needs --user-id, --agent-id or --run-id).
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `embedrock reembed`.
#[derive(Args)]
pub struct ReembedArgs {
    /// Abandon the re-embed in progress instead (the collection stays as it is).
    #[arg(long)]
    pub abort: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub embedder: EmbedderArgs,
}

fn open_store(args: &StoreArgs) -> Result<Arc<dyn VectorStore>> {
    open_store_at(args.store.as_deref())
}

/// Pairs the store with the model the flags name, else the collection's own.
async fn open_memory(
    store: Arc<dyn VectorStore>,
    collection: &str,
    args: &EmbedderArgs,
    quiet: bool,
) -> Result<Memory> {
    let existing = store.collection(collection).await?;
    let model = args
        .model
        .clone()
        .or_else(|| existing.as_ref().map(|c| c.identity.model.clone()))
        .unwrap_or_else(|| Catalogue::LOCAL_DEFAULT.to_string());
    let dimensions = args
        .dimensions
        .or_else(|| existing.as_ref().map(|c| c.identity.dimensions));
    memory_for(store, &model, dimensions, args, quiet).await
}

/// Pairs the store with `model` at `dimensions` (the model's default when
/// `None`).
async fn memory_for(
    store: Arc<dyn VectorStore>,
    model: &str,
    dimensions: Option<usize>,
    args: &EmbedderArgs,
    quiet: bool,
) -> Result<Memory> {
    let resolved = crate::bedrock::resolve(&args.bedrock, Some(model), dimensions)?;
    let settings = OpenSettings {
        batch_size: 32,
        threads: args.threads.unwrap_or_else(crate::default_threads),
        bedrock: resolved.settings.clone(),
        quiet,
        precision: args.precision,
    };
    let embedder = crate::open::open_embedder(model, &settings).await?;
    let native = embedder.facts().default_dimensions;
    Ok(Memory::new(
        store,
        embedder,
        dimensions.filter(|d| *d != native),
    )?)
}

fn parse_object(text: Option<&str>, what: &str) -> Result<Option<Map<String, Value>>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => bail!("{what} must be a JSON object"),
        Err(e) => bail!("{what} is not valid JSON: {e}"),
    }
}

fn parse_filter(text: Option<&str>) -> Result<Filter> {
    Ok(match text {
        Some(t) => Filter::from_json_str(t)?,
        None => Filter::All,
    })
}

/// Texts to add, from the arguments or a file (plain lines or JSON Lines
/// with `text` and optional `metadata`).
fn read_items(args: &AddArgs, common: &Map<String, Value>) -> Result<Vec<Item>> {
    let with = |text: String, extra: Map<String, Value>| {
        let mut metadata = common.clone();
        metadata.extend(extra);
        Item {
            text,
            metadata,
            origin: None,
        }
    };
    let Some(path) = &args.input else {
        if args.texts.is_empty() {
            bail!(
                "nothing to add: give texts as arguments, --input FILE, --file PATH or --url URL"
            );
        }
        return Ok(args
            .texts
            .iter()
            .map(|t| with(t.clone(), Map::new()))
            .collect());
    };
    if !args.texts.is_empty() {
        bail!("give texts either as arguments or with --input, not both");
    }
    let jsonl = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "ndjson");
    if !jsonl {
        let texts = crate::input::read_texts(&[], Some(path))?;
        return Ok(texts
            .into_iter()
            .map(|t| with(t.text, Map::new()))
            .collect());
    }
    read_jsonl_items(path, &with)
}

fn read_jsonl_items(
    path: &Path,
    with: &dyn Fn(String, Map<String, Value>) -> Item,
) -> Result<Vec<Item>> {
    let bytes = crate::input::read_file(path)?;
    let text =
        String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    let mut items = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{} line {}", path.display(), n + 1);
        let value: Value = serde_json::from_str(line).with_context(at)?;
        let Some(text) = value.get("text").and_then(Value::as_str) else {
            bail!("{}: no \"text\" string", at());
        };
        let metadata = match value.get("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => bail!("{}: \"metadata\" must be an object", at()),
        };
        items.push(with(text.to_string(), metadata));
    }
    if items.is_empty() {
        bail!("no input: {} holds no texts", path.display());
    }
    Ok(items)
}

/// `embedrock add`: prints the new ids, one JSON object per line.
pub async fn add(args: AddArgs, quiet: bool) -> Result<()> {
    let common = parse_object(args.metadata.as_deref(), "--metadata")?.unwrap_or_default();
    if !args.ingest.file.is_empty() || !args.ingest.url.is_empty() {
        return ingest(args, common, quiet).await;
    }
    if args.ingest.chunk_tokens.is_some() || args.ingest.chunk_overlap.is_some() {
        bail!("--chunk-tokens and --chunk-overlap apply to --file and --url");
    }
    let items = read_items(&args, &common)?;
    let scope = args.scope.scope();
    scope.check_for_add()?;
    let store = open_store(&args.store)?;
    let memory = open_memory(store, &args.store.collection, &args.embedder, quiet).await?;
    let total = items.len();
    let bar = crate::progress::items(total as u64, "adding", crate::progress::enabled(quiet));
    let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
    // Each batch's ids are printed as soon as it is committed, so a run cut
    // short has printed exactly the records it stored.
    let printed = std::sync::Mutex::new(Ok::<usize, std::io::Error>(0));
    let acknowledge = |ids: &[String]| {
        let mut printed = printed.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(done) = *printed {
            let mut out = std::io::stdout().lock();
            let wrote = ids
                .iter()
                .zip(&texts[done..])
                .try_for_each(|(id, text)| {
                    writeln!(out, "{}", json!({"id": id, "memory": text, "event": "ADD"}))
                })
                .and_then(|()| out.flush());
            *printed = wrote.map(|()| done + ids.len());
            bar.set_position((done + ids.len()) as u64);
        }
    };
    let added = memory
        .add_acknowledged(&args.store.collection, &scope, items, &acknowledge)
        .await;
    bar.finish_and_clear();
    let printed = printed.into_inner().unwrap_or_else(|e| e.into_inner());
    added?;
    let n = printed.context("writing the new ids")?;
    if !quiet {
        eprintln!(
            "added {n} texts to {} ({})",
            args.store.collection,
            memory.identity()
        );
    }
    Ok(())
}

/// `embedrock add --file/--url`: one JSON line per file or URL (`added`
/// with its ids, `duplicate`, `failed` with its error), a summary on
/// standard error, and an error naming every source that failed.
async fn ingest(args: AddArgs, metadata: Map<String, Value>, quiet: bool) -> Result<()> {
    let scope = args.scope.scope();
    scope.check_for_add()?;
    let sources = args.ingest.sources();
    let store = open_store(&args.store)?;
    let memory = open_memory(store, &args.store.collection, &args.embedder, quiet).await?;
    let options = IngestOptions {
        chunk_tokens: args.ingest.chunk_tokens,
        chunk_overlap: args.ingest.chunk_overlap,
        metadata,
        stop_on_error: args.ingest.stop_on_error,
        ..IngestOptions::default()
    };
    let bar = ingest_bar(crate::progress::enabled(quiet));
    let out = std::sync::Mutex::new(std::io::stdout());
    let on_event = |event: &IngestEvent| match event {
        IngestEvent::Planned { sources } => bar.set_length(*sources as u64),
        IngestEvent::Chunked { source, chunks } => {
            bar.set_message(format!("{source}: {chunks} chunks"))
        }
        IngestEvent::Stored { .. } => {}
        IngestEvent::Done(report) => {
            bar.inc(1);
            if let Ok(mut out) = out.lock() {
                let _ = writeln!(out, "{}", json!(report));
            }
        }
    };
    let reports = memory
        .ingest(
            &args.store.collection,
            &scope,
            &sources,
            &options,
            &on_event,
        )
        .await?;
    bar.finish_and_clear();
    summarize(&reports, &args.store.collection, quiet)
}

fn ingest_bar(show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} sources {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// The closing line, and an error naming the sources that failed.
fn summarize(reports: &[SourceReport], collection: &str, quiet: bool) -> Result<()> {
    let (mut chunks, mut added, mut present, mut replaced) = (0, 0, 0, 0);
    let mut failed = Vec::new();
    for r in reports {
        match &r.outcome {
            Outcome::Added { ids, replaced: n } => {
                added += 1;
                chunks += ids.len();
                replaced += n;
            }
            Outcome::Duplicate { chunks } => {
                present += 1;
                if !quiet {
                    eprintln!("{}: already present ({chunks} chunks)", r.source);
                }
            }
            Outcome::Failed { error, .. } if error.contains(&r.source) => {
                eprintln!("{error}");
                failed.push(r.source.as_str());
            }
            Outcome::Failed { error, .. } => {
                eprintln!("{}: {error}", r.source);
                failed.push(r.source.as_str());
            }
            Outcome::NotAttempted => failed.push(r.source.as_str()),
        }
    }
    if !quiet {
        eprintln!(
            "{} sources: {added} added ({chunks} chunks, {replaced} old chunks replaced), \
             {present} already present, {} failed, into {collection}",
            reports.len(),
            failed.len()
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} sources failed: {}",
            failed.len(),
            reports.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn hit_json(hit: &Hit) -> Value {
    let mut v = record_json(&hit.record);
    v["score"] = json!(hit.score);
    v
}

fn record_json(r: &Record) -> Value {
    let mut v = json!({
        "id": r.id,
        "memory": r.text,
        "text": r.text,
        "metadata": r.metadata,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    });
    for (field, value) in r.scope.pairs() {
        v[field] = json!(value);
    }
    if let Some(origin) = &r.origin {
        v["origin"] = json!(origin);
    }
    v
}

/// `embedrock search`.
pub async fn search(args: SearchArgs, quiet: bool) -> Result<()> {
    let filter = parse_filter(args.filter.as_deref())?;
    let store = open_store(&args.store)?;
    let memory = open_memory(store, &args.store.collection, &args.embedder, quiet)
        .await?
        .with_search_path(args.search_path);
    let hits = memory
        .search(
            &args.store.collection,
            &args.query,
            &args.scope.scope(),
            filter,
            args.limit,
            args.threshold,
        )
        .await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        SearchOutput::Json => {
            let results: Vec<Value> = hits.iter().map(hit_json).collect();
            writeln!(out, "{}", json!({"results": results}))?;
        }
        SearchOutput::Table => {
            for (rank, hit) in hits.iter().enumerate() {
                writeln!(
                    out,
                    "{:>3}  {:.4}  {}  {}",
                    rank + 1,
                    hit.score,
                    hit.record.id,
                    crate::label(&hit.record.text, 80).trim_end()
                )?;
            }
        }
    }
    Ok(())
}

/// `embedrock get`.
pub async fn get(args: IdArgs) -> Result<()> {
    let store = open_store(&args.store)?;
    match store.get(&args.store.collection, &args.id).await? {
        Some(r) => {
            println!("{}", record_json(&r));
            Ok(())
        }
        None => bail!(
            "no record {} in collection {}",
            args.id,
            args.store.collection
        ),
    }
}

/// `embedrock list`: one JSON object per record.
pub async fn list(args: ListArgs) -> Result<()> {
    let filter = embedrock_store::scope_filter(&args.scope.scope())
        .and(parse_filter(args.filter.as_deref())?);
    let store = open_store(&args.store)?;
    let page = Page {
        offset: args.offset,
        limit: args.limit,
    };
    let records = store.list(&args.store.collection, &filter, page).await?;
    let mut out = std::io::stdout().lock();
    for r in &records {
        writeln!(out, "{}", record_json(r))?;
    }
    Ok(())
}

/// `embedrock update`.
pub async fn update(args: UpdateArgs, quiet: bool) -> Result<()> {
    let metadata = parse_object(args.metadata.as_deref(), "--metadata")?;
    if args.text.is_none() && metadata.is_none() {
        bail!("nothing to update: give a new text, --metadata, or both");
    }
    let store = open_store(&args.store)?;
    let memory = open_memory(store, &args.store.collection, &args.embedder, quiet).await?;
    let r = memory
        .update(&args.store.collection, &args.id, args.text, metadata)
        .await?;
    println!("{}", record_json(&r));
    Ok(())
}

/// `embedrock delete`.
pub async fn delete(args: DeleteArgs) -> Result<()> {
    let store = open_store(&args.store)?;
    let collection = &args.store.collection;
    match (&args.id, args.all) {
        (Some(id), _) => {
            if !store.delete(collection, id).await? {
                bail!("no record {id} in collection {collection}");
            }
            println!("{}", json!({"deleted": 1}));
        }
        (None, true) => {
            let scope = args.scope.scope();
            if scope.is_empty() {
                bail!("delete --all needs --user-id, --agent-id or --run-id");
            }
            let n = store
                .delete_where(collection, &embedrock_store::scope_filter(&scope))
                .await?;
            println!("{}", json!({"deleted": n}));
        }
        (None, false) => bail!("give the id of a record, or --all with a scope"),
    }
    Ok(())
}

/// `embedrock history`: one JSON object per change, oldest first.
pub async fn history(args: IdArgs) -> Result<()> {
    let store = open_store(&args.store)?;
    let changes = store.history(&args.store.collection, &args.id).await?;
    if changes.is_empty() {
        bail!(
            "no history for {} in collection {}",
            args.id,
            args.store.collection
        );
    }
    let mut out = std::io::stdout().lock();
    for c in &changes {
        writeln!(out, "{}", serde_json::to_string(c)?)?;
    }
    Ok(())
}

/// `embedrock collections`: one JSON object per collection.
pub async fn collections(store: Option<String>) -> Result<()> {
    let args = StoreArgs {
        store,
        collection: String::new(),
    };
    let store = open_store(&args)?;
    let mut out = std::io::stdout().lock();
    for c in store.collections().await? {
        writeln!(out, "{}", serde_json::to_string(&c)?)?;
    }
    Ok(())
}

/// `embedrock reembed`: moves a collection to another model (or dimensions).
/// The collection serves searches with its old vectors until every record
/// has a new one, then switches in one transaction; run again after an
/// interruption, it goes on where it stopped.
pub async fn reembed(args: ReembedArgs, quiet: bool) -> Result<()> {
    let store = open_store(&args.store)?;
    let collection = &args.store.collection;
    let Some(info) = store.collection(collection).await? else {
        bail!("no collection {collection}");
    };
    if args.abort {
        let aborted = store.abort_reembed(collection).await?;
        println!("{}", json!({"collection": collection, "aborted": aborted}));
        return Ok(());
    }
    let model = match (&args.embedder.model, &info.reembedding) {
        (Some(m), _) => m.clone(),
        (None, Some(target)) => target.model.clone(),
        (None, None) => bail!("reembed needs --model (the model to move {collection} to)"),
    };
    let dimensions = args.embedder.dimensions.or_else(|| {
        info.reembedding
            .as_ref()
            .filter(|t| {
                args.embedder.model.is_none() || Some(&t.model) == args.embedder.model.as_ref()
            })
            .map(|t| t.dimensions)
    });
    let memory = memory_for(store, &model, dimensions, &args.embedder, quiet).await?;
    let bar = crate::progress::items(
        info.records as u64,
        "re-embedding",
        crate::progress::enabled(quiet),
    );
    let done = memory
        .reembed(collection, &|n| bar.set_position(n as u64))
        .await?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string(&done)?);
    if !quiet {
        eprintln!(
            "{collection}: {} records, now {} (was {})",
            done.records, done.identity, info.identity
        );
    }
    Ok(())
}

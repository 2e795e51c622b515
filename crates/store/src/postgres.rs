//! PostgreSQL + pgvector: the same store on a server, for several machines
//! or more vectors than one file should hold.
//!
//! # Layout
//!
//! Everything lives in one schema (`embedrock` unless the URL's `schema`
//! parameter names another), created with its tables on first use:
//! `collections` (name, identity and re-embed target as JSONB), `records`
//! (text, scopes, JSONB metadata, the vector as an untyped `vector` column
//! plus a `staged` one for re-embedding, the source's content hash), and
//! `history`. Each collection's dimensions are fixed by its identity and
//! checked on every write; the HNSW index of a collection is a partial
//! expression index over `embedding::vector(n)` (or `embedding::halfvec(n)`
//! above 2,000 dimensions, where pgvector cannot index `vector`), so
//! collections of different dimensions share the table and each is indexed
//! at its own size. Stored vectors always keep full `f32` precision.
//!
//! # Searching
//!
//! The filter is translated into SQL with bound parameters and applied
//! before ranking. [`SearchPath::Exact`] scans every admitted vector;
//! [`SearchPath::Approximate`] walks the collection's HNSW index with
//! `hnsw.iterative_scan = relaxed_order` (so a selective filter makes the
//! scan go on instead of returning too few rows), then re-ranks the
//! candidates exactly; when it still finds fewer than `top_k`, the search is
//! repeated exactly, so a filtered search is never starved.
//! [`SearchPath::Binary`] ranks candidates by the Hamming distance of
//! `binary_quantize` and rescores them exactly. [`SearchPath::Auto`] uses the
//! index when the collection has one and the filter admits at least
//! [`crate::sqlite::EXACT_BELOW`] records (counted up to that bound), else
//! the exact scan. There is no int8
//! vector type in pgvector: [`SearchPath::Int8`] is an error.
//!
//! # The index
//!
//! A collection's HNSW index is built when an insert brings it to
//! [`PgOptions::index_threshold`] records (10,000 by default), or by
//! [`PgStore::build_index`]; it is built with `CREATE INDEX CONCURRENTLY`,
//! so writers are not blocked meanwhile. Bulk loads are fastest before the
//! index exists. Finishing a re-embed drops the index (its dimensions
//! change) and builds the new one when the collection is over the threshold.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgvector::Vector;
use serde_json::{Map, Value};
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Transaction};

use crate::backend::{CollectionInfo, NewRecord, Patch, Search, SearchPath, Staged, VectorStore};
use crate::filter::Op;
use crate::{Change, Error, Event, Filter, Hit, Identity, Page, Record, Result, Scope};

/// The schema used when the URL names none.
pub const DEFAULT_SCHEMA: &str = "embedrock";
/// The most dimensions pgvector's `vector` type holds.
pub const MAX_DIMENSIONS: usize = 16_000;
/// The most dimensions an HNSW index over `vector` takes; above it the
/// index is over `halfvec`.
pub const MAX_VECTOR_INDEX_DIMENSIONS: usize = 2_000;
/// The most dimensions an HNSW index over `halfvec` takes; above it a
/// collection is searched exactly.
pub const MAX_HALFVEC_INDEX_DIMENSIONS: usize = 4_000;
/// How long a call waits for a free connection of the pool.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting to the server may take, unless the URL says.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Records written by one statement of an insert (an insert of more is
/// still one transaction).
const INSERT_CHUNK: usize = 1_000;

/// How a [`PgStore`] connects and when it builds indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The schema the store's tables live in.
    pub schema: String,
    /// The most connections the store opens at once.
    pub max_connections: usize,
    /// Build a collection's HNSW index when an insert brings it to this many
    /// records; `None` builds only on [`PgStore::build_index`].
    pub index_threshold: Option<usize>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: DEFAULT_SCHEMA.to_string(),
            max_connections: 8,
            index_threshold: Some(10_000),
        }
    }
}

/// The store on PostgreSQL with the pgvector extension.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// TLS settings when the URL asks for TLS (`sslmode=require`).
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The URL without its password, for messages.
    display: String,
    options: PgOptions,
    /// The schema name, quoted for SQL.
    schema: String,
    setup: OnceCell<Setup>,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    /// Collections (by id) known to have a valid HNSW index.
    indexed: Mutex<HashSet<i64>>,
}

/// What the first connection learnt about the server.
#[derive(Debug, Clone)]
struct Setup {
    /// Sets the search path of a new connection.
    search_path: String,
    /// A collation whose `lower()` knows Unicode, for `icontains`.
    lower_collation: &'static str,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.inner.display)
            .field("options", &self.inner.options)
            .finish()
    }
}

/// A pooled connection, returned to the pool when dropped.
struct Conn<'a> {
    client: Option<Client>,
    inner: &'a Inner,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                if let Ok(mut idle) = self.inner.idle.lock() {
                    idle.push(client);
                }
            }
        }
    }
}

impl Conn<'_> {
    fn client(&mut self) -> Result<&mut Client> {
        self.client
            .as_mut()
            .ok_or_else(|| Error::Backend("the connection was already returned".into()))
    }
}

impl PgStore {
    /// A store at `url` (`postgres://user:password@host:port/database`, or
    /// any form `tokio-postgres` accepts, plus an optional `schema=NAME`
    /// query parameter). Nothing is connected until the first call.
    pub fn open(url: &str) -> Result<Self> {
        let (url, schema) = split_schema(url)?;
        let options = PgOptions {
            schema: schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_string()),
            ..PgOptions::default()
        };
        Self::open_with(&url, options)
    }

    /// A store at `url` with these options; a `schema` in the URL is an error
    /// here (the options name it).
    pub fn open_with(url: &str, options: PgOptions) -> Result<Self> {
        let shown = embedrock_core::util::redact_url(url);
        if split_schema(url)?.1.is_some() {
            return Err(Error::InvalidInput(format!(
                "{shown}: give the schema in the options or in the URL, not both"
            )));
        }
        let (url, root_cert) = split_tls(url)?;
        let mut config = Config::from_str(&url).map_err(|e| {
            Error::InvalidInput(format!("not a PostgreSQL URL: {shown}: {}", pg_message(&e)))
        })?;
        let tls = tls_connector(&config, root_cert.as_deref())?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        check_schema_name(&options.schema)?;
        if options.max_connections == 0 || options.max_connections > 1024 {
            return Err(Error::InvalidInput(format!(
                "a pool holds 1 to 1024 connections, asked for {}",
                options.max_connections
            )));
        }
        let display = describe(&config);
        Ok(PgStore {
            inner: Arc::new(Inner {
                schema: quote_ident(&options.schema),
                permits: Semaphore::new(options.max_connections),
                config,
                tls,
                display,
                options,
                setup: OnceCell::new(),
                idle: Mutex::new(Vec::new()),
                indexed: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The server and database, without the password.
    pub fn url(&self) -> &str {
        &self.inner.display
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &PgOptions {
        &self.inner.options
    }

    fn db(&self) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        move |e| Error::Database {
            path: self.inner.display.clone(),
            source: pg_message(&e).into(),
        }
    }

    /// A connection from the pool, or a new one.
    async fn conn(&self) -> Result<Conn<'_>> {
        let inner = &*self.inner;
        let permit = tokio::time::timeout(CHECKOUT_TIMEOUT, inner.permits.acquire())
            .await
            .map_err(|_| {
                Error::Backend(format!(
                    "all {} connections to {} stayed busy for {}s",
                    inner.options.max_connections,
                    inner.display,
                    CHECKOUT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|_| Error::Backend("the connection pool was closed".into()))?;
        let reused = inner
            .idle
            .lock()
            .map_err(|_| Error::Backend("the connection pool was poisoned".into()))?
            .pop();
        let client = match reused {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(Conn {
            client: Some(client),
            inner,
            _permit: permit,
        })
    }

    /// Opens a connection; the first one also creates the schema.
    async fn connect(&self) -> Result<Client> {
        // A connection ends when its client is dropped or the server goes
        // away; the client then reports the error.
        let config = &self.inner.config;
        let client = match &self.inner.tls {
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await.map_err(self.db())?;
                tokio::spawn(connection);
                client
            }
            None => {
                let (client, connection) = config.connect(NoTls).await.map_err(self.db())?;
                tokio::spawn(connection);
                client
            }
        };
        let setup = self
            .inner
            .setup
            .get_or_try_init(|| async { self.create_schema(&client).await })
            .await?;
        client
            .batch_execute(&setup.search_path)
            .await
            .map_err(self.db())?;
        Ok(client)
    }

    /// Creates the extension (when missing), the schema and its tables, once
    /// per server even with several processes starting at once.
    async fn create_schema(&self, client: &Client) -> Result<Setup> {
        let db = self.db();
        let s = &self.inner.schema;
        client
            .batch_execute(&format!(
                "SET client_min_messages = warning; BEGIN; \
                 SELECT pg_advisory_xact_lock(hashtext('embedrock schema ' || {}));
                 CREATE EXTENSION IF NOT EXISTS vector; \
                 CREATE SCHEMA IF NOT EXISTS {s}; {} COMMIT;",
                quote_literal(&self.inner.options.schema),
                schema_sql(s)
            ))
            .await
            .map_err(&db)?;
        let row = client
            .query_one(
                "SELECT n.nspname::text, current_setting('server_version_num')::int, \
                 current_setting('server_encoding') \
                 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
                 WHERE e.extname = 'vector'",
                &[],
            )
            .await
            .map_err(&db)?;
        let ext_schema: String = row.get(0);
        let version: i32 = row.get(1);
        let encoding: String = row.get(2);
        let lower_collation = if version >= 170_000 && encoding == "UTF8" {
            "pg_catalog.pg_c_utf8"
        } else {
            "pg_catalog.\"default\""
        };
        Ok(Setup {
            search_path: format!(
                "SET client_min_messages = warning; SET search_path TO {s}, {}",
                quote_ident(&ext_schema)
            ),
            lower_collation,
        })
    }

    async fn setup(&self) -> Result<Setup> {
        if let Some(setup) = self.inner.setup.get() {
            return Ok(setup.clone());
        }
        // The first connection fills it in.
        drop(self.conn().await?);
        self.inner
            .setup
            .get()
            .cloned()
            .ok_or_else(|| Error::Backend("the store's setup did not run".into()))
    }

    /// Builds the collection's HNSW index unless it has one; `false` when
    /// it already had one. Writers are not blocked while it builds. An error
    /// for collections over 4,000 dimensions, which pgvector cannot index.
    pub async fn build_index(&self, collection: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let client = conn.client()?;
        let (id, identity) = {
            let tx = client.transaction().await.map_err(self.db())?;
            let c = self.require(&tx, collection, Lock::None).await?;
            tx.commit().await.map_err(self.db())?;
            (c.id, c.identity)
        };
        let Some((cast, ops)) = index_type(identity.dimensions) else {
            return Err(Error::InvalidInput(format!(
                "collection {collection} has {} dimensions; pgvector indexes at most {MAX_HALFVEC_INDEX_DIMENSIONS}, \
                 so it is searched exactly",
                identity.dimensions
            )));
        };
        let s = &self.inner.schema;
        let name = index_name(id);
        let valid = self.index_state(client, id).await?;
        if valid == Some(true) {
            self.mark_indexed(id, true);
            return Ok(false);
        }
        if valid == Some(false) {
            // A build that failed half-way leaves an invalid index behind.
            client
                .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {s}.{name}"))
                .await
                .map_err(self.db())?;
        }
        // One statement a call: several would run as one transaction block,
        // which CREATE INDEX CONCURRENTLY refuses.
        client
            .batch_execute("SET maintenance_work_mem = '1GB'")
            .await
            .map_err(self.db())?;
        let created = client
            .batch_execute(&format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {s}.records \
                 USING hnsw ((embedding::{cast}) {ops}) WHERE collection = {id}"
            ))
            .await
            .map_err(self.db());
        client
            .batch_execute("RESET maintenance_work_mem")
            .await
            .map_err(self.db())?;
        created?;
        let built = self.index_state(client, id).await? == Some(true);
        self.mark_indexed(id, built);
        if !built {
            return Err(Error::Backend(format!(
                "the index of collection {collection} was not built (another build may be running)"
            )));
        }
        Ok(true)
    }

    /// Whether the collection has a usable HNSW index.
    pub async fn has_index(&self, collection: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let client = conn.client()?;
        let tx = client.transaction().await.map_err(self.db())?;
        let c = self.require(&tx, collection, Lock::None).await?;
        let state = self.index_state(&tx, c.id).await?;
        tx.commit().await.map_err(self.db())?;
        Ok(state == Some(true))
    }

    /// `Some(valid)` when the collection's index exists.
    async fn index_state<C: tokio_postgres::GenericClient>(
        &self,
        client: &C,
        id: i64,
    ) -> Result<Option<bool>> {
        let row = client
            .query_opt(
                "SELECT i.indisvalid FROM pg_class c \
                 JOIN pg_index i ON i.indexrelid = c.oid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2",
                &[&self.inner.options.schema, &index_name(id)],
            )
            .await
            .map_err(self.db())?;
        Ok(row.map(|r| r.get::<_, bool>(0)))
    }

    fn mark_indexed(&self, id: i64, indexed: bool) {
        if let Ok(mut set) = self.inner.indexed.lock() {
            if indexed {
                set.insert(id);
            } else {
                set.remove(&id);
            }
        }
    }

    fn known_indexed(&self, id: i64) -> bool {
        self.inner
            .indexed
            .lock()
            .map(|set| set.contains(&id))
            .unwrap_or(false)
    }

    /// After a write: builds the index of a collection that reached the
    /// threshold.
    async fn index_if_large(&self, collection: &str, id: i64) -> Result<()> {
        let Some(threshold) = self.inner.options.index_threshold else {
            return Ok(());
        };
        if self.known_indexed(id) {
            return Ok(());
        }
        let (records, dims) = {
            let mut conn = self.conn().await?;
            let client = conn.client()?;
            let row = client
                .query_opt(
                    "SELECT (SELECT count(*) FROM records WHERE collection = $1), \
                     (identity->>'dimensions')::bigint FROM collections WHERE id = $1",
                    &[&id],
                )
                .await
                .map_err(self.db())?;
            let Some(row) = row else { return Ok(()) };
            (row.get::<_, i64>(0), row.get::<_, i64>(1))
        };
        if records < threshold as i64 || index_type(dims.max(0) as usize).is_none() {
            return Ok(());
        }
        self.build_index(collection).await.map(|_| ())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    None,
    Share,
    Update,
}

/// A collection's row.
struct Coll {
    id: i64,
    identity: Identity,
}

impl PgStore {
    /// The collection, locked as asked, or `NotFound`.
    async fn require(&self, tx: &Transaction<'_>, name: &str, lock: Lock) -> Result<Coll> {
        let suffix = match lock {
            Lock::None => "",
            Lock::Share => " FOR SHARE",
            Lock::Update => " FOR UPDATE",
        };
        let row = tx
            .query_opt(
                &format!("SELECT id, identity, target FROM collections WHERE name = $1{suffix}"),
                &[&name],
            )
            .await
            .map_err(self.db())?
            .ok_or_else(|| Error::NotFound(format!("collection {name:?}")))?;
        Ok(Coll {
            id: row.get(0),
            identity: parse_identity(name, row.get(1))?,
        })
    }

    /// The collection's re-embed target, or an error when none is in progress.
    async fn require_target(
        &self,
        tx: &Transaction<'_>,
        name: &str,
        lock: Lock,
    ) -> Result<(Coll, Identity)> {
        let coll = self.require(tx, name, lock).await?;
        let row = tx
            .query_one("SELECT target FROM collections WHERE id = $1", &[&coll.id])
            .await
            .map_err(self.db())?;
        let target: Option<Value> = row.get(0);
        let target = target
            .map(|t| parse_identity(name, t))
            .transpose()?
            .ok_or_else(|| {
                Error::InvalidInput(format!("collection {name} is not being re-embedded"))
            })?;
        Ok((coll, target))
    }

    async fn read_collection<C: tokio_postgres::GenericClient>(
        &self,
        client: &C,
        name: &str,
    ) -> Result<Option<CollectionInfo>> {
        let rows = client
            .query(&format!("{COLLECTION_SELECT} WHERE c.name = $1"), &[&name])
            .await
            .map_err(self.db())?;
        rows.iter().map(collection_row).next().transpose()
    }

    async fn insert_chunk(
        &self,
        tx: &Transaction<'_>,
        coll: &Coll,
        records: Vec<NewRecord>,
    ) -> Result<Vec<String>> {
        let now = now_ms();
        let n = records.len();
        let (mut ids, mut texts, mut users, mut agents, mut runs) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut metas, mut docs, mut origins, mut hashes, mut vectors) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for r in records {
            let id = uuid::Uuid::new_v4().to_string();
            let record = Record {
                id: id.clone(),
                text: r.text,
                scope: r.scope,
                metadata: r.metadata,
                origin: r.origin,
                created_at: now,
                updated_at: now,
            };
            docs.push(Value::Object(record.filter_view()));
            origins.push(
                record
                    .origin
                    .as_ref()
                    .map(serde_json::to_value)
                    .transpose()
                    .map_err(|e| Error::InvalidInput(e.to_string()))?,
            );
            hashes.push(record.origin.as_ref().map(|o| o.content_hash.clone()));
            ids.push(id);
            texts.push(record.text);
            users.push(record.scope.user_id);
            agents.push(record.scope.agent_id);
            runs.push(record.scope.run_id);
            metas.push(Value::Object(record.metadata));
            vectors.push(Vector::from(r.vector));
        }
        let inserted = tx
            .execute(
                "INSERT INTO records (id, collection, text, user_id, agent_id, run_id, metadata, doc, \
                 origin, content_hash, embedding, created_at, updated_at) \
                 SELECT u.id, $1, u.text, u.user_id, u.agent_id, u.run_id, u.metadata, u.doc, u.origin, \
                 u.hash, u.embedding, $2, $2 \
                 FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], \
                 $9::jsonb[], $10::jsonb[], $11::text[], $12::vector[]) WITH ORDINALITY \
                 AS u(id, text, user_id, agent_id, run_id, metadata, doc, origin, hash, embedding, n) \
                 ORDER BY u.n",
                &[&coll.id, &now, &ids, &texts, &users, &agents, &runs, &metas, &docs, &origins, &hashes, &vectors],
            )
            .await
            .map_err(self.db())?;
        if inserted as usize != ids.len() {
            return Err(Error::Backend(format!(
                "inserted {inserted} of {} records",
                ids.len()
            )));
        }
        tx.execute(
            "INSERT INTO history (collection, memory_id, event, old_memory, new_memory, at) \
             SELECT c.name, u.id, 'ADD', NULL, u.text, $2 FROM collections c, \
             unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(id, text, n) WHERE c.id = $1 ORDER BY u.n",
            &[&coll.id, &now, &ids, &texts],
        )
        .await
        .map_err(self.db())?;
        Ok(ids)
    }

    async fn history_row(
        &self,
        tx: &Transaction<'_>,
        collection: &str,
        id: &str,
        event: Event,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO history (collection, memory_id, event, old_memory, new_memory, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&collection, &id, &event_name(event), &old, &new, &now_ms()],
        )
        .await
        .map_err(self.db())?;
        Ok(())
    }

    async fn get_record<C: tokio_postgres::GenericClient>(
        &self,
        client: &C,
        coll: i64,
        id: &str,
        lock: bool,
    ) -> Result<Option<Record>> {
        let suffix = if lock { " FOR UPDATE" } else { "" };
        let row = client
            .query_opt(
                &format!("SELECT {RECORD_COLUMNS} FROM records r WHERE r.collection = $1 AND r.id = $2{suffix}"),
                &[&coll, &id],
            )
            .await
            .map_err(self.db())?;
        row.as_ref().map(record_row).transpose()
    }

    async fn apply_patch(
        &self,
        tx: &Transaction<'_>,
        collection: &str,
        id: &str,
        patch: Patch,
    ) -> Result<Record> {
        let coll = self.require(tx, collection, Lock::Share).await?;
        let old = self
            .get_record(tx, coll.id, id, true)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("record {id:?} in collection {collection:?}"))
            })?;
        if patch.text.is_some() != patch.vector.is_some() {
            return Err(Error::InvalidInput(
                "a new text needs its new vector, and a vector its text".into(),
            ));
        }
        let mut new = old.clone();
        new.updated_at = now_ms();
        if let Some(text) = &patch.text {
            check_text("text", text)?;
            new.text = text.clone();
        }
        if let Some(metadata) = patch.metadata {
            check_metadata(&metadata)?;
            new.metadata = metadata;
        }
        let vector = match patch.vector {
            Some(v) => {
                check_vector(&coll.identity, collection, &v)?;
                Some(Vector::from(v))
            }
            None => None,
        };
        let doc = Value::Object(new.filter_view());
        tx.execute(
            "UPDATE records SET text = $1, metadata = $2, doc = $3, updated_at = $4, \
             embedding = COALESCE($5::vector, embedding), \
             staged = CASE WHEN $5::vector IS NULL THEN staged END \
             WHERE collection = $6 AND id = $7",
            &[
                &new.text,
                &Value::Object(new.metadata.clone()),
                &doc,
                &new.updated_at,
                &vector,
                &coll.id,
                &id,
            ],
        )
        .await
        .map_err(self.db())?;
        self.history_row(
            tx,
            collection,
            id,
            Event::Update,
            Some(&old.text),
            Some(&new.text),
        )
        .await?;
        Ok(new)
    }

    /// Whether `filter` admits fewer than [`crate::sqlite::EXACT_BELOW`]
    /// records of the collection, counted up to that bound: an exact scan
    /// of so few rows beats walking the index past everything the filter
    /// rejects. A search without a filter is not counted.
    async fn admits_few(
        &self,
        tx: &Transaction<'_>,
        coll: &Coll,
        filter: &Filter,
        setup: &Setup,
    ) -> Result<bool> {
        if matches!(filter, Filter::All) {
            return Ok(false);
        }
        let mut sql = Sql::new(setup.lower_collation);
        let admitted = sql.filter(filter);
        let bound = crate::sqlite::EXACT_BELOW;
        let text = format!(
            "SELECT count(*) FROM (SELECT 1 FROM records r WHERE r.collection = {} AND {admitted} \
             LIMIT {bound}) s",
            coll.id
        );
        let row = tx.query_one(&text, &sql.refs()).await.map_err(self.db())?;
        let n: i64 = row.try_get(0).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok((n as usize) < bound)
    }

    /// The hits of one search, ranked exactly.
    async fn search_in(
        &self,
        tx: &Transaction<'_>,
        coll: &Coll,
        search: &Search,
        path: SearchPath,
        setup: &Setup,
    ) -> Result<Vec<Hit>> {
        let dims = coll.identity.dimensions;
        let mut sql = Sql::new(setup.lower_collation);
        let query = sql.param(Vector::from(search.vector.clone()));
        let filter = sql.filter(&search.filter);
        let id = coll.id;
        let k = search.top_k;
        let candidates = (k * 4).clamp(40, 4 * crate::MAX_PAGE);
        let order = match path {
            SearchPath::Exact | SearchPath::Auto => None,
            SearchPath::Approximate => {
                let (cast, _) = index_type(dims).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "collection of {dims} dimensions has no approximate index (pgvector indexes at most {MAX_HALFVEC_INDEX_DIMENSIONS})"
                    ))
                })?;
                let ef = (k * 10).clamp(100, 1000);
                let max_scan = (candidates * 50).max(20_000);
                tx.batch_execute(&format!(
                    "SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = relaxed_order; \
                     SET LOCAL hnsw.max_scan_tuples = {max_scan}; SET LOCAL hnsw.scan_mem_multiplier = 2; \
                     SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
                ))
                .await
                .map_err(self.db())?;
                Some(format!("(r.embedding::{cast}) <#> ({query}::vector::{cast})"))
            }
            SearchPath::Binary => Some(format!(
                "binary_quantize(r.embedding)::bit({dims}) <~> binary_quantize({query}::vector)::bit({dims})"
            )),
            SearchPath::Int8 => {
                return Err(Error::InvalidInput(
                    "the int8 search path is not available on PostgreSQL (pgvector has no int8 vector type); \
                     use exact, binary or approximate"
                        .into(),
                ))
            }
        };
        let text = match order {
            None => format!(
                "SELECT {RECORD_COLUMNS}, -(r.embedding <#> {query}::vector) AS score FROM records r \
                 WHERE r.collection = {id} AND {filter} \
                 ORDER BY r.embedding <#> {query}::vector, r.seq LIMIT {k}"
            ),
            Some(order) => format!(
                "WITH cand AS MATERIALIZED (SELECT r.seq FROM records r \
                 WHERE r.collection = {id} AND {filter} ORDER BY {order} LIMIT {candidates}) \
                 SELECT {RECORD_COLUMNS}, -(r.embedding <#> {query}::vector) AS score \
                 FROM records r JOIN cand ON cand.seq = r.seq \
                 ORDER BY score DESC, r.seq LIMIT {k}"
            ),
        };
        let rows = tx.query(&text, &sql.refs()).await.map_err(self.db())?;
        rows.iter()
            .map(|row| {
                Ok(Hit {
                    record: record_row(row)?,
                    score: row
                        .try_get::<_, f64>(9)
                        .map_err(|e| Error::Corrupt(e.to_string()))?
                        as f32,
                })
            })
            .collect()
    }
}

const COLLECTION_SELECT: &str = "SELECT c.name, c.identity, c.created_at, \
     (SELECT count(*) FROM records r WHERE r.collection = c.id), c.target FROM collections c";

const RECORD_COLUMNS: &str =
    "r.id, r.text, r.user_id, r.agent_id, r.run_id, r.metadata, r.origin, r.created_at, r.updated_at";

fn schema_sql(s: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {s}.collections (
            id bigserial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            identity jsonb NOT NULL,
            target jsonb,
            created_at bigint NOT NULL
        );
        CREATE TABLE IF NOT EXISTS {s}.records (
            seq bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE,
            collection bigint NOT NULL REFERENCES {s}.collections(id) ON DELETE CASCADE,
            text text NOT NULL,
            user_id text,
            agent_id text,
            run_id text,
            metadata jsonb NOT NULL,
            doc jsonb NOT NULL,
            origin jsonb,
            content_hash text,
            embedding vector NOT NULL,
            staged vector,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL
        );
        CREATE INDEX IF NOT EXISTS records_by_collection ON {s}.records (collection, seq);
        CREATE INDEX IF NOT EXISTS records_by_hash ON {s}.records (collection, content_hash);
        CREATE TABLE IF NOT EXISTS {s}.history (
            seq bigserial PRIMARY KEY,
            collection text NOT NULL,
            memory_id text NOT NULL,
            event text NOT NULL,
            old_memory text,
            new_memory text,
            at bigint NOT NULL
        );
        CREATE INDEX IF NOT EXISTS history_by_memory ON {s}.history (memory_id, seq);"
    )
}

/// The index's element type and operator class for `dims`, if pgvector can
/// index that many.
fn index_type(dims: usize) -> Option<(String, &'static str)> {
    if dims <= MAX_VECTOR_INDEX_DIMENSIONS {
        Some((format!("vector({dims})"), "vector_ip_ops"))
    } else if dims <= MAX_HALFVEC_INDEX_DIMENSIONS {
        Some((format!("halfvec({dims})"), "halfvec_ip_ops"))
    } else {
        None
    }
}

fn index_name(collection_id: i64) -> String {
    format!("records_hnsw_{collection_id}")
}

/// Takes the `schema` query parameter out of a URL.
fn split_schema(url: &str) -> Result<(String, Option<String>)> {
    let mut schema = None;
    let url = filter_query(url, |key, value| {
        if key == "schema" {
            schema = Some(value.to_string());
            return Ok(None);
        }
        Ok(Some(format!("{key}={value}")))
    })?;
    Ok((url, schema))
}

/// The URL with each `key=value` of its query passed through `keep`, which
/// returns the pair to keep (possibly rewritten) or `None` to drop it. A
/// pair without `=` is kept as it is.
fn filter_query(
    url: &str,
    mut keep: impl FnMut(&str, &str) -> Result<Option<String>>,
) -> Result<String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_string());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) => kept.extend(keep(key, value)?),
            None => kept.push(pair.to_string()),
        }
    }
    Ok(if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// Takes `sslrootcert=PATH` out of the URL (tokio-postgres does not know
/// it) and reads `sslmode=verify-ca` / `verify-full` as `require`: every TLS
/// connection verifies the server's certificate chain and host name.
fn split_tls(url: &str) -> Result<(String, Option<PathBuf>)> {
    let mut root = None;
    let url = filter_query(url, |key, value| match (key, value) {
        ("sslrootcert", _) => {
            root = Some(PathBuf::from(percent_decode(value)?));
            Ok(None)
        }
        ("sslmode", "verify-ca" | "verify-full") => Ok(Some("sslmode=require".into())),
        _ => Ok(Some(format!("{key}={value}"))),
    })?;
    Ok((url, root))
}

/// `%XX` escapes of a URL query value.
fn percent_decode(value: &str) -> Result<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::InvalidInput(format!("a bad %-escape in the URL value {value:?}"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::InvalidInput(format!("the URL value {value:?} is not UTF-8")))
}

/// The largest certificate file read for `sslrootcert`.
const MAX_ROOT_CERT_BYTES: u64 = 4 << 20;

/// A rustls connector when the URL asks for TLS (`sslmode=require`, or
/// `sslrootcert` with the default `prefer`), trusting the system's roots
/// and the certificates of `sslrootcert`; `None` for plain connections.
fn tls_connector(
    config: &Config,
    root_cert: Option<&Path>,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    use tokio_postgres::config::SslMode;
    let wanted = match config.get_ssl_mode() {
        SslMode::Disable => false,
        SslMode::Require => true,
        _ => root_cert.is_some(),
    };
    if !wanted {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped, as other clients do.
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    if let Some(path) = root_cert {
        let invalid =
            |why: String| Error::InvalidInput(format!("sslrootcert {}: {why}", path.display()));
        let len = std::fs::metadata(path)
            .map_err(|e| invalid(e.to_string()))?
            .len();
        if len > MAX_ROOT_CERT_BYTES {
            return Err(invalid(format!(
                "{len} bytes, over the {MAX_ROOT_CERT_BYTES} allowed"
            )));
        }
        let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(invalid("holds no certificate".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("a certificate was refused: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Backend(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls)))
}

/// `postgres://user@host:port/db`, never with the password.
fn describe(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!(
        "postgres://{at}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// The server's message for an error, with its detail and hint.
fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut out = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            let _ = write!(out, " ({detail})");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(out, "; hint: {hint}");
        }
        return out;
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn check_schema_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "schema names are 1 to 63 characters of a-z, A-Z, 0-9 or '_', not starting with a digit; got {name:?}"
        )))
    }
}

fn check_name(name: &str) -> Result<()> {
    let max = crate::sqlite::MAX_COLLECTION_NAME;
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "collection names are 1 to {max} characters of a-z, A-Z, 0-9, '-', '_' or '.', got {name:?}"
        )))
    }
}

fn check_dimensions(identity: &Identity) -> Result<()> {
    if identity.dimensions == 0 || identity.dimensions > MAX_DIMENSIONS {
        return Err(Error::InvalidInput(format!(
            "PostgreSQL stores vectors of 1 to {MAX_DIMENSIONS} dimensions, asked for {}",
            identity.dimensions
        )));
    }
    Ok(())
}

fn check_vector(identity: &Identity, collection: &str, v: &[f32]) -> Result<()> {
    if v.len() != identity.dimensions {
        return Err(Error::InvalidInput(format!(
            "collection {collection} holds {} dimensions, got a vector of {}",
            identity.dimensions,
            v.len()
        )));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "a vector for collection {collection} holds a non-finite value"
        )));
    }
    Ok(())
}

/// PostgreSQL's text and JSONB cannot hold the NUL character.
fn check_text(what: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::InvalidInput(format!(
            "{what} holds a NUL character, which PostgreSQL cannot store"
        )));
    }
    Ok(())
}

fn check_metadata(metadata: &Map<String, Value>) -> Result<()> {
    fn walk(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(walk),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || walk(v)),
            _ => false,
        }
    }
    if metadata.iter().any(|(k, v)| k.contains('\0') || walk(v)) {
        return Err(Error::InvalidInput(
            "metadata holds a NUL character, which PostgreSQL cannot store".into(),
        ));
    }
    Ok(())
}

fn check_record(identity: &Identity, collection: &str, r: &NewRecord) -> Result<()> {
    check_vector(identity, collection, &r.vector)?;
    check_text("text", &r.text)?;
    for (field, value) in r.scope.pairs() {
        check_text(field, value)?;
    }
    if let Some(origin) = &r.origin {
        check_text("source", &origin.source)?;
        check_text("content hash", &origin.content_hash)?;
    }
    check_metadata(&r.metadata)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn event_name(event: Event) -> &'static str {
    match event {
        Event::Add => "ADD",
        Event::Update => "UPDATE",
        Event::Delete => "DELETE",
    }
}

fn parse_identity(name: &str, value: Value) -> Result<Identity> {
    serde_json::from_value(value)
        .map_err(|e| Error::Corrupt(format!("collection {name:?} identity: {e}")))
}

fn collection_row(row: &Row) -> Result<CollectionInfo> {
    let name: String = row.get(0);
    let identity = parse_identity(&name, row.get(1))?;
    let records: i64 = row.get(3);
    let target: Option<Value> = row.get(4);
    Ok(CollectionInfo {
        identity,
        created_at: row.get(2),
        records: records.max(0) as usize,
        reembedding: target.map(|t| parse_identity(&name, t)).transpose()?,
        name,
    })
}

fn record_row(row: &Row) -> Result<Record> {
    let get_err = |e: tokio_postgres::Error| Error::Corrupt(pg_message(&e));
    let id: String = row.try_get(0).map_err(get_err)?;
    let metadata = match row.try_get::<_, Value>(5).map_err(get_err)? {
        Value::Object(map) => map,
        other => {
            return Err(Error::Corrupt(format!(
                "record {id} metadata is not an object: {other}"
            )))
        }
    };
    let origin = row
        .try_get::<_, Option<Value>>(6)
        .map_err(get_err)?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| Error::Corrupt(format!("record {id} origin: {e}")))?;
    Ok(Record {
        text: row.try_get(1).map_err(get_err)?,
        scope: Scope {
            user_id: row.try_get(2).map_err(get_err)?,
            agent_id: row.try_get(3).map_err(get_err)?,
            run_id: row.try_get(4).map_err(get_err)?,
        },
        metadata,
        origin,
        created_at: row.try_get(7).map_err(get_err)?,
        updated_at: row.try_get(8).map_err(get_err)?,
        id,
    })
}

/// A statement's parameters, and the translation of a [`Filter`] into a
/// boolean SQL expression over the record `r` with every value bound.
struct Sql {
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    lower_collation: &'static str,
}

impl Sql {
    fn new(lower_collation: &'static str) -> Self {
        Sql {
            params: Vec::new(),
            lower_collation,
        }
    }

    /// Binds a value; returns its placeholder.
    fn param<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// A never-NULL boolean expression that holds exactly when
    /// [`Filter::matches`] holds for the record's filter view (`r.doc`).
    fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::All => "true".into(),
            Filter::And(all) => self.join(all, " AND ", "true"),
            Filter::Or(any) => self.join(any, " OR ", "false"),
            Filter::Not(inner) => format!("(NOT {})", self.filter(inner)),
            Filter::Field { field, op } => {
                let value = self.field(field);
                self.op(&value, op)
            }
        }
    }

    fn join(&mut self, parts: &[Filter], sep: &str, empty: &str) -> String {
        if parts.is_empty() {
            return empty.into();
        }
        let parts: Vec<String> = parts.iter().map(|f| self.filter(f)).collect();
        format!("({})", parts.join(sep))
    }

    /// The field's JSONB value, NULL when missing: a top-level key, else a
    /// dotted path through nested objects (as [`crate::Fields`] looks up).
    fn field(&mut self, name: &str) -> String {
        let key = self.param(name.to_string());
        if !name.contains('.') {
            return format!("(r.doc -> {key}::text)");
        }
        let parts: Vec<String> = name.split('.').map(str::to_string).collect();
        let mut guards = Vec::new();
        for depth in 1..parts.len() {
            let prefix = self.param(parts[..depth].to_vec());
            guards.push(format!(
                "jsonb_typeof(r.doc #> {prefix}::text[]) = 'object'"
            ));
        }
        let path = self.param(parts);
        format!(
            "(CASE WHEN r.doc ? {key}::text THEN r.doc -> {key}::text WHEN {} THEN r.doc #> {path}::text[] END)",
            guards.join(" AND ")
        )
    }

    fn op(&mut self, v: &str, op: &Op) -> String {
        match op {
            Op::Eq(x) => {
                let x = self.param(x.clone());
                format!("COALESCE({v} = {x}::jsonb, false)")
            }
            Op::Ne(x) => {
                let x = self.param(x.clone());
                format!("COALESCE({v} <> {x}::jsonb, true)")
            }
            Op::In(xs) => {
                let xs = self.param(Value::Array(xs.clone()));
                format!("EXISTS (SELECT 1 FROM jsonb_array_elements({xs}::jsonb) e WHERE e = {v})")
            }
            Op::Nin(xs) => {
                let xs = self.param(Value::Array(xs.clone()));
                format!(
                    "NOT EXISTS (SELECT 1 FROM jsonb_array_elements({xs}::jsonb) e WHERE e = {v})"
                )
            }
            Op::Gt(x) => self.compare(v, ">", x),
            Op::Gte(x) => self.compare(v, ">=", x),
            Op::Lt(x) => self.compare(v, "<", x),
            Op::Lte(x) => self.compare(v, "<=", x),
            Op::Contains(x) => {
                let member = {
                    let x = self.param(x.clone());
                    format!(
                        "EXISTS (SELECT 1 FROM jsonb_array_elements({v}) e WHERE e = {x}::jsonb)"
                    )
                };
                let substring = match x {
                    Value::String(s) => {
                        let s = self.param(s.clone());
                        format!("strpos({v} #>> '{{}}', {s}::text) > 0")
                    }
                    _ => "false".into(),
                };
                format!(
                    "(CASE jsonb_typeof({v}) WHEN 'string' THEN {substring} WHEN 'array' THEN {member} ELSE false END)"
                )
            }
            Op::IContains(needle) => {
                let s = self.param(needle.clone());
                let c = self.lower_collation;
                format!(
                    "(CASE WHEN jsonb_typeof({v}) = 'string' THEN \
                     strpos(lower(({v} #>> '{{}}') COLLATE {c}), lower({s}::text COLLATE {c})) > 0 ELSE false END)"
                )
            }
            Op::Exists => format!("({v} IS NOT NULL)"),
        }
    }

    /// `gt`/`gte`/`lt`/`lte`: numbers by value, strings by code point
    /// (`COLLATE "C"` on UTF-8), false across types.
    fn compare(&mut self, v: &str, cmp: &str, x: &Value) -> String {
        match x {
            Value::Number(n) => {
                let x = self.param(n.as_f64().unwrap_or(f64::NAN));
                format!("(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v})::float8 {cmp} {x}::float8 ELSE false END)")
            }
            Value::String(s) => {
                let x = self.param(s.clone());
                format!(
                    "(CASE WHEN jsonb_typeof({v}) = 'string' THEN ({v} #>> '{{}}') COLLATE \"C\" {cmp} {x}::text ELSE false END)"
                )
            }
            _ => "false".into(),
        }
    }
}

#[async_trait::async_trait]
impl VectorStore for PgStore {
    async fn ensure_collection(&self, name: &str, identity: &Identity) -> Result<CollectionInfo> {
        check_name(name)?;
        check_dimensions(identity)?;
        let json = serde_json::to_value(identity).map_err(|e| Error::Backend(e.to_string()))?;
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        tx.execute(
            "INSERT INTO collections (name, identity, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
            &[&name, &json, &now_ms()],
        )
        .await
        .map_err(self.db())?;
        let info = self
            .read_collection(&tx, name)
            .await?
            .ok_or_else(|| Error::Backend("collection vanished".into()))?;
        info.identity.check(name, identity)?;
        tx.commit().await.map_err(self.db())?;
        Ok(info)
    }

    async fn collection(&self, name: &str) -> Result<Option<CollectionInfo>> {
        let mut conn = self.conn().await?;
        self.read_collection(conn.client()?, name).await
    }

    async fn collections(&self) -> Result<Vec<CollectionInfo>> {
        let mut conn = self.conn().await?;
        let rows = conn
            .client()?
            .query(&format!("{COLLECTION_SELECT} ORDER BY c.name"), &[])
            .await
            .map_err(self.db())?;
        rows.iter().map(collection_row).collect()
    }

    async fn drop_collection(&self, name: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let coll = match self.require(&tx, name, Lock::Update).await {
            Ok(c) => c,
            Err(Error::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let s = &self.inner.schema;
        tx.batch_execute(&format!("DROP INDEX IF EXISTS {s}.{}", index_name(coll.id)))
            .await
            .map_err(self.db())?;
        tx.execute("DELETE FROM history WHERE collection = $1", &[&name])
            .await
            .map_err(self.db())?;
        tx.execute("DELETE FROM collections WHERE id = $1", &[&coll.id])
            .await
            .map_err(self.db())?;
        tx.commit().await.map_err(self.db())?;
        self.mark_indexed(coll.id, false);
        Ok(true)
    }

    async fn insert(&self, collection: &str, records: Vec<NewRecord>) -> Result<Vec<String>> {
        let coll_id = {
            let mut conn = self.conn().await?;
            let tx = conn.client()?.transaction().await.map_err(self.db())?;
            let coll = self.require(&tx, collection, Lock::Share).await?;
            for r in &records {
                check_record(&coll.identity, collection, r)?;
            }
            let mut ids = Vec::with_capacity(records.len());
            let mut records = records.into_iter().peekable();
            while records.peek().is_some() {
                let chunk: Vec<NewRecord> = records.by_ref().take(INSERT_CHUNK).collect();
                ids.extend(self.insert_chunk(&tx, &coll, chunk).await?);
            }
            tx.commit().await.map_err(self.db())?;
            (coll.id, ids)
        };
        let (id, ids) = coll_id;
        // The records are committed whatever happens to the index: a build
        // that fails is tried again after the next insert, and searches scan
        // exactly meanwhile.
        let _ = self.index_if_large(collection, id).await;
        Ok(ids)
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let coll = self.require(&tx, collection, Lock::None).await?;
        let record = self.get_record(&tx, coll.id, id, false).await?;
        tx.commit().await.map_err(self.db())?;
        Ok(record)
    }

    async fn list(&self, collection: &str, filter: &Filter, page: Page) -> Result<Vec<Record>> {
        page.check()?;
        let setup = self.setup().await?;
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let coll = self.require(&tx, collection, Lock::None).await?;
        let mut sql = Sql::new(setup.lower_collation);
        let cond = sql.filter(filter);
        let text = format!(
            "SELECT {RECORD_COLUMNS} FROM records r WHERE r.collection = {} AND {cond} \
             ORDER BY r.seq OFFSET {} LIMIT {}",
            coll.id, page.offset, page.limit
        );
        let rows = tx.query(&text, &sql.refs()).await.map_err(self.db())?;
        tx.commit().await.map_err(self.db())?;
        rows.iter().map(record_row).collect()
    }

    async fn search(&self, collection: &str, search: &Search) -> Result<Vec<Hit>> {
        Page::first(search.top_k).check()?;
        let setup = self.setup().await?;
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let coll = self.require(&tx, collection, Lock::None).await?;
        if search.vector.len() != coll.identity.dimensions {
            return Err(Error::InvalidInput(format!(
                "collection {collection} holds {} dimensions, the query has {}",
                coll.identity.dimensions,
                search.vector.len()
            )));
        }
        check_vector(&coll.identity, collection, &search.vector)?;
        let path = match search.path {
            SearchPath::Auto if self.index_state(&tx, coll.id).await? == Some(true) => {
                if self.admits_few(&tx, &coll, &search.filter, &setup).await? {
                    SearchPath::Exact
                } else {
                    SearchPath::Approximate
                }
            }
            SearchPath::Auto => SearchPath::Exact,
            other => other,
        };
        let mut hits = self.search_in(&tx, &coll, search, path, &setup).await?;
        if hits.len() < search.top_k && path != SearchPath::Exact {
            // The candidates ran out before top_k admitted records were
            // found: the exact scan finds every one there is.
            tx.batch_execute(
                "SET LOCAL enable_seqscan = on; SET LOCAL enable_bitmapscan = on; SET LOCAL enable_sort = on",
            )
            .await
            .map_err(self.db())?;
            hits = self
                .search_in(&tx, &coll, search, SearchPath::Exact, &setup)
                .await?;
        }
        tx.commit().await.map_err(self.db())?;
        Ok(hits
            .into_iter()
            .filter(|h| search.threshold.is_none_or(|t| h.score >= t))
            .collect())
    }

    async fn update(&self, collection: &str, id: &str, patch: Patch) -> Result<Record> {
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let record = self.apply_patch(&tx, collection, id, patch).await?;
        tx.commit().await.map_err(self.db())?;
        Ok(record)
    }

    async fn delete(&self, collection: &str, id: &str) -> Result<bool> {
        self.delete_matching(collection, Some(id), &Filter::All)
            .await
            .map(|n| n > 0)
    }

    async fn delete_where(&self, collection: &str, filter: &Filter) -> Result<usize> {
        self.delete_matching(collection, None, filter).await
    }

    async fn history(&self, collection: &str, id: &str) -> Result<Vec<Change>> {
        let mut conn = self.conn().await?;
        let rows = conn
            .client()?
            .query(
                "SELECT memory_id, event, old_memory, new_memory, at FROM history \
                 WHERE collection = $1 AND memory_id = $2 ORDER BY seq",
                &[&collection, &id],
            )
            .await
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| Change {
                memory_id: r.get(0),
                event: match r.get::<_, &str>(1) {
                    "ADD" => Event::Add,
                    "UPDATE" => Event::Update,
                    _ => Event::Delete,
                },
                old_memory: r.get(2),
                new_memory: r.get(3),
                at: r.get(4),
            })
            .collect())
    }

    async fn find_by_content_hash(
        &self,
        collection: &str,
        content_hash: &str,
    ) -> Result<Vec<String>> {
        let mut conn = self.conn().await?;
        let rows = conn
            .client()?
            .query(
                "SELECT r.id FROM records r JOIN collections c ON c.id = r.collection \
                 WHERE c.name = $1 AND r.content_hash = $2 ORDER BY r.seq",
                &[&collection, &content_hash],
            )
            .await
            .map_err(self.db())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn begin_reembed(&self, collection: &str, target: &Identity) -> Result<CollectionInfo> {
        check_dimensions(target)?;
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let coll = self.require(&tx, collection, Lock::Update).await?;
        let info = self
            .read_collection(&tx, collection)
            .await?
            .ok_or_else(|| Error::NotFound(format!("collection {collection:?}")))?;
        match &info.reembedding {
            Some(pending) if pending == target => return Ok(info),
            Some(pending) => {
                return Err(Error::InvalidInput(format!(
                    "collection {collection} is being re-embedded to {pending}; \
                     finish or abort that before re-embedding to {target}"
                )))
            }
            None => {}
        }
        let json = serde_json::to_value(target).map_err(|e| Error::Backend(e.to_string()))?;
        tx.execute(
            "UPDATE records SET staged = NULL WHERE collection = $1 AND staged IS NOT NULL",
            &[&coll.id],
        )
        .await
        .map_err(self.db())?;
        tx.execute(
            "UPDATE collections SET target = $1 WHERE id = $2",
            &[&json, &coll.id],
        )
        .await
        .map_err(self.db())?;
        let info = self
            .read_collection(&tx, collection)
            .await?
            .ok_or_else(|| Error::Backend("collection vanished".into()))?;
        tx.commit().await.map_err(self.db())?;
        Ok(info)
    }

    async fn reembed_pending(
        &self,
        collection: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        Page::first(limit).check()?;
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let (coll, _) = self.require_target(&tx, collection, Lock::None).await?;
        let rows = tx
            .query(
                "SELECT id, text FROM records WHERE collection = $1 AND staged IS NULL ORDER BY seq LIMIT $2",
                &[&coll.id, &(limit as i64)],
            )
            .await
            .map_err(self.db())?;
        tx.commit().await.map_err(self.db())?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn stage_vectors(&self, collection: &str, staged: Vec<Staged>) -> Result<usize> {
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let (coll, target) = self.require_target(&tx, collection, Lock::Share).await?;
        for s in &staged {
            check_vector(&target, collection, &s.vector)?;
        }
        let mut kept = 0;
        for chunk in staged.chunks(INSERT_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|s| s.id.as_str()).collect();
            let texts: Vec<&str> = chunk.iter().map(|s| s.text.as_str()).collect();
            let vectors: Vec<Vector> = chunk
                .iter()
                .map(|s| Vector::from(s.vector.clone()))
                .collect();
            kept += tx
                .execute(
                    "UPDATE records r SET staged = u.v \
                     FROM unnest($2::text[], $3::text[], $4::vector[]) AS u(id, text, v) \
                     WHERE r.collection = $1 AND r.id = u.id AND r.text = u.text",
                    &[&coll.id, &ids, &texts, &vectors],
                )
                .await
                .map_err(self.db())? as usize;
        }
        tx.commit().await.map_err(self.db())?;
        Ok(kept)
    }

    async fn finish_reembed(&self, collection: &str) -> Result<CollectionInfo> {
        let (info, id) = {
            let mut conn = self.conn().await?;
            let tx = conn.client()?.transaction().await.map_err(self.db())?;
            let (coll, target) = self.require_target(&tx, collection, Lock::Update).await?;
            let pending: i64 = tx
                .query_one(
                    "SELECT count(*) FROM records WHERE collection = $1 AND staged IS NULL",
                    &[&coll.id],
                )
                .await
                .map_err(self.db())?
                .get(0);
            if pending > 0 {
                return Err(Error::InvalidInput(format!(
                    "collection {collection} still has {pending} records to re-embed"
                )));
            }
            let s = &self.inner.schema;
            // The old index is over the old dimensions.
            tx.batch_execute(&format!("DROP INDEX IF EXISTS {s}.{}", index_name(coll.id)))
                .await
                .map_err(self.db())?;
            let json = serde_json::to_value(&target).map_err(|e| Error::Backend(e.to_string()))?;
            tx.execute(
                "UPDATE records SET embedding = staged, staged = NULL WHERE collection = $1",
                &[&coll.id],
            )
            .await
            .map_err(self.db())?;
            tx.execute(
                "UPDATE collections SET identity = $1, target = NULL WHERE id = $2",
                &[&json, &coll.id],
            )
            .await
            .map_err(self.db())?;
            let info = self
                .read_collection(&tx, collection)
                .await?
                .ok_or_else(|| Error::Backend("collection vanished".into()))?;
            tx.commit().await.map_err(self.db())?;
            self.mark_indexed(coll.id, false);
            (info, coll.id)
        };
        // As after an insert: the switch is committed, the index follows.
        let _ = self.index_if_large(collection, id).await;
        Ok(info)
    }

    async fn abort_reembed(&self, collection: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let coll = self.require(&tx, collection, Lock::Update).await?;
        let n = tx
            .execute(
                "UPDATE collections SET target = NULL WHERE id = $1 AND target IS NOT NULL",
                &[&coll.id],
            )
            .await
            .map_err(self.db())?;
        tx.execute(
            "UPDATE records SET staged = NULL WHERE collection = $1 AND staged IS NOT NULL",
            &[&coll.id],
        )
        .await
        .map_err(self.db())?;
        tx.commit().await.map_err(self.db())?;
        Ok(n > 0)
    }
}

impl PgStore {
    /// Deletes the admitted records and writes their history, in one statement.
    /// With `id`, only that record (if the filter admits it).
    async fn delete_matching(
        &self,
        collection: &str,
        id: Option<&str>,
        filter: &Filter,
    ) -> Result<usize> {
        let setup = self.setup().await?;
        let mut conn = self.conn().await?;
        let tx = conn.client()?.transaction().await.map_err(self.db())?;
        let coll = self.require(&tx, collection, Lock::Share).await?;
        let mut sql = Sql::new(setup.lower_collation);
        let name = sql.param(collection.to_string());
        let now = sql.param(now_ms());
        let mut cond = sql.filter(filter);
        if let Some(id) = id {
            let id = sql.param(id.to_string());
            cond = format!("r.id = {id}::text AND {cond}");
        }
        let text = format!(
            "WITH gone AS (DELETE FROM records r WHERE r.collection = {} AND {cond} \
             RETURNING r.id, r.text, r.seq) \
             INSERT INTO history (collection, memory_id, event, old_memory, new_memory, at) \
             SELECT {name}::text, id, 'DELETE', text, NULL, {now}::bigint FROM gone ORDER BY seq",
            coll.id
        );
        let n = tx.execute(&text, &sql.refs()).await.map_err(self.db())?;
        tx.commit().await.map_err(self.db())?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_taken_out_of_the_url() {
        let (url, schema) =
            split_schema("postgres://u:p@h:5/db?schema=s1&connect_timeout=3").unwrap();
        assert_eq!(url, "postgres://u:p@h:5/db?connect_timeout=3");
        assert_eq!(schema.as_deref(), Some("s1"));
        let (url, schema) = split_schema("postgres://h/db?schema=x").unwrap();
        assert_eq!(
            (url.as_str(), schema.as_deref()),
            ("postgres://h/db", Some("x"))
        );
        assert_eq!(split_schema("postgres://h/db").unwrap().1, None);
    }

    #[test]
    fn tls_parameters_are_read_out_of_the_url() {
        let (url, root) =
            split_tls("postgres://h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20b.pem&x=1")
                .unwrap();
        assert_eq!(url, "postgres://h/db?sslmode=require&x=1");
        assert_eq!(root.as_deref(), Some(Path::new("/tmp/ca b.pem")));
        let (url, root) = split_tls("postgres://h/db?sslmode=disable").unwrap();
        assert_eq!(
            (url.as_str(), root),
            ("postgres://h/db?sslmode=disable", None)
        );
        assert!(split_tls("postgres://h/db?sslrootcert=%zz").is_err());
        // Plain connections unless TLS is asked for.
        let plain = Config::from_str("postgres://h/db").unwrap();
        assert!(tls_connector(&plain, None).unwrap().is_none());
        let require = Config::from_str("postgres://h/db?sslmode=require").unwrap();
        assert!(tls_connector(&require, None).unwrap().is_some());
    }

    #[test]
    fn descriptions_never_hold_the_password() {
        let store =
            PgStore::open("postgres://alice:s3cret@db.example:6543/mem?password=other").unwrap();
        assert_eq!(store.url(), "postgres://alice@db.example:6543/mem");
        let err = PgStore::open("postgres://alice:s3cret@h:notaport/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(PgStore::open("postgres://h/db?schema=bad-name").is_err());
    }

    #[test]
    fn indexes_switch_to_halfvec_above_2000_dimensions() {
        assert_eq!(index_type(384).unwrap().0, "vector(384)");
        assert_eq!(
            index_type(3072).unwrap(),
            ("halfvec(3072)".to_string(), "halfvec_ip_ops")
        );
        assert!(index_type(4001).is_none());
    }

    #[test]
    fn filters_bind_every_value() {
        let f = Filter::parse(
            &serde_json::json!({"user_id": "x'; DROP TABLE records; --", "a.b": {"gt": 3}}),
        )
        .unwrap();
        let mut sql = Sql::new("pg_catalog.pg_c_utf8");
        let text = sql.filter(&f);
        assert!(!text.contains("DROP"), "{text}");
        assert_eq!(sql.params.len(), 6, "{text}");
    }
}

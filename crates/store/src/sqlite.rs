//! The embedded default: one SQLite file, no server.
//!
//! SQLite in WAL mode gives one writer and many readers across processes;
//! a busy timeout makes a second writer wait its turn instead of failing
//! with "database is locked", and every write is one transaction, so an
//! interrupted ingest keeps exactly what was acknowledged. Vectors are stored
//! as little-endian `f32` blobs beside their records. A search loads a
//! collection's vectors once into memory (reloaded when any process changes
//! the collection, which bumps its version) and scans them exactly with the
//! filter applied first, so filtered searches are never starved.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde_json::{Map, Value};

use crate::backend::{CollectionInfo, NewRecord, Patch, Search, Staged, VectorStore};
use crate::index::{AnnIndex, Bound, HnswParams, Rows};
use crate::quant::{self, Int8Matrix};
use crate::scan::{self, Kernels, Scored};
use crate::{Change, Error, Event, Filter, Hit, Identity, Page, Record, Result, Scope, SearchPath};

/// How long a writer waits for another process's transaction to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    target TEXT
);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    text TEXT NOT NULL,
    user_id TEXT,
    agent_id TEXT,
    run_id TEXT,
    metadata TEXT NOT NULL,
    origin TEXT,
    content_hash TEXT,
    vector BLOB NOT NULL,
    staged BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_collection ON records(collection, seq);
CREATE INDEX IF NOT EXISTS records_by_hash ON records(collection, content_hash);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    memory_id TEXT NOT NULL,
    event TEXT NOT NULL,
    old_memory TEXT,
    new_memory TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_memory ON history(memory_id, seq);
";

const RECORD_COLUMNS: &str =
    "id, text, user_id, agent_id, run_id, metadata, origin, created_at, updated_at";

/// A collection's records and vectors, loaded for searching, with the
/// quantised forms of the vectors built beside them.
struct Loaded {
    version: i64,
    dims: usize,
    /// The collection's identity as stored (JSON), to tell indexes apart.
    identity: String,
    normalized: bool,
    records: Vec<Record>,
    views: Vec<Map<String, Value>>,
    matrix: Vec<f32>,
    int8: Int8Matrix,
    /// Sign bits, `bit_bytes` a row ([`scan::pack_signs`]).
    bits: Vec<u8>,
    bit_bytes: usize,
}

/// The embedded store: one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    loaded: Arc<Mutex<HashMap<String, Arc<Loaded>>>>,
    indexes: Indexes,
    kernel: Kernels,
    threads: usize,
    ef: usize,
}

/// Below this many admitted rows, [`SearchPath::Auto`] scans exactly.
pub const EXACT_BELOW: usize = 20_000;
/// A filter admitting fewer than one row in this many is selective: an
/// approximate search then scans the admitted rows exactly instead.
pub const SELECTIVE_RATIO: usize = 10;
/// Candidates a binary scan keeps for rescoring, per result asked for. On
/// clustered 384-d vectors 10 per result found 85-90% of the true top 10,
/// 20 about 97-98%; rescoring a few hundred rows costs far less than the
/// scan, so 30.
pub const BINARY_OVERSAMPLE: usize = 30;
/// A binary scan keeps at least one candidate per this many admitted rows:
/// the more rows, the more of them share a query's sign pattern (at 1M
/// rows 30 per result found 69% of the true top 10 on the benchmark's
/// vectors). Rescoring 1,000 rows costs a few percent of scanning 1M.
pub const BINARY_ROWS_PER_CANDIDATE: usize = 1_000;
/// Candidates an int8 scan keeps for rescoring, per result asked for.
pub const INT8_OVERSAMPLE: usize = 4;
/// The approximate index's search list (`ef`) by default.
pub const DEFAULT_EF: usize = 128;

/// A search's results and how they were found.
#[derive(Debug, Clone, PartialEq)]
pub struct Searched {
    /// The records nearest the query, best first.
    pub hits: Vec<Hit>,
    /// The path that found them: never [`SearchPath::Auto`]; a forced
    /// approximate search that fell back to an exact scan of the admitted
    /// rows (a selective filter) says [`SearchPath::Exact`].
    pub path: SearchPath,
    /// How many records the filter admitted.
    pub admitted: usize,
}

/// The approximate indexes of a store's collections: in memory, and saved
/// in the directory beside the store's file.
#[derive(Clone)]
struct Indexes {
    dir: PathBuf,
    params: HnswParams,
    bound: Arc<Mutex<HashMap<String, Arc<Bound>>>>,
    /// One index is built or bound at a time.
    building: Arc<Mutex<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("kernel", &self.kernel)
            .field("threads", &self.threads)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`; the parent directory
    /// is created too.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(&path).map_err(|e| Error::db(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| Error::db(&path, e))?;
        // Switching a new file to WAL takes an exclusive lock, and SQLite
        // answers "busy" at once (without the busy handler) when two
        // processes race for it: retry within the busy timeout.
        retry_busy(|| {
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            )
        })
        .map_err(|e| Error::db(&path, e))?;
        // The schema in one write transaction taken up front, so a second
        // process waits for it instead of failing a read-to-write upgrade.
        retry_busy(|| conn.execute_batch("BEGIN IMMEDIATE")).map_err(|e| Error::db(&path, e))?;
        let created = conn
            .execute_batch(SCHEMA)
            .map_err(|e| Error::db(&path, e))
            .and_then(|()| migrate(&conn, &path));
        match created {
            Ok(()) => conn.execute_batch("COMMIT"),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        .map_err(|e| Error::db(&path, e))?;
        let mut dir = path.clone().into_os_string();
        dir.push(".hnsw");
        Ok(SqliteStore {
            path,
            conn: Arc::new(Mutex::new(conn)),
            loaded: Arc::new(Mutex::new(HashMap::new())),
            indexes: Indexes {
                dir: PathBuf::from(dir),
                params: HnswParams::default(),
                bound: Arc::new(Mutex::new(HashMap::new())),
                building: Arc::new(Mutex::new(())),
            },
            kernel: embedrock_core::kernels::detect(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ef: DEFAULT_EF,
        })
    }

    /// Sets the search kernels (the CPU's best by default;
    /// [`embedrock_core::kernels::available`] lists the others).
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernel = kernels;
        self
    }

    /// Sets how approximate indexes are built from now on (M = 32,
    /// ef_construction = 100 by default); an index already saved is kept.
    pub fn with_hnsw(mut self, params: HnswParams) -> Result<Self> {
        self.indexes.params = params.checked()?;
        Ok(self)
    }

    /// Sets the approximate index's search list (`ef`, [`DEFAULT_EF`] by
    /// default): larger finds more of the true nearest, slower.
    pub fn with_ef(mut self, ef: usize) -> Self {
        self.ef = ef.clamp(1, 100_000);
        self
    }

    /// The directory the approximate indexes are saved in.
    pub fn index_dir(&self) -> &Path {
        &self.indexes.dir
    }

    /// Sets the threads a search uses (every core by default).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Path) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| Error::Backend("the store's connection was poisoned".into()))?;
            f(&mut guard, &path)
        })
        .await
        .map_err(|e| Error::Backend(format!("store task failed: {e}")))?
    }

    /// Runs `f` in one immediate (write) transaction and bumps the
    /// collection's version so every process reloads it.
    async fn write<T, F>(&self, collection: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Path) -> Result<T> + Send + 'static,
    {
        let collection = collection.to_string();
        self.with_conn(move |conn, path| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| Error::db(path, e))?;
            require_collection(&tx, path, &collection)?;
            let out = f(&tx, path)?;
            tx.execute(
                "UPDATE collections SET version = version + 1 WHERE name = ?1",
                params![collection],
            )
            .map_err(|e| Error::db(path, e))?;
            tx.commit().map_err(|e| Error::db(path, e))?;
            Ok(out)
        })
        .await
    }

    /// The collection's records and vectors, from memory when still current.
    async fn load(&self, collection: &str) -> Result<Arc<Loaded>> {
        let name = collection.to_string();
        let cached = self
            .loaded
            .lock()
            .map_err(|_| Error::Backend("the store's cache was poisoned".into()))?
            .get(&name)
            .cloned();
        let known = cached.as_ref().map(|l| l.version);
        let fresh = self
            .with_conn(move |conn, path| load_if_changed(conn, path, &name, known))
            .await?;
        match fresh {
            None => cached.ok_or_else(|| Error::Backend("cache vanished".into())),
            Some(loaded) => {
                let loaded = Arc::new(loaded);
                self.loaded
                    .lock()
                    .map_err(|_| Error::Backend("the store's cache was poisoned".into()))?
                    .insert(collection.to_string(), loaded.clone());
                Ok(loaded)
            }
        }
    }
}

/// Runs `op` again while SQLite answers "busy", for up to [`BUSY_TIMEOUT`].
fn retry_busy<T>(mut op: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = std::time::Instant::now();
    loop {
        match op() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Adds the columns a store written by an earlier version lacks.
fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    for (table, column, ddl) in [
        (
            "collections",
            "target",
            "ALTER TABLE collections ADD COLUMN target TEXT",
        ),
        (
            "records",
            "staged",
            "ALTER TABLE records ADD COLUMN staged BLOB",
        ),
    ] {
        let present: bool = conn
            .query_row(
                &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                params![column],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| Error::db(path, e))?
            > 0;
        if !present {
            conn.execute_batch(ddl).map_err(|e| Error::db(path, e))?;
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn require_collection(conn: &Connection, path: &Path, name: &str) -> Result<Identity> {
    read_collection(conn, path, name)?
        .map(|c| c.identity)
        .ok_or_else(|| Error::NotFound(format!("collection {name:?}")))
}

fn read_collection(conn: &Connection, path: &Path, name: &str) -> Result<Option<CollectionInfo>> {
    conn.query_row(
        "SELECT c.name, c.identity, c.created_at, \
         (SELECT count(*) FROM records r WHERE r.collection = c.name), c.target \
         FROM collections c WHERE c.name = ?1",
        params![name],
        collection_row,
    )
    .optional()
    .map_err(|e| Error::db(path, e))?
    .transpose()
}

fn collection_row(row: &Row<'_>) -> rusqlite::Result<Result<CollectionInfo>> {
    let name: String = row.get(0)?;
    let identity: String = row.get(1)?;
    let created_at: i64 = row.get(2)?;
    let records: i64 = row.get(3)?;
    let target: Option<String> = row.get(4)?;
    let parsed = || -> Result<CollectionInfo> {
        let identity = serde_json::from_str(&identity)
            .map_err(|e| Error::Corrupt(format!("collection {name:?} identity: {e}")))?;
        let reembedding = target
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| Error::Corrupt(format!("collection {name:?} re-embed target: {e}")))?;
        Ok(CollectionInfo {
            name: name.clone(),
            identity,
            records: records.max(0) as usize,
            created_at,
            reembedding,
        })
    };
    Ok(parsed())
}

/// The re-embed target of a collection, or an error when none is in progress.
fn require_target(conn: &Connection, path: &Path, name: &str) -> Result<Identity> {
    read_collection(conn, path, name)?
        .ok_or_else(|| Error::NotFound(format!("collection {name:?}")))?
        .reembedding
        .ok_or_else(|| Error::InvalidInput(format!("collection {name} is not being re-embedded")))
}

fn record_row(row: &Row<'_>) -> rusqlite::Result<Result<Record>> {
    let metadata: String = row.get(5)?;
    let origin: Option<String> = row.get(6)?;
    let id: String = row.get(0)?;
    let parsed = || -> Result<Record> {
        let metadata = serde_json::from_str(&metadata)
            .map_err(|e| Error::Corrupt(format!("record {id} metadata: {e}")))?;
        let origin = origin
            .map(|o| serde_json::from_str(&o))
            .transpose()
            .map_err(|e| Error::Corrupt(format!("record {id} origin: {e}")))?;
        Ok(Record {
            id: id.clone(),
            text: row.get(1).map_err(|e| Error::Corrupt(e.to_string()))?,
            scope: Scope {
                user_id: row.get(2).map_err(|e| Error::Corrupt(e.to_string()))?,
                agent_id: row.get(3).map_err(|e| Error::Corrupt(e.to_string()))?,
                run_id: row.get(4).map_err(|e| Error::Corrupt(e.to_string()))?,
            },
            metadata,
            origin,
            created_at: row.get(7).map_err(|e| Error::Corrupt(e.to_string()))?,
            updated_at: row.get(8).map_err(|e| Error::Corrupt(e.to_string()))?,
        })
    };
    Ok(parsed())
}

fn load_if_changed(
    conn: &Connection,
    path: &Path,
    name: &str,
    known: Option<i64>,
) -> Result<Option<Loaded>> {
    let (identity, version): (String, i64) = conn
        .query_row(
            "SELECT identity, version FROM collections WHERE name = ?1",
            params![name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| Error::db(path, e))?
        .ok_or_else(|| Error::NotFound(format!("collection {name:?}")))?;
    if known == Some(version) {
        return Ok(None);
    }
    let parsed: Identity = serde_json::from_str(&identity)
        .map_err(|e| Error::Corrupt(format!("collection {name:?} identity: {e}")))?;
    let dims = parsed.dimensions;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS}, vector FROM records WHERE collection = ?1 ORDER BY seq"
        ))
        .map_err(|e| Error::db(path, e))?;
    let mut rows = stmt.query(params![name]).map_err(|e| Error::db(path, e))?;
    let mut loaded = Loaded {
        version,
        dims,
        identity: String::new(),
        normalized: parsed.normalize,
        records: Vec::new(),
        views: Vec::new(),
        matrix: Vec::new(),
        int8: Int8Matrix::default(),
        bits: Vec::new(),
        bit_bytes: dims.div_ceil(64) * 8,
    };
    while let Some(row) = rows.next().map_err(|e| Error::db(path, e))? {
        let record = record_row(row).map_err(|e| Error::db(path, e))??;
        let blob: Vec<u8> = row.get(9).map_err(|e| Error::db(path, e))?;
        let vector = blob_vector(&blob);
        if vector.len() != dims {
            return Err(Error::Corrupt(format!(
                "record {} has {} dimensions, its collection {}",
                record.id,
                vector.len(),
                dims
            )));
        }
        loaded.matrix.extend_from_slice(&vector);
        loaded.bits.extend(scan::pack_signs(&vector));
        loaded.views.push(record.filter_view());
        loaded.records.push(record);
    }
    loaded.int8 = Int8Matrix::build(&loaded.matrix, dims);
    loaded.identity = identity;
    Ok(Some(loaded))
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

fn record_history(
    tx: &Transaction<'_>,
    path: &Path,
    collection: &str,
    id: &str,
    event: Event,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<()> {
    let event = match event {
        Event::Add => "ADD",
        Event::Update => "UPDATE",
        Event::Delete => "DELETE",
    };
    tx.execute(
        "INSERT INTO history (collection, memory_id, event, old_memory, new_memory, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![collection, id, event, old, new, now_ms()],
    )
    .map_err(|e| Error::db(path, e))?;
    Ok(())
}

fn insert_records(
    tx: &Transaction<'_>,
    path: &Path,
    collection: &str,
    records: Vec<NewRecord>,
) -> Result<Vec<String>> {
    let identity = require_collection(tx, path, collection)?;
    let mut stmt = tx
        .prepare(
            "INSERT INTO records (id, collection, text, user_id, agent_id, run_id, metadata, \
             origin, content_hash, vector, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )
        .map_err(|e| Error::db(path, e))?;
    let mut ids = Vec::with_capacity(records.len());
    for r in records {
        check_vector(&identity, collection, &r.vector)?;
        let id = new_id();
        let origin = r
            .origin
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let hash = r.origin.as_ref().map(|o| o.content_hash.clone());
        stmt.execute(params![
            id,
            collection,
            r.text,
            r.scope.user_id,
            r.scope.agent_id,
            r.scope.run_id,
            Value::Object(r.metadata).to_string(),
            origin,
            hash,
            vector_blob(&r.vector),
            now_ms(),
        ])
        .map_err(|e| Error::db(path, e))?;
        record_history(tx, path, collection, &id, Event::Add, None, Some(&r.text))?;
        ids.push(id);
    }
    Ok(ids)
}

fn get_record(
    conn: &Connection,
    path: &Path,
    collection: &str,
    id: &str,
) -> Result<Option<Record>> {
    conn.query_row(
        &format!("SELECT {RECORD_COLUMNS} FROM records WHERE collection = ?1 AND id = ?2"),
        params![collection, id],
        record_row,
    )
    .optional()
    .map_err(|e| Error::db(path, e))?
    .transpose()
}

fn apply_patch(
    tx: &Transaction<'_>,
    path: &Path,
    collection: &str,
    id: &str,
    patch: Patch,
) -> Result<Record> {
    let identity = require_collection(tx, path, collection)?;
    let old = get_record(tx, path, collection, id)?
        .ok_or_else(|| Error::NotFound(format!("record {id:?} in collection {collection:?}")))?;
    if patch.text.is_some() != patch.vector.is_some() {
        return Err(Error::InvalidInput(
            "a new text needs its new vector, and a vector its text".into(),
        ));
    }
    let now = now_ms();
    if let (Some(text), Some(vector)) = (&patch.text, &patch.vector) {
        check_vector(&identity, collection, vector)?;
        tx.execute(
            "UPDATE records SET text = ?1, vector = ?2, staged = NULL, updated_at = ?3 \
             WHERE id = ?4",
            params![text, vector_blob(vector), now, id],
        )
        .map_err(|e| Error::db(path, e))?;
    }
    if let Some(metadata) = &patch.metadata {
        tx.execute(
            "UPDATE records SET metadata = ?1, updated_at = ?2 WHERE id = ?3",
            params![Value::Object(metadata.clone()).to_string(), now, id],
        )
        .map_err(|e| Error::db(path, e))?;
    }
    let new_text = patch.text.as_deref().unwrap_or(&old.text);
    record_history(
        tx,
        path,
        collection,
        id,
        Event::Update,
        Some(&old.text),
        Some(new_text),
    )?;
    get_record(tx, path, collection, id)?
        .ok_or_else(|| Error::NotFound(format!("record {id:?} in collection {collection:?}")))
}

fn delete_ids(
    tx: &Transaction<'_>,
    path: &Path,
    collection: &str,
    ids: &[(String, String)],
) -> Result<usize> {
    let mut n = 0;
    for (id, text) in ids {
        n += tx
            .execute(
                "DELETE FROM records WHERE collection = ?1 AND id = ?2",
                params![collection, id],
            )
            .map_err(|e| Error::db(path, e))?;
        record_history(tx, path, collection, id, Event::Delete, Some(text), None)?;
    }
    Ok(n)
}

/// Records of a collection the filter admits, in insertion order.
fn filtered(
    conn: &Connection,
    path: &Path,
    collection: &str,
    filter: &Filter,
    page: Option<Page>,
) -> Result<Vec<Record>> {
    require_collection(conn, path, collection)?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE collection = ?1 ORDER BY seq"
        ))
        .map_err(|e| Error::db(path, e))?;
    let mut rows = stmt
        .query(params![collection])
        .map_err(|e| Error::db(path, e))?;
    let (skip, take) = page.map_or((0, usize::MAX), |p| (p.offset, p.limit));
    let mut seen = 0usize;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| Error::db(path, e))? {
        let record = record_row(row).map_err(|e| Error::db(path, e))??;
        if !filter.matches(&record.filter_view()) {
            continue;
        }
        seen += 1;
        if seen > skip {
            out.push(record);
            if out.len() >= take {
                break;
            }
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl VectorStore for SqliteStore {
    async fn ensure_collection(&self, name: &str, identity: &Identity) -> Result<CollectionInfo> {
        check_name(name)?;
        let (name, identity) = (name.to_string(), identity.clone());
        self.with_conn(move |conn, path| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| Error::db(path, e))?;
            if let Some(existing) = read_collection(&tx, path, &name)? {
                existing.identity.check(&name, &identity)?;
                return Ok(existing);
            }
            let json =
                serde_json::to_string(&identity).map_err(|e| Error::Backend(e.to_string()))?;
            // The version starts from the clock, so a collection dropped and
            // created again never repeats a version another handle cached.
            let now = now_ms();
            tx.execute(
                "INSERT INTO collections (name, identity, version, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, json, now.saturating_mul(1000), now],
            )
            .map_err(|e| Error::db(path, e))?;
            let info = read_collection(&tx, path, &name)?
                .ok_or_else(|| Error::Backend("collection vanished".into()))?;
            tx.commit().map_err(|e| Error::db(path, e))?;
            Ok(info)
        })
        .await
    }

    async fn collection(&self, name: &str) -> Result<Option<CollectionInfo>> {
        let name = name.to_string();
        self.with_conn(move |conn, path| read_collection(conn, path, &name))
            .await
    }

    async fn collections(&self) -> Result<Vec<CollectionInfo>> {
        self.with_conn(|conn, path| {
            let mut stmt = conn
                .prepare(
                    "SELECT c.name, c.identity, c.created_at, \
                     (SELECT count(*) FROM records r WHERE r.collection = c.name), c.target \
                     FROM collections c ORDER BY c.name",
                )
                .map_err(|e| Error::db(path, e))?;
            let rows = stmt
                .query_map([], collection_row)
                .map_err(|e| Error::db(path, e))?;
            rows.map(|r| r.map_err(|e| Error::db(path, e))?).collect()
        })
        .await
    }

    async fn drop_collection(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        let dropped = self
            .with_conn({
                let name = name.clone();
                move |conn, path| {
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(|e| Error::db(path, e))?;
                    tx.execute("DELETE FROM history WHERE collection = ?1", params![name])
                        .map_err(|e| Error::db(path, e))?;
                    let n = tx
                        .execute("DELETE FROM collections WHERE name = ?1", params![name])
                        .map_err(|e| Error::db(path, e))?;
                    tx.commit().map_err(|e| Error::db(path, e))?;
                    Ok(n > 0)
                }
            })
            .await?;
        if let Ok(mut cache) = self.loaded.lock() {
            cache.remove(&name);
        }
        let indexes = self.indexes.clone();
        tokio::task::spawn_blocking(move || indexes.forget(&name))
            .await
            .map_err(|e| Error::Backend(format!("index task failed: {e}")))?;
        Ok(dropped)
    }

    async fn insert(&self, collection: &str, records: Vec<NewRecord>) -> Result<Vec<String>> {
        let name = collection.to_string();
        self.write(collection, move |tx, path| {
            insert_records(tx, path, &name, records)
        })
        .await
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        let (name, id) = (collection.to_string(), id.to_string());
        self.with_conn(move |conn, path| {
            require_collection(conn, path, &name)?;
            get_record(conn, path, &name, &id)
        })
        .await
    }

    async fn list(&self, collection: &str, filter: &Filter, page: Page) -> Result<Vec<Record>> {
        page.check()?;
        let (name, filter) = (collection.to_string(), filter.clone());
        self.with_conn(move |conn, path| filtered(conn, path, &name, &filter, Some(page)))
            .await
    }

    async fn search(&self, collection: &str, search: &Search) -> Result<Vec<Hit>> {
        Ok(self.search_traced(collection, search).await?.hits)
    }

    async fn update(&self, collection: &str, id: &str, patch: Patch) -> Result<Record> {
        let (name, id) = (collection.to_string(), id.to_string());
        self.write(collection, move |tx, path| {
            apply_patch(tx, path, &name, &id, patch)
        })
        .await
    }

    async fn delete(&self, collection: &str, id: &str) -> Result<bool> {
        let (name, id) = (collection.to_string(), id.to_string());
        self.write(collection, move |tx, path| {
            let Some(old) = get_record(tx, path, &name, &id)? else {
                return Ok(false);
            };
            Ok(delete_ids(tx, path, &name, &[(old.id, old.text)])? > 0)
        })
        .await
    }

    async fn delete_where(&self, collection: &str, filter: &Filter) -> Result<usize> {
        let (name, filter) = (collection.to_string(), filter.clone());
        self.write(collection, move |tx, path| {
            let doomed: Vec<(String, String)> = filtered(tx, path, &name, &filter, None)?
                .into_iter()
                .map(|r| (r.id, r.text))
                .collect();
            delete_ids(tx, path, &name, &doomed)
        })
        .await
    }

    async fn history(&self, collection: &str, id: &str) -> Result<Vec<Change>> {
        let (name, id) = (collection.to_string(), id.to_string());
        self.with_conn(move |conn, path| {
            let mut stmt = conn
                .prepare(
                    "SELECT memory_id, event, old_memory, new_memory, at FROM history \
                     WHERE collection = ?1 AND memory_id = ?2 ORDER BY seq",
                )
                .map_err(|e| Error::db(path, e))?;
            let rows = stmt
                .query_map(params![name, id], |r| {
                    let event: String = r.get(1)?;
                    Ok(Change {
                        memory_id: r.get(0)?,
                        event: match event.as_str() {
                            "ADD" => Event::Add,
                            "UPDATE" => Event::Update,
                            _ => Event::Delete,
                        },
                        old_memory: r.get(2)?,
                        new_memory: r.get(3)?,
                        at: r.get(4)?,
                    })
                })
                .map_err(|e| Error::db(path, e))?;
            rows.map(|r| r.map_err(|e| Error::db(path, e))).collect()
        })
        .await
    }

    async fn find_by_content_hash(
        &self,
        collection: &str,
        content_hash: &str,
    ) -> Result<Vec<String>> {
        let (name, hash) = (collection.to_string(), content_hash.to_string());
        self.with_conn(move |conn, path| {
            let mut stmt = conn
                .prepare(
                    "SELECT id FROM records WHERE collection = ?1 AND content_hash = ?2 ORDER BY seq",
                )
                .map_err(|e| Error::db(path, e))?;
            let rows = stmt
                .query_map(params![name, hash], |r| r.get::<_, String>(0))
                .map_err(|e| Error::db(path, e))?;
            rows.map(|r| r.map_err(|e| Error::db(path, e))).collect()
        })
        .await
    }

    async fn begin_reembed(&self, collection: &str, target: &Identity) -> Result<CollectionInfo> {
        let (name, target) = (collection.to_string(), target.clone());
        self.with_conn(move |conn, path| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| Error::db(path, e))?;
            let info = read_collection(&tx, path, &name)?
                .ok_or_else(|| Error::NotFound(format!("collection {name:?}")))?;
            match &info.reembedding {
                Some(pending) if *pending == target => return Ok(info),
                Some(pending) => {
                    return Err(Error::InvalidInput(format!(
                        "collection {name} is being re-embedded to {pending}; \
                         finish or abort that before re-embedding to {target}"
                    )))
                }
                None => {}
            }
            let json = serde_json::to_string(&target).map_err(|e| Error::Backend(e.to_string()))?;
            tx.execute(
                "UPDATE records SET staged = NULL WHERE collection = ?1",
                params![name],
            )
            .map_err(|e| Error::db(path, e))?;
            tx.execute(
                "UPDATE collections SET target = ?1 WHERE name = ?2",
                params![json, name],
            )
            .map_err(|e| Error::db(path, e))?;
            let info = read_collection(&tx, path, &name)?
                .ok_or_else(|| Error::Backend("collection vanished".into()))?;
            tx.commit().map_err(|e| Error::db(path, e))?;
            Ok(info)
        })
        .await
    }

    async fn reembed_pending(
        &self,
        collection: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        Page::first(limit).check()?;
        let name = collection.to_string();
        self.with_conn(move |conn, path| {
            require_target(conn, path, &name)?;
            let mut stmt = conn
                .prepare(
                    "SELECT id, text FROM records WHERE collection = ?1 AND staged IS NULL \
                     ORDER BY seq LIMIT ?2",
                )
                .map_err(|e| Error::db(path, e))?;
            let rows = stmt
                .query_map(params![name, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| Error::db(path, e))?;
            rows.map(|r| r.map_err(|e| Error::db(path, e))).collect()
        })
        .await
    }

    async fn stage_vectors(&self, collection: &str, staged: Vec<Staged>) -> Result<usize> {
        let name = collection.to_string();
        self.with_conn(move |conn, path| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| Error::db(path, e))?;
            let target = require_target(&tx, path, &name)?;
            let mut kept = 0;
            for s in &staged {
                check_vector(&target, &name, &s.vector)?;
                kept += tx
                    .execute(
                        "UPDATE records SET staged = ?1 \
                         WHERE collection = ?2 AND id = ?3 AND text = ?4",
                        params![vector_blob(&s.vector), name, s.id, s.text],
                    )
                    .map_err(|e| Error::db(path, e))?;
            }
            tx.commit().map_err(|e| Error::db(path, e))?;
            Ok(kept)
        })
        .await
    }

    async fn finish_reembed(&self, collection: &str) -> Result<CollectionInfo> {
        let name = collection.to_string();
        let info = self
            .write(collection, move |tx, path| {
                let target = require_target(tx, path, &name)?;
                let pending: i64 = tx
                    .query_row(
                        "SELECT count(*) FROM records WHERE collection = ?1 AND staged IS NULL",
                        params![name],
                        |r| r.get(0),
                    )
                    .map_err(|e| Error::db(path, e))?;
                if pending > 0 {
                    return Err(Error::InvalidInput(format!(
                        "collection {name} still has {pending} records to re-embed"
                    )));
                }
                let json =
                    serde_json::to_string(&target).map_err(|e| Error::Backend(e.to_string()))?;
                tx.execute(
                    "UPDATE records SET vector = staged, staged = NULL WHERE collection = ?1",
                    params![name],
                )
                .map_err(|e| Error::db(path, e))?;
                tx.execute(
                    "UPDATE collections SET identity = ?1, target = NULL WHERE name = ?2",
                    params![json, name],
                )
                .map_err(|e| Error::db(path, e))?;
                read_collection(tx, path, &name)?
                    .ok_or_else(|| Error::Backend("collection vanished".into()))
            })
            .await?;
        Ok(info)
    }

    async fn abort_reembed(&self, collection: &str) -> Result<bool> {
        let name = collection.to_string();
        self.write(collection, move |tx, path| {
            let n = tx
                .execute(
                    "UPDATE collections SET target = NULL WHERE name = ?1 AND target IS NOT NULL",
                    params![name],
                )
                .map_err(|e| Error::db(path, e))?;
            tx.execute(
                "UPDATE records SET staged = NULL WHERE collection = ?1",
                params![name],
            )
            .map_err(|e| Error::db(path, e))?;
            Ok(n > 0)
        })
        .await
    }
}

/// The longest collection name accepted, in bytes.
pub const MAX_COLLECTION_NAME: usize = 128;

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_COLLECTION_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "collection names are 1 to {MAX_COLLECTION_NAME} characters of a-z, A-Z, 0-9, '-', '_' or '.', got {name:?}"
        )))
    }
}

impl SqliteStore {
    /// Searches like [`VectorStore::search`] and says which path found the
    /// results. [`SearchPath::Auto`] picks by the rows the filter admits:
    /// fewer than [`EXACT_BELOW`] are scanned exactly; more are searched
    /// through the approximate index when the collection has one (built by
    /// [`SqliteStore::build_index`] or a forced approximate search), holds
    /// unit vectors and the filter is not selective ([`SELECTIVE_RATIO`]);
    /// otherwise by a binary scan rescored in full precision.
    pub async fn search_traced(&self, collection: &str, search: &Search) -> Result<Searched> {
        Page::first(search.top_k).check()?;
        let loaded = self.load(collection).await?;
        if search.vector.len() != loaded.dims {
            return Err(Error::InvalidInput(format!(
                "collection {collection} holds {} dimensions, the query has {}",
                loaded.dims,
                search.vector.len()
            )));
        }
        if search.vector.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidInput(
                "the query vector holds a non-finite value".into(),
            ));
        }
        if search.path == SearchPath::Approximate && !loaded.normalized {
            return Err(Error::InvalidInput(format!(
                "collection {collection} holds vectors that are not unit length; \
                 the approximate index ranks by cosine and needs normalized vectors \
                 (search it with exact, int8 or binary)"
            )));
        }
        let ctx = SearchCtx {
            kernel: self.kernel,
            threads: self.threads,
            ef: self.ef,
        };
        let (indexes, name, search) =
            (self.indexes.clone(), collection.to_string(), search.clone());
        tokio::task::spawn_blocking(move || run_search(&ctx, &indexes, &name, &loaded, &search))
            .await
            .map_err(|e| Error::Backend(format!("search task failed: {e}")))?
    }

    /// Builds (or brings up to date) the collection's approximate index and
    /// saves it beside the store; returns how many vectors it covers.
    pub async fn build_index(&self, collection: &str) -> Result<usize> {
        let loaded = self.load(collection).await?;
        if !loaded.normalized {
            return Err(Error::InvalidInput(format!(
                "collection {collection} holds vectors that are not unit length; \
                 the approximate index needs normalized vectors"
            )));
        }
        let (indexes, name) = (self.indexes.clone(), collection.to_string());
        tokio::task::spawn_blocking(move || {
            let bound = indexes.ensure(&name, &loaded, true)?;
            Ok(bound.map_or(0, |b| b.slot_row.len() - b.dead))
        })
        .await
        .map_err(|e| Error::Backend(format!("index task failed: {e}")))?
    }
}

#[derive(Clone, Copy)]
struct SearchCtx {
    kernel: Kernels,
    threads: usize,
    ef: usize,
}

impl Indexes {
    /// Whether the collection has an index, in memory or saved.
    fn exists(&self, collection: &str, loaded: &Loaded) -> bool {
        let cached = self
            .bound
            .lock()
            .ok()
            .and_then(|m| m.get(collection).cloned());
        cached.is_some_and(|b| b.index.fits(&loaded.identity, loaded.dims))
            || AnnIndex::saved(&self.dir, collection)
    }

    /// The collection's index bound to this version of it: from memory,
    /// else from its saved copy, else built when `build`.
    fn ensure(&self, collection: &str, loaded: &Loaded, build: bool) -> Result<Option<Arc<Bound>>> {
        let _one_at_a_time = self
            .building
            .lock()
            .map_err(|_| Error::Backend("the index lock was poisoned".into()))?;
        let cached = self
            .bound
            .lock()
            .map_err(|_| Error::Backend("the index cache was poisoned".into()))?
            .get(collection)
            .cloned()
            .filter(|b| b.index.fits(&loaded.identity, loaded.dims));
        if let Some(b) = cached.as_ref().filter(|b| b.version == loaded.version) {
            return Ok(Some(b.clone()));
        }
        let rows = Rows {
            ids: loaded.records.iter().map(|r| r.id.as_str()).collect(),
            matrix: &loaded.matrix,
            dims: loaded.dims,
            identity: &loaded.identity,
        };
        let index = match cached.map(|b| b.index.clone()).or_else(|| {
            AnnIndex::open(&self.dir, collection, &loaded.identity, loaded.dims).map(Arc::new)
        }) {
            Some(index) => index,
            None if build => Arc::new(AnnIndex::build(&rows, self.params)),
            None => return Ok(None),
        };
        let mut bound = index.bind(&rows, loaded.version);
        if AnnIndex::worn(&bound) {
            bound = Arc::new(AnnIndex::build(&rows, self.params)).bind(&rows, loaded.version);
        }
        if bound.index.unsaved_enough() {
            bound.index.save(&self.dir, collection)?;
        }
        let bound = Arc::new(bound);
        self.bound
            .lock()
            .map_err(|_| Error::Backend("the index cache was poisoned".into()))?
            .insert(collection.to_string(), bound.clone());
        Ok(Some(bound))
    }

    /// Forgets a collection's index, in memory and on disk.
    fn forget(&self, collection: &str) {
        if let Ok(_one_at_a_time) = self.building.lock() {
            if let Ok(mut m) = self.bound.lock() {
                m.remove(collection);
            }
            AnnIndex::remove(&self.dir, collection);
        }
    }
}

/// Which rows a filter admits (`None`: all), evaluated on every core.
fn admitted_rows(
    filter: &Filter,
    views: &[Map<String, Value>],
    threads: usize,
) -> Option<Vec<bool>> {
    if *filter == Filter::All {
        return None;
    }
    let mut mask = vec![false; views.len()];
    let step = views.len().div_ceil(threads.clamp(1, 64)).max(1024);
    std::thread::scope(|s| {
        for (part, out) in views.chunks(step).zip(mask.chunks_mut(step)) {
            s.spawn(move || {
                for (v, m) in part.iter().zip(out) {
                    *m = filter.matches(v);
                }
            });
        }
    });
    Some(mask)
}

/// The path a search takes, before an approximate search's own fallback.
fn choose_path(
    asked: SearchPath,
    rows: usize,
    admitted: usize,
    normalized: bool,
    has_index: impl FnOnce() -> bool,
) -> SearchPath {
    let selective = admitted.saturating_mul(SELECTIVE_RATIO) < rows;
    match asked {
        SearchPath::Auto if admitted < EXACT_BELOW => SearchPath::Exact,
        SearchPath::Auto if normalized && !selective && has_index() => SearchPath::Approximate,
        SearchPath::Auto => SearchPath::Binary,
        SearchPath::Approximate if selective => SearchPath::Exact,
        other => other,
    }
}

fn run_search(
    ctx: &SearchCtx,
    indexes: &Indexes,
    collection: &str,
    loaded: &Loaded,
    search: &Search,
) -> Result<Searched> {
    let rows = loaded.records.len();
    let mask = admitted_rows(&search.filter, &loaded.views, ctx.threads);
    let admitted = mask
        .as_ref()
        .map_or(rows, |m| m.iter().filter(|x| **x).count());
    let allow = |row: usize| mask.as_ref().is_none_or(|m| m[row]);
    let (q, k) = (&search.vector, search.top_k);
    let mut path = choose_path(search.path, rows, admitted, loaded.normalized, || {
        indexes.exists(collection, loaded)
    });
    let rescore =
        |cands: &[Scored]| quant::rescore(ctx.kernel, &loaded.matrix, loaded.dims, q, cands, k);
    let top = match path {
        SearchPath::Int8 => {
            let cands = loaded
                .int8
                .top_k(ctx.kernel, q, k * INT8_OVERSAMPLE, ctx.threads, &allow);
            rescore(&cands)
        }
        SearchPath::Binary => {
            let qbits = scan::pack_signs(q);
            let n = (k * BINARY_OVERSAMPLE).max(admitted / BINARY_ROWS_PER_CANDIDATE);
            let cands = scan::top_k_binary(
                ctx.kernel,
                &loaded.bits,
                loaded.bit_bytes,
                &qbits,
                n,
                ctx.threads,
                &allow,
            );
            rescore(&cands)
        }
        SearchPath::Approximate => {
            let found = indexes.ensure(collection, loaded, true)?.and_then(|b| {
                let vectors = (&loaded.matrix[..], loaded.dims);
                approximate(ctx, &b, vectors, q, k, admitted, &allow)
            });
            match found {
                Some(cands) => rescore(&cands),
                None => {
                    path = SearchPath::Exact;
                    exact(ctx, loaded, q, k, &allow)
                }
            }
        }
        SearchPath::Exact | SearchPath::Auto => exact(ctx, loaded, q, k, &allow),
    };
    let hits = top
        .into_iter()
        .filter(|s| search.threshold.is_none_or(|t| s.score >= t))
        .map(|s| Hit {
            record: loaded.records[s.row].clone(),
            score: s.score,
        })
        .collect();
    Ok(Searched {
        hits,
        path,
        admitted,
    })
}

fn exact(
    ctx: &SearchCtx,
    loaded: &Loaded,
    q: &[f32],
    k: usize,
    allow: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Scored> {
    scan::top_k(
        ctx.kernel,
        &loaded.matrix,
        loaded.dims,
        q,
        k,
        ctx.threads,
        allow,
    )
}

/// The approximate index's candidates (as rows), growing the search list
/// until `k` admitted rows are found; `None` when even a search list as
/// long as the index does not find them.
fn approximate(
    ctx: &SearchCtx,
    bound: &Bound,
    (matrix, dims): (&[f32], usize),
    q: &[f32],
    k: usize,
    admitted: usize,
    allow: &(dyn Fn(usize) -> bool + Sync),
) -> Option<Vec<Scored>> {
    let need = k.min(admitted);
    let slots = bound.slot_row.len();
    let admit = |slot: usize| {
        bound
            .slot_row
            .get(slot)
            .is_some_and(|r| *r != u32::MAX && allow(*r as usize))
    };
    let filtered = bound.dead > 0 || admitted < slots;
    let mut ef = ctx.ef.max(k);
    loop {
        let found = if filtered {
            bound.search((matrix, dims), ctx.kernel.dot_f32, q, k, ef, &admit)
        } else {
            bound.search((matrix, dims), ctx.kernel.dot_f32, q, k, ef, &|_| true)
        };
        let rows: Vec<Scored> = found
            .into_iter()
            .filter(|(slot, _)| admit(*slot))
            .map(|(slot, d)| Scored {
                row: bound.slot_row[slot] as usize,
                score: 1.0 - d,
            })
            .collect();
        if rows.len() >= need {
            return Some(rows);
        }
        if ef >= slots {
            return None;
        }
        ef = ef.saturating_mul(4).min(slots.max(1));
    }
}

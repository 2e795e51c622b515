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
use crate::scan::{self, Kernel};
use crate::{Change, Error, Event, Filter, Hit, Identity, Page, Record, Result, Scope};

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

/// A collection's records and vectors, loaded for searching.
struct Loaded {
    version: i64,
    dims: usize,
    records: Vec<Record>,
    views: Vec<Map<String, Value>>,
    matrix: Vec<f32>,
}

/// The embedded store: one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    loaded: Arc<Mutex<HashMap<String, Arc<Loaded>>>>,
    kernel: Kernel,
    threads: usize,
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
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| Error::db(&path, e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| Error::db(&path, e))?;
        migrate(&conn, &path)?;
        Ok(SqliteStore {
            path,
            conn: Arc::new(Mutex::new(conn)),
            loaded: Arc::new(Mutex::new(HashMap::new())),
            kernel: Kernel::detect(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Sets the search kernel (the CPU's best by default).
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = kernel;
        self
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
    let identity: Identity = serde_json::from_str(&identity)
        .map_err(|e| Error::Corrupt(format!("collection {name:?} identity: {e}")))?;
    let dims = identity.dimensions;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS}, vector FROM records WHERE collection = ?1 ORDER BY seq"
        ))
        .map_err(|e| Error::db(path, e))?;
    let mut rows = stmt.query(params![name]).map_err(|e| Error::db(path, e))?;
    let mut loaded = Loaded {
        version,
        dims,
        records: Vec::new(),
        views: Vec::new(),
        matrix: Vec::new(),
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
        loaded.views.push(record.filter_view());
        loaded.records.push(record);
    }
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
        Page::first(search.top_k).check()?;
        let loaded = self.load(collection).await?;
        let identity_dims = loaded.dims;
        if search.vector.len() != identity_dims {
            return Err(Error::InvalidInput(format!(
                "collection {collection} holds {identity_dims} dimensions, the query has {}",
                search.vector.len()
            )));
        }
        let (kernel, threads, search) = (self.kernel, self.threads, search.clone());
        tokio::task::spawn_blocking(move || {
            let allow = |row: usize| search.filter.matches(&loaded.views[row]);
            let top = scan::top_k(
                kernel,
                &loaded.matrix,
                loaded.dims,
                &search.vector,
                search.top_k,
                threads,
                &allow,
            );
            top.into_iter()
                .filter(|s| search.threshold.is_none_or(|t| s.score >= t))
                .map(|s| Hit {
                    record: loaded.records[s.row].clone(),
                    score: s.score,
                })
                .collect()
        })
        .await
        .map_err(|e| Error::Backend(format!("search task failed: {e}")))
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

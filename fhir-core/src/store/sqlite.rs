//! The embedded SQLite store.
//!
//! One file in WAL mode: one writer connection (the group-commit writer, `synchronous=FULL` by
//! default, so a commit is durable when the writer answers; [`Synchronous::Normal`] trades the
//! durability of the last commits on power loss for fewer fsyncs) and a pool of read connections, which WAL lets
//! read concurrently with the writer. Bodies are stored as the compact JSON text, in definition
//! order, exactly as returned.
//!
//! # Order of the change sequence
//!
//! Every batch of writes is one `BEGIN IMMEDIATE` transaction, which takes SQLite's single
//! database write lock before it reads anything, so write transactions — of this process and of
//! any other process on the same file — run one after the other. Each write, inside its
//! savepoint, increments the single counter row (`UPDATE change_counter SET value = value + 1
//! … RETURNING value`) and uses the value as its `seq`. Transactions being serialised, `seq`
//! order is commit order; a write that fails is rolled back to its savepoint together with its
//! increment, and a batch that fails rolls back entirely, so no number is lost: the sequence is
//! gap-free. The counter row also keeps the last `last_updated` handed out, so `last_updated`
//! never decreases in `seq` order even if the clock steps back.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};

use super::common::{self, Head, Param, Plan, VERSION_COLUMNS};
use super::records::{self, RecordStore, key_params};
use super::writer::{BatchExecutor, BatchResult, WriteDone, WriteOp, Writer};
use super::{
    DEFAULT_TENANT, HistoryPage, HistoryQuery, Millis, ResourceStore, StoreError, StoredResource,
    UpdateOutcome,
};
use crate::time::now_millis;

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// SQLite's `synchronous` setting of the writer connection (WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is synced to disk before it is acknowledged (the default): an acknowledged
    /// write survives a power loss.
    #[default]
    Full,
    /// The WAL is synced at checkpoints only: an acknowledged write survives a crash of the
    /// process, but the last commits may be lost on power loss (the database stays consistent).
    Normal,
}

impl FromStr for Synchronous {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            other => Err(format!(
                "'{other}' is not a SQLite synchronous setting (full or normal)"
            )),
        }
    }
}

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteOptions {
    /// The `synchronous` setting of the writer.
    pub synchronous: Synchronous,
}

/// The SQLite implementation of [`ResourceStore`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    read: SqlitePool,
    writer: Writer,
}

/// The file named by a `sqlite:` URL (`sqlite:data/fhir.db`, `sqlite://data/fhir.db`,
/// `sqlite:///abs/fhir.db`); a query string is ignored.
fn parse_url(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or_default();
    if rest.is_empty() || rest == ":memory:" || rest.starts_with(":memory:") {
        return Err(StoreError::Invalid(format!(
            "'{url}' does not name a database file (in-memory SQLite is not supported)"
        )));
    }
    Ok(PathBuf::from(rest))
}

impl SqliteStore {
    /// Opens with the default options; see [`SqliteStore::open_with`].
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(url, SqliteOptions::default()).await
    }

    /// Opens (creating if missing, with its parent directory) the database file named by a
    /// `sqlite:PATH` URL, applies the migrations, makes sure the default tenant exists and
    /// starts the writer. Must be called within a tokio runtime.
    pub async fn open_with(url: &str, settings: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = parse_url(url)?;
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(match settings.synchronous {
                        Synchronous::Full => SqliteSynchronous::Full,
                        Synchronous::Normal => SqliteSynchronous::Normal,
                    }),
            )
            .await?;
        {
            let mut conn = write_pool.acquire().await?;
            super::migrate::run_sqlite(&mut conn).await?;
            sqlx::query(
                "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(DEFAULT_TENANT)
            .bind(crate::time::now_millis())
            .execute(&mut *conn)
            .await?;
        }
        let readers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(4, 16) as u32;
        // A connection to a local file does not go bad: no ping before each acquire (a round
        // trip to the connection's worker thread, as costly as the read itself). Idle
        // connections still close after the pool's idle timeout, which frees their page caches.
        let read = SqlitePoolOptions::new()
            .max_connections(readers)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let writer = Writer::spawn(SqliteExecutor { pool: write_pool });
        Ok(SqliteStore { path, read, writer })
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The number of write transactions committed by this store's writer (one per batch); for
    /// tests of group commit.
    #[doc(hidden)]
    pub fn commit_count(&self) -> u64 {
        self.writer.commits()
    }

    async fn fetch_versions(
        &self,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<StoredResource>, StoreError> {
        let mut conn = self.read.acquire().await?;
        fetch_versions(&mut conn, sql, params).await
    }
}

fn bind_params<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    params: &'q [Param],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Int(int) => query.bind(*int),
        };
    }
    query
}

async fn fetch_versions(
    conn: &mut SqliteConnection,
    sql: &str,
    params: &[Param],
) -> Result<Vec<StoredResource>, StoreError> {
    let rows = bind_params(sqlx::query(sql), params)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| decode(row).map_err(StoreError::from))
        .collect()
}

fn decode(row: &SqliteRow) -> Result<StoredResource, sqlx::Error> {
    let body: Option<String> = row.try_get("body")?;
    Ok(StoredResource {
        tenant: row.try_get("tenant")?,
        resource_type: row.try_get("resource_type")?,
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        seq: row.try_get("seq")?,
        last_updated: row.try_get("last_updated")?,
        deleted: row.try_get("deleted")?,
        body: Arc::from(body.unwrap_or_default()),
    })
}

fn select_versions() -> String {
    format!("SELECT {VERSION_COLUMNS}, v.body ")
}

#[async_trait]
impl ResourceStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        self.writer.create_tenant(tenant).await
    }

    async fn list_tenants(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let rows = sqlx::query("SELECT name FROM tenants ORDER BY name")
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    async fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        let mut conn = self.read.acquire().await?;
        Ok(sqlx::query("SELECT 1 FROM tenants WHERE name = $1")
            .bind(tenant)
            .fetch_optional(&mut *conn)
            .await?
            .is_some())
    }

    async fn create(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        resource: Value,
    ) -> Result<StoredResource, StoreError> {
        self.writer
            .create(tenant, resource_type, id, resource)
            .await
    }

    async fn update(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        resource: Value,
        if_match: Option<i64>,
    ) -> Result<UpdateOutcome, StoreError> {
        self.writer
            .update(tenant, resource_type, id, resource, if_match)
            .await
    }

    async fn delete(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.writer
            .delete(tenant, resource_type, id, if_match)
            .await
    }

    async fn transaction(
        &self,
        tenant: &str,
        writes: Vec<super::TxWrite>,
    ) -> Result<Vec<super::TxDone>, StoreError> {
        self.writer.transaction(tenant, writes).await
    }

    async fn read(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql = format!(
            "{}FROM resource_versions v WHERE v.tenant = $1 AND v.resource_type = $2 \
             AND v.id = $3 ORDER BY v.version DESC LIMIT 1",
            select_versions()
        );
        let params = [
            Param::Text(tenant.to_owned()),
            Param::Text(resource_type.to_owned()),
            Param::Text(id.to_owned()),
        ];
        Ok(self.fetch_versions(&sql, &params).await?.pop())
    }

    async fn vread(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql = format!(
            "{}FROM resource_versions v WHERE v.tenant = $1 AND v.resource_type = $2 \
             AND v.id = $3 AND v.version = $4",
            select_versions()
        );
        let params = [
            Param::Text(tenant.to_owned()),
            Param::Text(resource_type.to_owned()),
            Param::Text(id.to_owned()),
            Param::Int(version),
        ];
        Ok(self.fetch_versions(&sql, &params).await?.pop())
    }

    async fn history(&self, tenant: &str, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        let (filter, mut params) = common::history_filter(tenant, query, true);
        // One read transaction: the count and the page see the same snapshot.
        let mut conn = self.read.acquire().await?;
        let mut tx = conn.begin().await?;
        let total: i64 = bind_params(sqlx::query(&format!("SELECT count(*) {filter}")), &params)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let mut sql = format!("{}{filter}", select_versions());
        if let Some(before) = query.before_seq {
            params.push(Param::Int(before));
            sql.push_str(&format!(" AND v.seq < ${}", params.len()));
        }
        params.push(Param::Int(common::limit(query.count).saturating_add(1)));
        sql.push_str(&format!(" ORDER BY v.seq DESC LIMIT ${}", params.len()));
        let entries = fetch_versions(&mut tx, &sql, &params).await?;
        tx.commit().await?;
        Ok(common::page(entries, query.count, total))
    }

    async fn changes(
        &self,
        tenant: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let sql = format!(
            "{}FROM resource_versions v WHERE v.tenant = $1 AND v.seq > $2 \
             ORDER BY v.seq LIMIT $3",
            select_versions()
        );
        let params = [
            Param::Text(tenant.to_owned()),
            Param::Int(after_seq),
            Param::Int(common::limit(limit)),
        ];
        self.fetch_versions(&sql, &params).await
    }

    async fn changes_all(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let sql = format!(
            "{}FROM resource_versions v WHERE v.seq > $1 ORDER BY v.seq LIMIT $2",
            select_versions()
        );
        let params = [Param::Int(after_seq), Param::Int(common::limit(limit))];
        self.fetch_versions(&sql, &params).await
    }

    async fn last_seq_of_types(&self, tenant: &str, types: &[&str]) -> Result<i64, StoreError> {
        let mut conn = self.read.acquire().await?;
        let mut last = 0;
        for resource_type in types {
            let seq: Option<i64> = sqlx::query_scalar(
                "SELECT max(seq) FROM resource_versions WHERE tenant = $1 AND resource_type = $2",
            )
            .bind(tenant)
            .bind(resource_type)
            .fetch_one(&mut *conn)
            .await?;
            last = last.max(seq.unwrap_or(0));
        }
        Ok(last)
    }

    fn change_feed(&self) -> Option<Arc<super::feed::ChangeFeed>> {
        Some(self.writer.subscribe())
    }

    async fn head_seq(&self) -> Result<i64, StoreError> {
        let mut conn = self.read.acquire().await?;
        let seq: i64 = sqlx::query_scalar("SELECT value FROM change_counter")
            .fetch_one(&mut *conn)
            .await?;
        Ok(seq)
    }

    async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
    }
}

/// Runs batches on the single writer connection.
struct SqliteExecutor {
    pool: SqlitePool,
}

impl BatchExecutor for SqliteExecutor {
    async fn execute(&mut self, ops: Vec<&WriteOp>) -> BatchResult {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut answers = Vec::with_capacity(ops.len());
        for op in ops {
            let mut savepoint = Connection::begin(&mut *tx).await?;
            match apply(&mut savepoint, op).await {
                Ok(done) => {
                    savepoint.commit().await?;
                    answers.push(Ok(done));
                }
                Err(error) => {
                    savepoint.rollback().await?;
                    answers.push(Err(error));
                }
            }
        }
        tx.commit().await?;
        Ok(answers)
    }
}

/// Applies one write inside its savepoint.
async fn apply(conn: &mut SqliteConnection, op: &WriteOp) -> Result<WriteDone, StoreError> {
    let WriteOp::Group { ops } = op else {
        return apply_one(conn, op).await;
    };
    // The executor runs the group in one savepoint: an error here rolls back all of it.
    if let Some(tenant) = common::group_tenant(ops) {
        return apply_group(conn, tenant, ops).await;
    }
    let mut answers = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        let answer = apply_one(conn, op)
            .await
            .map_err(|error| StoreError::InGroup {
                index,
                error: Box::new(error),
            })?;
        answers.push(answer);
    }
    Ok(WriteDone::Group(answers))
}

/// A group of one tenant, with five statements whatever its size (a Synthea patient is ~2,000
/// writes; one round trip to SQLite's thread per statement and write was most of its time):
/// the heads of every resource it writes, the change counter, planning in memory
/// ([`common::plan_group`]), then every version and every head row, each with one
/// `INSERT … SELECT FROM json_each(…)`.
async fn apply_group(
    conn: &mut SqliteConnection,
    tenant: &str,
    ops: &[WriteOp],
) -> Result<WriteDone, StoreError> {
    let first_error = |error: sqlx::Error| StoreError::InGroup {
        index: 0,
        error: Box::new(common::write_error(&ops[0], error)),
    };
    if sqlx::query("SELECT 1 FROM tenants WHERE name = $1")
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await
        .map_err(first_error)?
        .is_none()
    {
        return Err(StoreError::InGroup {
            index: 0,
            error: Box::new(StoreError::UnknownTenant(tenant.to_owned())),
        });
    }
    let keys: Vec<[&str; 2]> = ops
        .iter()
        .filter_map(common::resource_key)
        .map(|(_, resource_type, id)| [resource_type, id])
        .collect();
    // CROSS JOIN makes the keys the outer loop (each a primary-key lookup); left to itself the
    // planner may scan every resource of the tenant and walk the JSON for each.
    let heads = sqlx::query(
        "SELECT r.resource_type, r.id, r.version, r.deleted \
         FROM json_each($2) AS k CROSS JOIN resources AS r ON r.tenant = $1 \
         AND r.resource_type = json_extract(k.value, '$[0]') AND r.id = json_extract(k.value, '$[1]')",
    )
    .bind(tenant)
    .bind(serde_json::to_string(&keys).unwrap_or_default())
    .fetch_all(&mut *conn)
    .await
    .map_err(first_error)?
    .into_iter()
    .map(|row| {
        Ok::<_, sqlx::Error>((
            (row.try_get(0)?, row.try_get(1)?),
            common::Head {
                version: row.try_get(2)?,
                deleted: row.try_get(3)?,
            },
        ))
    })
    .collect::<Result<_, _>>()
    .map_err(first_error)?;
    let counter =
        sqlx::query("SELECT value, max(last_millis, $1) FROM change_counter WHERE id = 1")
            .bind(crate::time::now_millis())
            .fetch_one(&mut *conn)
            .await
            .map_err(first_error)?;
    let (last_seq, last_updated): (i64, i64) = (
        counter.try_get(0).map_err(first_error)?,
        counter.try_get(1).map_err(first_error)?,
    );
    let rows = common::plan_group(ops, heads, last_updated)?;
    if !rows.is_empty() {
        write_group_rows(conn, tenant, &rows, last_seq + 1, last_updated)
            .await
            .map_err(first_error)?;
    }
    Ok(WriteDone::Group(common::group_answers(
        tenant,
        ops.len(),
        rows,
        last_seq + 1,
        last_updated,
    )))
}

/// The rows of one `INSERT INTO resource_versions … VALUES` statement, largest first.
const VERSION_CHUNKS: [usize; 8] = [128, 64, 32, 16, 8, 4, 2, 1];

/// `INSERT INTO resource_versions` of `rows` rows: `$1` the tenant, `$2` last_updated, then per
/// row type, id, version, seq, deleted and body.
fn insert_versions_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO resource_versions \
         (tenant, resource_type, id, version, seq, last_updated, deleted, body) VALUES ",
    );
    for row in 0..rows {
        let p = 3 + row * 6;
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "($1, ${}, ${}, ${}, ${}, $2, ${}, ${})",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        ));
    }
    sql
}

/// Writes a planned group: the change counter, every version with multi-row `INSERT … VALUES`
/// statements, and every head row with one `INSERT … SELECT FROM json_each(…)`.
async fn write_group_rows(
    conn: &mut SqliteConnection,
    tenant: &str,
    rows: &[common::GroupRow<'_>],
    first_seq: i64,
    last_updated: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE change_counter SET value = value + $1, last_millis = $2 WHERE id = 1")
        .bind(rows.len() as i64)
        .bind(last_updated)
        .execute(&mut *conn)
        .await?;
    // The versions with their bodies bound as they are (no JSON array to escape the bodies
    // into and parse them out of again), in chunks of fixed sizes so that few statements are
    // prepared and cached.
    let mut rest = rows;
    let mut seq = first_seq;
    while !rest.is_empty() {
        let size = VERSION_CHUNKS
            .iter()
            .copied()
            .find(|&size| size <= rest.len())
            .unwrap_or(1);
        let (chunk, after) = rest.split_at(size);
        let sql = insert_versions_sql(size);
        let mut query = sqlx::query(&sql).bind(tenant).bind(last_updated);
        for row in chunk {
            query = query
                .bind(row.resource_type)
                .bind(row.id)
                .bind(row.version)
                .bind(seq)
                .bind(row.deleted)
                .bind(row.body.as_deref());
            seq += 1;
        }
        query.execute(&mut *conn).await?;
        rest = after;
    }
    let heads: Vec<Value> = rows
        .iter()
        .map(|row| serde_json::json!([row.resource_type, row.id, row.version, row.deleted]))
        .collect();
    let versions = serde_json::to_string(&heads).unwrap_or_default();
    // `WHERE true`: SQLite needs it to tell the upsert clause from a join's ON.
    sqlx::query(
        "INSERT INTO resources (tenant, resource_type, id, version, deleted, last_updated) \
         SELECT $1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
         json_extract(value, '$[2]'), json_extract(value, '$[3]'), $2 FROM json_each($3) WHERE true \
         ON CONFLICT (tenant, resource_type, id) DO UPDATE SET version = excluded.version, \
         deleted = excluded.deleted, last_updated = excluded.last_updated",
    )
    .bind(tenant)
    .bind(last_updated)
    .bind(&versions)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_one(conn: &mut SqliteConnection, op: &WriteOp) -> Result<WriteDone, StoreError> {
    apply_inner(conn, op).await.map_err(|error| match error {
        StoreError::Database(e) => common::write_error(op, e),
        other => other,
    })
}

async fn apply_inner(conn: &mut SqliteConnection, op: &WriteOp) -> Result<WriteDone, StoreError> {
    let (tenant, resource_type, id) = match op {
        WriteOp::CreateTenant { tenant } => {
            sqlx::query("INSERT INTO tenants (name, created_at) VALUES ($1, $2)")
                .bind(tenant)
                .bind(crate::time::now_millis())
                .execute(&mut *conn)
                .await?;
            return Ok(WriteDone::Tenant);
        }
        _ => common::resource_key(op).ok_or_else(|| StoreError::Invalid("no resource".into()))?,
    };
    if sqlx::query("SELECT 1 FROM tenants WHERE name = $1")
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await?
        .is_none()
    {
        return Err(StoreError::UnknownTenant(tenant.to_owned()));
    }
    let head = sqlx::query(
        "SELECT version, deleted FROM resources \
         WHERE tenant = $1 AND resource_type = $2 AND id = $3",
    )
    .bind(tenant)
    .bind(resource_type)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| {
        Ok::<_, sqlx::Error>(Head {
            version: row.try_get(0)?,
            deleted: row.try_get(1)?,
        })
    })
    .transpose()?;
    let Plan::Write {
        version,
        deleted,
        created,
    } = common::plan(op, head)?
    else {
        return Ok(WriteDone::Nothing);
    };
    let counter = sqlx::query(
        "UPDATE change_counter SET value = value + 1, last_millis = max(last_millis, $1) \
         WHERE id = 1 RETURNING value, last_millis",
    )
    .bind(crate::time::now_millis())
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = counter.try_get(0)?;
    let last_updated: i64 = counter.try_get(1)?;
    let body = match op {
        WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } if !deleted => Some(
            common::make_body(resource_type, id, version, last_updated, resource)?,
        ),
        _ => None,
    };
    sqlx::query(
        "INSERT INTO resource_versions \
         (tenant, resource_type, id, version, seq, last_updated, deleted, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant)
    .bind(resource_type)
    .bind(id)
    .bind(version)
    .bind(seq)
    .bind(last_updated)
    .bind(deleted)
    .bind(body.as_deref())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO resources (tenant, resource_type, id, version, deleted, last_updated) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant, resource_type, id) DO UPDATE SET version = excluded.version, \
         deleted = excluded.deleted, last_updated = excluded.last_updated",
    )
    .bind(tenant)
    .bind(resource_type)
    .bind(id)
    .bind(version)
    .bind(deleted)
    .bind(last_updated)
    .execute(&mut *conn)
    .await?;
    Ok(WriteDone::Stored {
        resource: StoredResource {
            tenant: tenant.to_owned(),
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            version,
            last_updated,
            seq,
            deleted,
            body: Arc::from(body.unwrap_or_default()),
        },
        created,
    })
}

/// Records: reads on the read pool; each write is one `BEGIN IMMEDIATE` transaction on it, so it
/// waits (busy timeout) for the group-commit writer instead of failing on a stale snapshot.
impl SqliteStore {
    /// Runs a record statement; `writes` runs it in its own immediate transaction.
    async fn record_query(
        &self,
        _tenant: &str,
        writes: bool,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<SqliteRow>, StoreError> {
        if !writes {
            return Ok(bind_params(sqlx::query(sql), params)
                .fetch_all(&self.read)
                .await?);
        }
        let mut tx = self.read.begin_with("BEGIN IMMEDIATE").await?;
        let rows = bind_params(sqlx::query(sql), params)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Runs a record statement that writes; returns the rows it changed.
    async fn record_write(
        &self,
        _tenant: &str,
        sql: &str,
        params: &[Param],
    ) -> Result<u64, StoreError> {
        let mut tx = self.read.begin_with("BEGIN IMMEDIATE").await?;
        let done = bind_params(sqlx::query(sql), params)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn record_get(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let rows = self
            .record_query(
                tenant,
                false,
                records::sql::GET,
                &key_params(tenant, kind, key, &[Param::Int(now_millis())]),
            )
            .await?;
        Ok(rows.first().map(|row| row.try_get(0)).transpose()?)
    }

    async fn record_put(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
        value: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let params = key_params(
            tenant,
            kind,
            key,
            &[Param::Text(value.into()), Param::Int(expires_at)],
        );
        self.record_write(tenant, records::sql::PUT, &params)
            .await?;
        Ok(())
    }

    async fn record_insert(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
        value: &str,
        expires_at: Millis,
    ) -> Result<bool, StoreError> {
        let params = key_params(
            tenant,
            kind,
            key,
            &[
                Param::Text(value.into()),
                Param::Int(expires_at),
                Param::Int(now_millis()),
            ],
        );
        Ok(self
            .record_write(tenant, records::sql::INSERT, &params)
            .await?
            == 1)
    }

    async fn record_take(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let params = key_params(tenant, kind, key, &[Param::Int(now_millis())]);
        let rows = self
            .record_query(tenant, true, records::sql::TAKE, &params)
            .await?;
        match rows.first() {
            Some(row) if row.try_get::<bool, _>(1)? => Ok(Some(row.try_get(0)?)),
            _ => Ok(None),
        }
    }

    async fn record_replace(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
        expected: &str,
        value: &str,
        expires_at: Millis,
    ) -> Result<bool, StoreError> {
        let params = key_params(
            tenant,
            kind,
            key,
            &[
                Param::Text(expected.into()),
                Param::Text(value.into()),
                Param::Int(expires_at),
                Param::Int(now_millis()),
            ],
        );
        Ok(self
            .record_write(tenant, records::sql::REPLACE, &params)
            .await?
            == 1)
    }

    async fn record_delete(&self, tenant: &str, kind: &str, key: &str) -> Result<bool, StoreError> {
        let params = key_params(tenant, kind, key, &[Param::Int(now_millis())]);
        Ok(self
            .record_write(tenant, records::sql::DELETE, &params)
            .await?
            == 1)
    }

    async fn record_list(
        &self,
        tenant: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let params = [
            Param::Text(tenant.into()),
            Param::Text(kind.into()),
            Param::Int(now_millis()),
        ];
        let rows = self
            .record_query(tenant, false, records::sql::LIST, &params)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    async fn record_purge_expired(&self, tenant: &str) -> Result<u64, StoreError> {
        let params = [Param::Text(tenant.into()), Param::Int(now_millis())];
        self.record_write(tenant, records::sql::PURGE, &params)
            .await
    }
}

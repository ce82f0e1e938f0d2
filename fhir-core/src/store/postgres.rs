//! The PostgreSQL store: bodies in JSONB, tenants isolated twice.
//!
//! Every query of the application names its tenant (`tenant = $1`), and row-level security
//! enforces the same independently: the tables with a tenant column have a policy that shows and
//! accepts only the rows of the tenant in the transaction-local setting `app.tenant` (nothing when
//! it is unset), `FORCE ROW LEVEL SECURITY` is on, and the pooled connections work as the role
//! `fhir_app` (`SET ROLE` when they connect), which owns nothing and cannot bypass row-level
//! security, even when the connecting user is a superuser. Every operation, reads included, runs
//! in a transaction that begins with `SELECT set_config('app.tenant', $1, true)`. The migrations
//! run as the connecting user, who owns the tables.
//!
//! JSONB does not keep the order of keys, so bodies are re-serialised in definition order when
//! read.
//!
//! # Order of the change sequence
//!
//! Writes are gathered by the group-commit writer into one transaction per batch. Each write, in
//! its savepoint, first locks its head row (`SELECT … FOR UPDATE`; the version it writes is the
//! locked current version + 1, so concurrent updates never lose one), then increments the single
//! counter row (`UPDATE change_counter SET value = value + 1 … RETURNING value`) and uses the
//! value as its `seq`. The counter row stays locked until the transaction commits or rolls back,
//! so any other transaction that wants a number — another batch, or another server process on the
//! same database — waits until the holder has committed and then reads the committed value:
//! numbers are handed out in commit order, and a follower never sees `seq` N + 1 committed before
//! N. A rolled back write (its savepoint, or the whole transaction) takes its increment with it,
//! so the sequence is gap-free. The price is that write transactions on one database are
//! serialised from their first increment to their commit, which the group commit amortises.
//! Between processes, two batches can wait for each other (one holds the counter, the other a
//! head row it wants); PostgreSQL then aborts one of the writes as a deadlock, which is answered
//! with [`StoreError::Conflict`] (safe to retry) while the rest of its batch commits.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, Postgres, Row, Transaction};

use super::common::{self, Head, Param, Plan, VERSION_COLUMNS};
use super::records::{self, RecordStore, key_params};
use super::writer::{BatchExecutor, BatchResult, WriteDone, WriteOp, Writer};
use super::{
    DEFAULT_TENANT, HistoryPage, HistoryQuery, Millis, ResourceStore, StoreError, StoredResource,
    UpdateOutcome,
};
use crate::time::now_millis;

/// The role the pooled connections work as.
pub const APP_ROLE: &str = "fhir_app";

/// Options of [`PostgresStore::open_with`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// The size of the connection pool (reads and the writer share it).
    pub max_connections: u32,
    /// Test switch: `false` leaves the `tenant = $1` predicate out of the read queries (read,
    /// vread, history, changes), so that tests can prove that row-level security alone
    /// isolates tenants. Always `true` in production.
    #[doc(hidden)]
    pub tenant_filter: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            tenant_filter: true,
        }
    }
}

/// The PostgreSQL implementation of [`ResourceStore`].
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    writer: Writer,
    tenant_filter: bool,
}

impl PostgresStore {
    /// Connects with the default options; see [`PostgresStore::open_with`].
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database of a `postgres://` URL, applies the migrations as the connecting
    /// user, makes sure the default tenant exists, opens the pool (every connection switches to
    /// the role [`APP_ROLE`]) and starts the writer. Must be called within a tokio runtime.
    pub async fn open_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<PostgresStore, StoreError> {
        let connect: PgConnectOptions = url.parse()?;
        let mut conn = PgConnection::connect_with(&connect).await?;
        super::migrate::run_postgres(&mut conn).await?;
        sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(DEFAULT_TENANT)
        .bind(crate::time::now_millis())
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET ROLE fhir_app").execute(conn).await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        let writer = Writer::spawn(PgExecutor { pool: pool.clone() });
        Ok(PostgresStore {
            pool,
            writer,
            tenant_filter: options.tenant_filter,
        })
    }

    /// The number of write transactions committed by this store's writer (one per batch); for
    /// tests of group commit.
    #[doc(hidden)]
    pub fn commit_count(&self) -> u64 {
        self.writer.commits()
    }

    /// The tenant predicate of read queries (`$1` is the tenant).
    fn tenant_predicate(&self) -> &'static str {
        if self.tenant_filter {
            "v.tenant = $1"
        } else {
            "$1::text IS NOT NULL"
        }
    }

    /// Begins a read-only transaction for a tenant.
    async fn read_tx(
        &self,
        tenant: &str,
        begin: &'static str,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        // A tenant name of plain characters (every name the server accepts) goes into the
        // BEGIN itself: one simple query, one round trip instead of two.
        let plain = !tenant.is_empty()
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if plain {
            let begin = format!("{begin}; SELECT set_config('app.tenant', '{tenant}', true)");
            return Ok(self.pool.begin_with(begin).await?);
        }
        let mut tx = self.pool.begin_with(begin).await?;
        set_tenant(&mut tx, tenant).await?;
        Ok(tx)
    }

    async fn fetch_versions(
        &self,
        tenant: &str,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<StoredResource>, StoreError> {
        let mut tx = self.read_tx(tenant, "BEGIN READ ONLY").await?;
        let entries = fetch_versions(&mut tx, sql, params).await?;
        tx.commit().await?;
        Ok(entries)
    }
}

async fn set_tenant(conn: &mut PgConnection, tenant: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('app.tenant', $1, true)")
        .bind(tenant)
        .execute(conn)
        .await?;
    Ok(())
}

fn bind_params<'q>(
    mut query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    params: &'q [Param],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Int(int) => query.bind(*int),
        };
    }
    query
}

async fn fetch_versions(
    conn: &mut PgConnection,
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

/// `true` when JSONB keeps every number of the JSON text as written. JSONB stores numbers as
/// `numeric`, which keeps digits and scale (`1.50` stays `1.50`) but not exponents (`1E-22`
/// comes back as `0.0000000000000000000001`) nor negative zero. FHIR decimals must keep their
/// written form, so the few bodies with such numbers are also stored as text in `body_exact`.
fn jsonb_keeps_numbers(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    for (index, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'e' | b'E' => return false,
            b'-' if bytes.get(index + 1) == Some(&b'0') => {
                let rest = &bytes[index + 1..];
                let end = rest
                    .iter()
                    .position(|b| !(b.is_ascii_digit() || *b == b'.'))
                    .unwrap_or(rest.len());
                if rest[..end].iter().all(|b| *b == b'0' || *b == b'.') {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// Re-serialises a JSONB text in definition order.
fn body_from_jsonb(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => crate::json::to_string(&value),
        Err(_) => text.to_owned(),
    }
}

fn decode(row: &PgRow) -> Result<StoredResource, sqlx::Error> {
    let body: Option<String> = row.try_get("body")?;
    Ok(StoredResource {
        tenant: row.try_get("tenant")?,
        resource_type: row.try_get("resource_type")?,
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        seq: row.try_get("seq")?,
        last_updated: row.try_get("last_updated")?,
        deleted: row.try_get("deleted")?,
        body: Arc::from(body.as_deref().map(body_from_jsonb).unwrap_or_default()),
    })
}

fn select_versions() -> String {
    format!("SELECT {VERSION_COLUMNS}, COALESCE(v.body_exact, v.body::text) AS body ")
}

#[async_trait]
impl ResourceStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn create_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        self.writer.create_tenant(tenant).await
    }

    async fn list_tenants(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    async fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM tenants WHERE name = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
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
            "{}FROM resource_versions v WHERE {} AND v.resource_type = $2 AND v.id = $3 \
             ORDER BY v.version DESC LIMIT 1",
            select_versions(),
            self.tenant_predicate()
        );
        let params = [
            Param::Text(tenant.to_owned()),
            Param::Text(resource_type.to_owned()),
            Param::Text(id.to_owned()),
        ];
        Ok(self.fetch_versions(tenant, &sql, &params).await?.pop())
    }

    async fn vread(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql = format!(
            "{}FROM resource_versions v WHERE {} AND v.resource_type = $2 AND v.id = $3 \
             AND v.version = $4",
            select_versions(),
            self.tenant_predicate()
        );
        let params = [
            Param::Text(tenant.to_owned()),
            Param::Text(resource_type.to_owned()),
            Param::Text(id.to_owned()),
            Param::Int(version),
        ];
        Ok(self.fetch_versions(tenant, &sql, &params).await?.pop())
    }

    async fn history(&self, tenant: &str, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        let (filter, mut params) = common::history_filter(tenant, query, self.tenant_filter);
        // One snapshot for the count and the page.
        let mut tx = self
            .read_tx(tenant, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
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
            "{}FROM resource_versions v WHERE {} AND v.seq > $2 ORDER BY v.seq LIMIT $3",
            select_versions(),
            self.tenant_predicate()
        );
        let params = [
            Param::Text(tenant.to_owned()),
            Param::Int(after_seq),
            Param::Int(common::limit(limit)),
        ];
        self.fetch_versions(tenant, &sql, &params).await
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
        let mut tx = self.pool.begin_with("BEGIN READ ONLY").await?;
        // The one path past row-level security: the indexer role may read every tenant's
        // versions (and nothing else); `SET LOCAL` ends with the transaction.
        sqlx::query("SET LOCAL ROLE fhir_indexer")
            .execute(&mut *tx)
            .await?;
        let entries = fetch_versions(&mut tx, &sql, &params).await?;
        tx.commit().await?;
        Ok(entries)
    }

    async fn last_seq_of_types(&self, tenant: &str, types: &[&str]) -> Result<i64, StoreError> {
        let mut tx = self.read_tx(tenant, "BEGIN READ ONLY").await?;
        let sql = format!(
            "SELECT max(v.seq) FROM resource_versions v WHERE {} AND v.resource_type = $2",
            self.tenant_predicate()
        );
        let mut last = 0;
        for resource_type in types {
            let seq: Option<i64> = sqlx::query_scalar(&sql)
                .bind(tenant)
                .bind(resource_type)
                .fetch_one(&mut *tx)
                .await?;
            last = last.max(seq.unwrap_or(0));
        }
        tx.commit().await?;
        Ok(last)
    }

    fn change_feed(&self) -> Option<Arc<super::feed::ChangeFeed>> {
        Some(self.writer.subscribe())
    }

    async fn head_seq(&self) -> Result<i64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT value FROM change_counter")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq)
    }

    async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Runs batches on a pooled connection.
struct PgExecutor {
    pool: PgPool,
}

impl BatchExecutor for PgExecutor {
    async fn execute(&mut self, ops: Vec<&WriteOp>) -> BatchResult {
        let mut tx = self.pool.begin().await?;
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
async fn apply(conn: &mut PgConnection, op: &WriteOp) -> Result<WriteDone, StoreError> {
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

/// A group of one tenant with a fixed number of statements whatever its size: lock the heads
/// of every resource it writes and the change counter (in that order, like single writes, so
/// writers of several nodes cannot deadlock), plan in memory ([`common::plan_group`]), then
/// write every version and every head row with one `INSERT … SELECT FROM UNNEST(…)` each.
async fn apply_group(
    conn: &mut PgConnection,
    tenant: &str,
    ops: &[WriteOp],
) -> Result<WriteDone, StoreError> {
    let first_error = |error: sqlx::Error| StoreError::InGroup {
        index: 0,
        error: Box::new(common::write_error(&ops[0], error)),
    };
    set_tenant(conn, tenant).await.map_err(first_error)?;
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
    let (types, ids): (Vec<&str>, Vec<&str>) = ops
        .iter()
        .filter_map(common::resource_key)
        .map(|(_, resource_type, id)| (resource_type, id))
        .unzip();
    let heads = sqlx::query(
        "SELECT r.resource_type, r.id, r.version, r.deleted FROM resources r \
         WHERE r.tenant = $1 AND (r.resource_type, r.id) IN \
         (SELECT * FROM UNNEST($2::text[], $3::text[])) \
         ORDER BY r.resource_type, r.id FOR UPDATE",
    )
    .bind(tenant)
    .bind(&types)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(first_error)?
    .into_iter()
    .map(|row| {
        Ok::<_, sqlx::Error>((
            (row.try_get(0)?, row.try_get(1)?),
            Head {
                version: row.try_get(2)?,
                deleted: row.try_get(3)?,
            },
        ))
    })
    .collect::<Result<_, _>>()
    .map_err(first_error)?;
    let counter = sqlx::query(
        "SELECT value, GREATEST(last_millis, $1) FROM change_counter WHERE id = 1 FOR UPDATE",
    )
    .bind(crate::time::now_millis())
    .fetch_one(&mut *conn)
    .await
    .map_err(first_error)?;
    let (last_seq, last_updated): (i64, i64) = (
        counter.try_get(0).map_err(first_error)?,
        counter.try_get(1).map_err(first_error)?,
    );
    let rows = common::plan_group(ops, heads, last_updated)?;
    let first_seq = last_seq + 1;
    if !rows.is_empty() {
        sqlx::query("UPDATE change_counter SET value = value + $1, last_millis = $2 WHERE id = 1")
            .bind(rows.len() as i64)
            .bind(last_updated)
            .execute(&mut *conn)
            .await
            .map_err(first_error)?;
        let types: Vec<&str> = rows.iter().map(|r| r.resource_type).collect();
        let ids: Vec<&str> = rows.iter().map(|r| r.id).collect();
        let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
        let seqs: Vec<i64> = (0..rows.len() as i64).map(|i| first_seq + i).collect();
        let deleted: Vec<bool> = rows.iter().map(|r| r.deleted).collect();
        let bodies: Vec<Option<&str>> = rows.iter().map(|r| r.body.as_deref()).collect();
        let exact: Vec<Option<&str>> = bodies
            .iter()
            .map(|body| body.filter(|text| !jsonb_keeps_numbers(text)))
            .collect();
        sqlx::query(
            "INSERT INTO resource_versions \
             (tenant, resource_type, id, version, seq, last_updated, deleted, body, body_exact) \
             SELECT $1, t.resource_type, t.id, t.version, t.seq, $2, t.deleted, t.body::jsonb, \
             t.body_exact FROM UNNEST($3::text[], $4::text[], $5::int8[], $6::int8[], \
             $7::bool[], $8::text[], $9::text[]) \
             AS t(resource_type, id, version, seq, deleted, body, body_exact)",
        )
        .bind(tenant)
        .bind(last_updated)
        .bind(&types)
        .bind(&ids)
        .bind(&versions)
        .bind(&seqs)
        .bind(&deleted)
        .bind(&bodies)
        .bind(&exact)
        .execute(&mut *conn)
        .await
        .map_err(first_error)?;
        // A resource written twice in the group would hit ON CONFLICT twice in one statement,
        // which PostgreSQL refuses: only its last row goes to the head table.
        let mut last_of: std::collections::HashMap<(&str, &str), usize> = Default::default();
        for (i, row) in rows.iter().enumerate() {
            last_of.insert((row.resource_type, row.id), i);
        }
        let mut heads: Vec<usize> = last_of.into_values().collect();
        heads.sort_unstable();
        sqlx::query(
            "INSERT INTO resources (tenant, resource_type, id, version, deleted, last_updated) \
             SELECT $1, t.resource_type, t.id, t.version, t.deleted, $2 \
             FROM UNNEST($3::text[], $4::text[], $5::int8[], $6::bool[]) \
             AS t(resource_type, id, version, deleted) \
             ON CONFLICT (tenant, resource_type, id) DO UPDATE SET version = excluded.version, \
             deleted = excluded.deleted, last_updated = excluded.last_updated",
        )
        .bind(tenant)
        .bind(last_updated)
        .bind(heads.iter().map(|&i| types[i]).collect::<Vec<&str>>())
        .bind(heads.iter().map(|&i| ids[i]).collect::<Vec<&str>>())
        .bind(heads.iter().map(|&i| versions[i]).collect::<Vec<i64>>())
        .bind(heads.iter().map(|&i| deleted[i]).collect::<Vec<bool>>())
        .execute(&mut *conn)
        .await
        .map_err(first_error)?;
    }
    Ok(WriteDone::Group(common::group_answers(
        tenant,
        ops.len(),
        rows,
        first_seq,
        last_updated,
    )))
}

async fn apply_one(conn: &mut PgConnection, op: &WriteOp) -> Result<WriteDone, StoreError> {
    apply_inner(conn, op).await.map_err(|error| match error {
        StoreError::Database(e) => common::write_error(op, e),
        other => other,
    })
}

async fn apply_inner(conn: &mut PgConnection, op: &WriteOp) -> Result<WriteDone, StoreError> {
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
    set_tenant(conn, tenant).await?;
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
         WHERE tenant = $1 AND resource_type = $2 AND id = $3 FOR UPDATE",
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
        "UPDATE change_counter SET value = value + 1, \
         last_millis = GREATEST(last_millis, $1) WHERE id = 1 RETURNING value, last_millis",
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
         (tenant, resource_type, id, version, seq, last_updated, deleted, body, body_exact) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
    )
    .bind(tenant)
    .bind(resource_type)
    .bind(id)
    .bind(version)
    .bind(seq)
    .bind(last_updated)
    .bind(deleted)
    .bind(body.as_deref())
    .bind(body.as_deref().filter(|text| !jsonb_keeps_numbers(text)))
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

/// Records: each operation is one statement in a transaction that sets the tenant, so
/// row-level security applies as to resources.
impl PostgresStore {
    /// Runs a record statement in a transaction of the tenant (read-only unless `writes`).
    async fn record_query(
        &self,
        tenant: &str,
        writes: bool,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<PgRow>, StoreError> {
        let begin = if writes { "BEGIN" } else { "BEGIN READ ONLY" };
        let mut tx = self.read_tx(tenant, begin).await?;
        let rows = bind_params(sqlx::query(sql), params)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Runs a record statement that writes; returns the rows it changed.
    async fn record_write(
        &self,
        tenant: &str,
        sql: &str,
        params: &[Param],
    ) -> Result<u64, StoreError> {
        let mut tx = self.read_tx(tenant, "BEGIN").await?;
        let done = bind_params(sqlx::query(sql), params)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl RecordStore for PostgresStore {
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

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_that_jsonb_would_rewrite_are_detected() {
        use super::jsonb_keeps_numbers;
        assert!(jsonb_keeps_numbers(
            r#"{"a":1.50,"b":"1E5 -0","c":-0.5,"d":[10,-1]}"#
        ));
        assert!(!jsonb_keeps_numbers(r#"{"a":1E-22}"#));
        assert!(!jsonb_keeps_numbers(r#"{"a":[1,-0]}"#));
        assert!(!jsonb_keeps_numbers(r#"{"a":-0.00}"#));
        assert!(jsonb_keeps_numbers(r#"{"a":"x\"e"}"#));
    }
}

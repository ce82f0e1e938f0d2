//! Our own small migration runner: the SQL files of `migrations/<backend>/` are embedded in the
//! binary, and each one not yet recorded in `schema_migrations` is applied in its own
//! transaction together with its record, so that a migration is applied entirely or not at all.
//! Reopening a database applies nothing twice.

use sqlx::{Connection, PgConnection, SqliteConnection};

use super::StoreError;

/// One embedded migration.
pub(crate) struct Migration {
    /// Its number: migrations are applied in increasing order.
    pub version: i64,
    /// A short name, recorded with the version.
    pub name: &'static str,
    /// The SQL text (several statements).
    pub sql: &'static str,
}

/// The SQLite migrations.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "auth_records",
        sql: include_str!("../../../migrations/sqlite/0002_auth_records.sql"),
    },
];

/// The PostgreSQL migrations.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "indexer_role",
        sql: include_str!("../../../migrations/postgres/0002_indexer_role.sql"),
    },
    Migration {
        version: 3,
        name: "auth_records",
        sql: include_str!("../../../migrations/postgres/0003_auth_records.sql"),
    },
];

/// An arbitrary key for the advisory lock that serialises the migrations of several processes
/// opening the same PostgreSQL database at once.
const PG_MIGRATION_LOCK: i64 = 0x4648_4952_5f4d_4947; // "FHIR_MIG"

fn failed(version: i64) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| StoreError::Migration {
        version,
        message: e.to_string(),
    }
}

/// Applies the pending SQLite migrations.
pub(crate) async fn run_sqlite(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await
    .map_err(failed(0))?;
    for migration in SQLITE {
        let version = migration.version;
        // IMMEDIATE: take the write lock before reading, so that two processes opening the same
        // file cannot both decide to apply a migration.
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed(version))?;
        let applied = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed(version))?
            .is_some();
        if applied {
            tx.rollback().await.map_err(failed(version))?;
            continue;
        }
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed(version))?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(migration.name)
        .bind(crate::time::now_millis())
        .execute(&mut *tx)
        .await
        .map_err(failed(version))?;
        tx.commit().await.map_err(failed(version))?;
        tracing::info!(version, name = migration.name, "applied SQLite migration");
    }
    Ok(())
}

/// Applies the pending PostgreSQL migrations, as the connecting user (who then owns the tables).
pub(crate) async fn run_postgres(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PG_MIGRATION_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(failed(0))?;
    let result = run_postgres_locked(conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(PG_MIGRATION_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(failed(0));
    result.and(unlocked.map(|_| ()))
}

async fn run_postgres_locked(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version bigint NOT NULL PRIMARY KEY,
            name text NOT NULL,
            applied_at bigint NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await
    .map_err(failed(0))?;
    for migration in POSTGRES {
        let version = migration.version;
        let mut tx = conn.begin().await.map_err(failed(version))?;
        let applied = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed(version))?
            .is_some();
        if applied {
            tx.rollback().await.map_err(failed(version))?;
            continue;
        }
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed(version))?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(migration.name)
        .bind(crate::time::now_millis())
        .execute(&mut *tx)
        .await
        .map_err(failed(version))?;
        tx.commit().await.map_err(failed(version))?;
        tracing::info!(
            version,
            name = migration.name,
            "applied PostgreSQL migration"
        );
    }
    Ok(())
}

//! The versioned, multi-tenant resource store.
//!
//! One trait, [`ResourceStore`], two implementations: [`sqlite::SqliteStore`] (the embedded
//! default) and [`postgres::PostgresStore`] (JSONB, row-level security). Both keep every version
//! of every resource (deletes are versioned tombstones), carry the tenant on every row, and number
//! every write with a database-wide, monotonic change sequence (`seq`) that followers (the search
//! index, subscriptions, other nodes) read in order.
//!
//! Writes go through a group-commit writer: concurrent writes are gathered into one database
//! transaction (each in its own savepoint) so that many requests share one durable commit.

mod common;
pub mod feed;
mod migrate;
pub mod postgres;
pub mod records;
pub mod sqlite;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

pub use records::RecordStore;

/// Milliseconds since the Unix epoch (UTC): the store's clock for `meta.lastUpdated`.
pub type Millis = i64;

/// The name of the default tenant, served at `/fhir`.
pub const DEFAULT_TENANT: &str = "default";

/// One stored version of a resource.
#[derive(Debug, Clone)]
pub struct StoredResource {
    /// The tenant the version belongs to.
    pub tenant: String,
    /// The resource type (`Patient`).
    pub resource_type: String,
    /// The logical id.
    pub id: String,
    /// The version number, 1 for the first version.
    pub version: i64,
    /// When this version was written (`meta.lastUpdated`), in milliseconds since the epoch.
    pub last_updated: Millis,
    /// The position of this write in the database-wide change sequence.
    pub seq: i64,
    /// `true` when this version is a delete (a tombstone, no body).
    pub deleted: bool,
    /// The resource as compact JSON in definition order, with `id`, `meta.versionId` and
    /// `meta.lastUpdated` set. Empty for a tombstone.
    pub body: Arc<str>,
}

/// What kind of write produced a version (the `Bundle.entry.request.method` of history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// The first version (POST, or PUT that created).
    Create,
    /// A later version.
    Update,
    /// A tombstone.
    Delete,
}

impl StoredResource {
    /// How this version was written.
    pub fn write_kind(&self) -> WriteKind {
        if self.deleted {
            WriteKind::Delete
        } else if self.version == 1 {
            WriteKind::Create
        } else {
            WriteKind::Update
        }
    }
}

/// The result of an update (PUT).
#[derive(Debug, Clone)]
pub struct UpdateOutcome {
    /// The version written.
    pub resource: StoredResource,
    /// `true` when the update created the resource (update-as-create, or after a delete).
    pub created: bool,
}

/// One write of a transaction ([`ResourceStore::transaction`]).
#[derive(Debug, Clone)]
pub enum TxWrite {
    /// Creates a resource with this id (fails when it exists).
    Create {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
        /// The resource.
        resource: Value,
    },
    /// Writes a new version (or the first).
    Update {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
        /// The resource.
        resource: Value,
        /// The version that must be current.
        if_match: Option<i64>,
    },
    /// Writes a tombstone (nothing when missing or deleted).
    Delete {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
        /// The version that must be current.
        if_match: Option<i64>,
    },
}

/// What one write of a transaction did.
#[derive(Debug, Clone)]
pub enum TxDone {
    /// A version was written (`created`: it is the first, or follows a delete).
    Stored(UpdateOutcome),
    /// A delete found nothing to delete.
    Nothing,
}

/// Which versions a history request asks for.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Restrict to one resource type (type and instance history).
    pub resource_type: Option<String>,
    /// Restrict to one resource (instance history; needs `resource_type`).
    pub id: Option<String>,
    /// `_since`: only versions with `last_updated >= since`.
    pub since: Option<Millis>,
    /// `_at`: only versions that were current at some time within `[start, end)`.
    pub at: Option<(Millis, Millis)>,
    /// Paging: only versions with `seq < before_seq` (the cursor of the next page).
    pub before_seq: Option<i64>,
    /// The page size; the store returns at most this many versions.
    pub count: usize,
}

/// A page of history, newest first (descending `seq`).
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The versions of this page.
    pub entries: Vec<StoredResource>,
    /// The cursor of the next page (`before_seq`), when there are more versions.
    pub next_before_seq: Option<i64>,
    /// The total number of versions that match, all pages together.
    pub total: u64,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The tenant does not exist.
    #[error("unknown tenant '{0}'")]
    UnknownTenant(String),
    /// A tenant with that name exists already.
    #[error("tenant '{0}' exists already")]
    TenantExists(String),
    /// A create with an id that is already taken.
    #[error("{resource_type}/{id} exists already")]
    AlreadyExists {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
    },
    /// `If-Match` named another version than the current one.
    #[error("version conflict: expected version {expected}, current is {current:?}")]
    VersionConflict {
        /// The version the client expected.
        expected: i64,
        /// The current version, `None` when the resource does not exist.
        current: Option<i64>,
    },
    /// Two writers raced for the same resource and this one lost; retrying is safe.
    #[error("concurrent write to {resource_type}/{id}")]
    Conflict {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
    },
    /// The body could not be stored (not a JSON object, …).
    #[error("invalid resource: {0}")]
    Invalid(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration {version} failed: {message}")]
    Migration {
        /// The migration version.
        version: i64,
        /// What failed.
        message: String,
    },
    /// A write of a group (a transaction) failed: nothing of the group was written.
    #[error("write {index} of the transaction failed: {error}")]
    InGroup {
        /// The position of the failing write in the group.
        index: usize,
        /// Why it failed.
        error: Box<StoreError>,
    },
    /// The store is shut down or its writer stopped.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// The store interface used by the server.
///
/// Every method takes the tenant; implementations guarantee that nothing of another tenant is
/// ever read or written. Every write is atomic and durable once the method returns `Ok`.
#[async_trait]
pub trait ResourceStore: records::RecordStore + Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Creates a tenant.
    async fn create_tenant(&self, tenant: &str) -> Result<(), StoreError>;
    /// Lists tenants by name.
    async fn list_tenants(&self) -> Result<Vec<String>, StoreError>;
    /// `true` when the tenant exists.
    async fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError>;

    /// Stores the first version of a new resource with the given id (the server assigns ids for
    /// POST). Sets `id`, `meta.versionId` and `meta.lastUpdated` in the stored body.
    /// Fails with [`StoreError::AlreadyExists`] when the id is taken (even by a deleted resource).
    async fn create(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        resource: Value,
    ) -> Result<StoredResource, StoreError>;

    /// Stores a new version (or the first, update-as-create). With `if_match`, fails with
    /// [`StoreError::VersionConflict`] unless the current version is that one.
    async fn update(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        resource: Value,
        if_match: Option<i64>,
    ) -> Result<UpdateOutcome, StoreError>;

    /// Writes a tombstone. Returns `None` when there was nothing to delete (missing or already
    /// deleted); with `if_match`, fails with [`StoreError::VersionConflict`] on a mismatch.
    async fn delete(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// Runs writes as one unit, in order: all are durable when it returns `Ok`, none is
    /// written when it fails ([`StoreError::InGroup`] names the failing write).
    async fn transaction(
        &self,
        tenant: &str,
        writes: Vec<TxWrite>,
    ) -> Result<Vec<TxDone>, StoreError>;

    /// The current version, including a tombstone (so that the caller can answer 410).
    async fn read(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// One version.
    async fn vread(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// History of an instance, a type or the whole tenant, newest first.
    async fn history(&self, tenant: &str, query: &HistoryQuery) -> Result<HistoryPage, StoreError>;

    /// The change log of one tenant: versions with `seq > after_seq`, in `seq` order, at most
    /// `limit`. Followers remember the last `seq` they applied.
    async fn changes(
        &self,
        tenant: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError>;

    /// The change log of the whole database, every tenant: versions with `seq > after_seq`, in
    /// `seq` order, at most `limit`. This is the feed of the search index; it is not reachable
    /// from any request (on PostgreSQL it runs as the read-only role `fhir_indexer`, the only
    /// one allowed past row-level security).
    async fn changes_all(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError>;

    /// The highest `seq` of a committed version of any of `types` in a tenant (0 when there is
    /// none): a follower that has applied the change sequence up to it has seen every write of
    /// those types. (One index lookup per type.)
    async fn last_seq_of_types(&self, tenant: &str, types: &[&str]) -> Result<i64, StoreError>;

    /// The versions this process commits from now on, kept in memory for the search index (see
    /// [`feed::ChangeFeed`]); `None` when the store has no such feed.
    fn change_feed(&self) -> Option<Arc<feed::ChangeFeed>> {
        None
    }

    /// The highest committed `seq` (0 for an empty database). Every version with a lower or
    /// equal `seq` is committed and visible, since the sequence is gap-free in commit order.
    async fn head_seq(&self) -> Result<i64, StoreError>;

    /// Stops the writer after the writes in flight; later writes fail.
    async fn close(&self);
}

/// Opens the store named by a database URL (`sqlite:…` or `postgres://…`), applies the
/// migrations and makes sure the default tenant exists.
pub async fn open(database_url: &str) -> Result<Arc<dyn ResourceStore>, StoreError> {
    open_with(database_url, sqlite::SqliteOptions::default()).await
}

/// [`open`] with the options of a SQLite store (ignored for PostgreSQL).
pub async fn open_with(
    database_url: &str,
    sqlite_options: sqlite::SqliteOptions,
) -> Result<Arc<dyn ResourceStore>, StoreError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::open(database_url).await?))
    } else {
        Ok(Arc::new(
            sqlite::SqliteStore::open_with(database_url, sqlite_options).await?,
        ))
    }
}

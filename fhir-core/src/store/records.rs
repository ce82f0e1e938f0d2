//! Small keyed records beside the resources: the state of the authorization server (users,
//! clients, signing keys, grants, single-use codes, sessions, replay markers).
//!
//! A record is `(tenant, kind, key) → value` (a JSON text the caller owns) with an expiry. An
//! expired record no longer exists for any operation, so single-use and time-limited values need
//! no sweeper to be correct; [`RecordStore::record_purge_expired`] only reclaims space. Every
//! operation is one atomic statement, so the compare-and-set operations
//! ([`RecordStore::record_insert`], [`RecordStore::record_take`],
//! [`RecordStore::record_replace`]) are safe across threads and across server processes on one
//! database. Records are isolated by tenant like resources (on PostgreSQL also by row-level
//! security).

use async_trait::async_trait;

use super::{Millis, StoreError};

/// The expiry of a record that never expires.
pub const NEVER: Millis = i64::MAX;

/// Keyed records with expiry, per tenant. Implemented by both stores.
#[async_trait]
pub trait RecordStore: Send + Sync + std::fmt::Debug {
    /// The value of a live record.
    async fn record_get(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Writes a record, replacing any other with the same key.
    async fn record_put(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
        value: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError>;

    /// Writes a record only if no live record has the key (an expired one is replaced).
    /// Returns `false`, writing nothing, when the key is taken.
    async fn record_insert(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
        value: &str,
        expires_at: Millis,
    ) -> Result<bool, StoreError>;

    /// Deletes a record and returns its value if it was live: of several concurrent callers, at
    /// most one gets the value (single-use codes).
    async fn record_take(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Replaces the value of a live record only if it is still `expected`. Returns `false`,
    /// writing nothing, otherwise (rotation of refresh tokens).
    async fn record_replace(
        &self,
        tenant: &str,
        kind: &str,
        key: &str,
        expected: &str,
        value: &str,
        expires_at: Millis,
    ) -> Result<bool, StoreError>;

    /// Deletes a record; `true` if a live one was deleted.
    async fn record_delete(&self, tenant: &str, kind: &str, key: &str) -> Result<bool, StoreError>;

    /// The live records of a kind, `(key, value)` ordered by key.
    async fn record_list(
        &self,
        tenant: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, StoreError>;

    /// Deletes the expired records of a tenant; returns how many.
    async fn record_purge_expired(&self, tenant: &str) -> Result<u64, StoreError>;
}

/// `(tenant, kind, key)` followed by `rest`: the parameters of most record statements.
pub(crate) fn key_params(
    tenant: &str,
    kind: &str,
    key: &str,
    rest: &[super::common::Param],
) -> Vec<super::common::Param> {
    use super::common::Param;
    let mut params = vec![
        Param::Text(tenant.to_owned()),
        Param::Text(kind.to_owned()),
        Param::Text(key.to_owned()),
    ];
    params.extend_from_slice(rest);
    params
}

/// The statements, the same text on both backends (`$1` tenant, `$2` kind, `$3` key, then as
/// documented per statement; `now` is always the last parameter).
pub(crate) mod sql {
    /// `$4` now.
    pub const GET: &str = "SELECT value FROM auth_records \
        WHERE tenant = $1 AND kind = $2 AND key = $3 AND expires_at > $4";
    /// `$4` value, `$5` expires_at.
    pub const PUT: &str = "INSERT INTO auth_records (tenant, kind, key, value, expires_at) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, kind, key) \
        DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";
    /// `$4` value, `$5` expires_at, `$6` now.
    pub const INSERT: &str = "INSERT INTO auth_records (tenant, kind, key, value, expires_at) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, kind, key) \
        DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at \
        WHERE auth_records.expires_at <= $6";
    /// `$4` now.
    pub const TAKE: &str = "DELETE FROM auth_records \
        WHERE tenant = $1 AND kind = $2 AND key = $3 RETURNING value, expires_at > $4 AS live";
    /// `$4` expected, `$5` value, `$6` expires_at, `$7` now.
    pub const REPLACE: &str = "UPDATE auth_records SET value = $5, expires_at = $6 \
        WHERE tenant = $1 AND kind = $2 AND key = $3 AND value = $4 AND expires_at > $7";
    /// `$4` now.
    pub const DELETE: &str = "DELETE FROM auth_records \
        WHERE tenant = $1 AND kind = $2 AND key = $3 AND expires_at > $4";
    /// `$1` tenant, `$2` kind, `$3` now.
    pub const LIST: &str = "SELECT key, value FROM auth_records \
        WHERE tenant = $1 AND kind = $2 AND expires_at > $3 ORDER BY key";
    /// `$1` tenant, `$2` now.
    pub const PURGE: &str = "DELETE FROM auth_records WHERE tenant = $1 AND expires_at <= $2";
}

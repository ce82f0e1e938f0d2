//! Tenant names and the cache of known tenants.

use std::collections::HashSet;
use std::sync::RwLock;

use fhir_core::ResourceStore;
use fhir_core::store::StoreError;

/// `true` for a valid tenant name: 1–64 of `a-z`, `0-9`, `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Remembers tenants known to exist, so that most requests do not ask the database.
/// Tenants are never deleted, so a positive answer never goes stale.
#[derive(Debug, Default)]
pub struct TenantCache {
    known: RwLock<HashSet<String>>,
}

impl TenantCache {
    /// `true` when the tenant exists (asking the store on a cache miss).
    pub async fn exists(
        &self,
        store: &dyn ResourceStore,
        tenant: &str,
    ) -> Result<bool, StoreError> {
        if self.known.read().is_ok_and(|known| known.contains(tenant)) {
            return Ok(true);
        }
        let exists = store.tenant_exists(tenant).await?;
        if exists && let Ok(mut known) = self.known.write() {
            known.insert(tenant.to_owned());
        }
        Ok(exists)
    }
}

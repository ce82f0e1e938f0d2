//! Shared state of the running server.

use std::sync::Arc;

use fhir_core::ResourceStore;
use fhir_core::index::{SearchIndex, SearchOptions};

use crate::tenant::TenantCache;

/// What every request handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ResourceStore>,
    index: Arc<SearchIndex>,
    search_options: SearchOptions,
    tenants: TenantCache,
    conditional_locks: crate::interactions::conditional::ConditionalLocks,
    base_url: Option<String>,
    max_body_bytes: usize,
    bundle_max_entries: usize,
    auth: Option<smart_auth::AuthServer>,
    capabilities: crate::interactions::CapabilityCache,
}

impl AppState {
    /// State over an open store.
    pub fn new(
        store: Arc<dyn ResourceStore>,
        index: Arc<SearchIndex>,
        search_options: SearchOptions,
        base_url: Option<String>,
        max_body_bytes: usize,
        bundle_max_entries: usize,
        auth: Option<smart_auth::AuthServer>,
    ) -> AppState {
        let base_url = base_url.map(|url| url.trim_end_matches('/').to_owned());
        AppState {
            inner: Arc::new(Inner {
                store,
                index,
                search_options,
                tenants: TenantCache::default(),
                conditional_locks: Default::default(),
                base_url,
                max_body_bytes,
                bundle_max_entries,
                auth,
                capabilities: Default::default(),
            }),
        }
    }

    /// The resource store.
    pub fn store(&self) -> &dyn ResourceStore {
        self.inner.store.as_ref()
    }

    /// The store, shared.
    pub fn store_arc(&self) -> Arc<dyn ResourceStore> {
        self.inner.store.clone()
    }

    /// The search index.
    pub fn index(&self) -> &Arc<SearchIndex> {
        &self.inner.index
    }

    /// The limits of searches.
    pub fn search_options(&self) -> &SearchOptions {
        &self.inner.search_options
    }

    /// The locks of conditional interactions.
    pub fn conditional_locks(&self) -> &crate::interactions::conditional::ConditionalLocks {
        &self.inner.conditional_locks
    }

    /// The cache of known tenants.
    pub fn tenants(&self) -> &TenantCache {
        &self.inner.tenants
    }

    /// The configured public base URL (scheme, host, port), if any.
    pub fn base_url(&self) -> Option<&str> {
        self.inner.base_url.as_deref()
    }

    /// The largest accepted request body.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// The authorization server; `None` when authorization is off.
    pub fn auth(&self) -> Option<&smart_auth::AuthServer> {
        self.inner.auth.as_ref()
    }

    /// The rendered CapabilityStatements.
    pub fn capability_cache(&self) -> &crate::interactions::CapabilityCache {
        &self.inner.capabilities
    }

    /// The most entries a batch or transaction Bundle may have.
    pub fn bundle_max_entries(&self) -> usize {
        self.inner.bundle_max_entries
    }
}

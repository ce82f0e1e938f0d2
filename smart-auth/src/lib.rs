//! The SMART App Launch 2.x authorization server of each tenant, and the verification of the
//! bearer tokens it issues.
//!
//! - [`scopes`]: SMART v1 and v2 scopes; [`roles`]: what each user role may do;
//! - [`users`], [`clients`]: the tenant's users (argon2id) and registered apps;
//! - [`keys`]: the tenant's RSA signing keys (stored, rotatable, published as a JWKS);
//! - [`tokens`]: grants (refresh families), access tokens, and [`AuthServer::verify_access_token`];
//! - [`jose`]: JWS over aws-lc with pinned algorithms;
//! - [`http`]: the endpoints (discovery, authorize, login, consent, token, introspect, revoke,
//!   launch, logout, admin), their pages, sessions and rate limiter.
//!
//! Everything is stored through `fhir-core`'s [`RecordStore`](fhir_core::store::RecordStore),
//! so it lives in the same database as the resources, per tenant.

pub mod clients;
pub mod granular;
pub mod http;
pub mod jose;
pub mod keys;
pub mod roles;
pub mod scopes;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use fhir_core::ResourceStore;
use fhir_core::store::StoreError;

pub use roles::Role;
pub use scopes::{Context, Op, Scopes};
pub use tokens::{Access, BearerError, Grant};

/// Errors of the authorization server's operations.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Input that cannot be accepted.
    #[error("{0}")]
    Invalid(String),
    /// A name that is taken.
    #[error("{0}")]
    Conflict(String),
    /// Something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A bug or a broken record.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Lifetimes and limits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Access tokens of apps with a user.
    pub access_token_secs: i64,
    /// Access tokens of backend services (SMART recommends at most 300).
    pub backend_token_secs: i64,
    /// Absolute lifetime of an offline refresh family.
    pub offline_days: i64,
    /// Absolute lifetime of an online refresh family (it also ends with the login session).
    pub online_hours: i64,
    /// Authorization codes (at most 10 minutes).
    pub code_secs: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            access_token_secs: 3600,
            backend_token_secs: 300,
            offline_days: 90,
            online_hours: 12,
            code_secs: 600,
        }
    }
}

/// The authorization server: shared by every request, cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ResourceStore>,
    keys: keys::Keys,
    settings: Settings,
    limiter: http::ratelimit::RateLimiter,
}

impl AuthServer {
    /// An authorization server over a store.
    pub fn new(store: Arc<dyn ResourceStore>, settings: Settings) -> AuthServer {
        AuthServer {
            inner: Arc::new(Inner {
                store,
                keys: keys::Keys::default(),
                settings,
                limiter: http::ratelimit::RateLimiter::default(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn ResourceStore {
        self.inner.store.as_ref()
    }

    /// The signing keys.
    pub fn keys(&self) -> &keys::Keys {
        &self.inner.keys
    }

    /// Lifetimes and limits.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The limiter of failed logins and token requests.
    pub fn limiter(&self) -> &http::ratelimit::RateLimiter {
        &self.inner.limiter
    }
}

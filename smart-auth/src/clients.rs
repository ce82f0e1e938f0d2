//! Registered clients (apps) of a tenant. Records of kind `client`, keyed by `client_id`.
//!
//! - public: no secret (browser and mobile apps), PKCE only;
//! - confidential symmetric: a secret, sent with `client_secret_basic`; stored as its SHA-256
//!   (the secret is 32 random bytes, so a slow hash adds nothing);
//! - confidential asymmetric: a JWKS (inline or by URL) for `private_key_jwt`, used by SMART
//!   Backend Services and by confidential apps.

use fhir_core::ResourceStore;
use fhir_core::store::records::NEVER;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AuthError;
use crate::jose::{PublicJwk, b64, constant_time_eq, random_token, sha256};
use crate::scopes::Scopes;

const KIND: &str = "client";

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// No authentication (PKCE protects the code).
    Public,
    /// `client_secret_basic`.
    ConfidentialSymmetric,
    /// `private_key_jwt` (RS384 or ES384).
    ConfidentialAsymmetric,
}

/// A registered client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    /// The id.
    pub client_id: String,
    /// A name shown on the consent page.
    pub name: String,
    /// How it authenticates.
    pub kind: ClientKind,
    /// The exact redirect URIs it may use.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The most it may be granted (`patient/*.rs openid …`; for backend services the `system/`
    /// scopes it is pre-authorised for).
    pub scope: String,
    /// SHA-256 of the secret, base64url (symmetric clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<String>,
    /// The JWKS, registered inline (asymmetric clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// The JWKS URL (asymmetric clients), instead of an inline JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// When it was registered.
    pub created_at: i64,
}

/// What registers a client.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewClient {
    /// A name shown on the consent page.
    pub name: String,
    /// `public`, `confidential-symmetric` or `confidential-asymmetric`.
    pub kind: Option<ClientKind>,
    /// Redirect URIs (required unless the client only uses client credentials).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The most it may be granted.
    pub scope: String,
    /// An inline JWKS.
    pub jwks: Option<Value>,
    /// A JWKS URL.
    pub jwks_uri: Option<String>,
    /// A chosen client id (default: a random one).
    pub client_id: Option<String>,
}

impl Client {
    /// `true` when `uri` is one of the registered redirect URIs, compared exactly.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// Checks a secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_sha256.as_deref().is_some_and(|stored| {
            constant_time_eq(
                stored.as_bytes(),
                b64(&sha256(secret.as_bytes())).as_bytes(),
            )
        })
    }

    /// The keys of an inline JWKS.
    pub fn inline_keys(&self) -> Vec<PublicJwk> {
        self.jwks
            .as_ref()
            .and_then(|jwks| jwks.get("keys"))
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| PublicJwk::from_json(k).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The most this client may be granted.
    pub fn max_scopes(&self) -> Scopes {
        Scopes::parse(&self.scope)
    }
}

/// Registers a client. Returns it and, for a symmetric client, its secret (shown once).
pub async fn create(
    store: &dyn ResourceStore,
    tenant: &str,
    new: NewClient,
) -> Result<(Client, Option<String>), AuthError> {
    let kind = new.kind.unwrap_or(ClientKind::Public);
    let client_id = new.client_id.unwrap_or_else(|| random_token(16));
    if client_id.is_empty()
        || client_id.len() > 128
        || !client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(AuthError::Invalid(
            "a client_id has 1-128 of A-Z a-z 0-9 - _ .".into(),
        ));
    }
    if new.name.trim().is_empty() || new.name.len() > 200 {
        return Err(AuthError::Invalid(
            "a client needs a name (at most 200 characters)".into(),
        ));
    }
    for uri in &new.redirect_uris {
        let ok = (uri.starts_with("https://")
            || uri.starts_with("http://127.0.0.1")
            || uri.starts_with("http://localhost"))
            && !uri.contains('#')
            && uri.len() <= 2000;
        if !ok {
            return Err(AuthError::Invalid(format!(
                "redirect URI '{uri}': https (or http on loopback), without a fragment"
            )));
        }
    }
    let scopes = Scopes::parse(&new.scope);
    if !scopes.unknown.is_empty() {
        return Err(AuthError::Invalid(format!(
            "unknown scopes: {}",
            scopes.unknown.join(" ")
        )));
    }
    let mut secret = None;
    let mut client = Client {
        client_id: client_id.clone(),
        name: new.name.trim().to_owned(),
        kind,
        redirect_uris: new.redirect_uris,
        scope: scopes.to_string(),
        secret_sha256: None,
        jwks: None,
        jwks_uri: None,
        created_at: fhir_core::time::now_millis(),
    };
    match kind {
        ClientKind::Public => {
            if scopes
                .resources
                .iter()
                .any(|r| r.context == crate::scopes::Context::System)
            {
                return Err(AuthError::Invalid(
                    "a public client cannot have system/ scopes".into(),
                ));
            }
        }
        ClientKind::ConfidentialSymmetric => {
            if scopes
                .resources
                .iter()
                .any(|r| r.context == crate::scopes::Context::System)
            {
                return Err(AuthError::Invalid(
                    "backend services (system/ scopes) authenticate with private_key_jwt, not a secret".into(),
                ));
            }
            let value = random_token(32);
            client.secret_sha256 = Some(b64(&sha256(value.as_bytes())));
            secret = Some(value);
        }
        ClientKind::ConfidentialAsymmetric => match (new.jwks, new.jwks_uri) {
            (Some(jwks), None) => {
                let keys = jwks
                    .get("keys")
                    .and_then(Value::as_array)
                    .ok_or_else(|| AuthError::Invalid("jwks must be {\"keys\": [...]}".into()))?;
                if keys.is_empty() {
                    return Err(AuthError::Invalid("jwks has no keys".into()));
                }
                for key in keys {
                    PublicJwk::from_json(key)
                        .map_err(|e| AuthError::Invalid(format!("jwks: {e}")))?;
                }
                client.jwks = Some(jwks);
            }
            (None, Some(uri))
                if uri.starts_with("https://")
                    || uri.starts_with("http://127.0.0.1")
                    || uri.starts_with("http://localhost") =>
            {
                client.jwks_uri = Some(uri);
            }
            _ => {
                return Err(AuthError::Invalid(
                    "an asymmetric client registers either jwks or an https jwks_uri".into(),
                ));
            }
        },
    }
    let value = serde_json::to_string(&client).map_err(|e| AuthError::Internal(e.to_string()))?;
    if !store
        .record_insert(tenant, KIND, &client_id, &value, NEVER)
        .await?
    {
        return Err(AuthError::Conflict(format!("client '{client_id}' exists")));
    }
    Ok((client, secret))
}

/// A client by id.
pub async fn get(
    store: &dyn ResourceStore,
    tenant: &str,
    client_id: &str,
) -> Result<Option<Client>, AuthError> {
    if client_id.is_empty() || client_id.len() > 128 {
        return Ok(None);
    }
    match store.record_get(tenant, KIND, client_id).await? {
        Some(value) => Ok(Some(
            serde_json::from_str(&value).map_err(|e| AuthError::Internal(e.to_string()))?,
        )),
        None => Ok(None),
    }
}

/// Every client of a tenant.
pub async fn list(store: &dyn ResourceStore, tenant: &str) -> Result<Vec<Client>, AuthError> {
    store
        .record_list(tenant, KIND)
        .await?
        .into_iter()
        .map(|(_, value)| {
            serde_json::from_str(&value).map_err(|e| AuthError::Internal(e.to_string()))
        })
        .collect()
}

/// Removes a client.
pub async fn delete(
    store: &dyn ResourceStore,
    tenant: &str,
    client_id: &str,
) -> Result<bool, AuthError> {
    Ok(store.record_delete(tenant, KIND, client_id).await?)
}

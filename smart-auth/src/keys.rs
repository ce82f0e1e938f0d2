//! The signing keys of each tenant: RSA keys stored as records (kind `signing_key`), the newest
//! signs, every stored key verifies and is published in the JWKS. Rotation adds a key; tokens
//! signed with an older key stay valid until it is retired.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use fhir_core::store::records::NEVER;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AuthError;
use crate::jose::{Alg, PublicJwk, SigningKey, b64, b64_decode, random_token};
use fhir_core::ResourceStore;

const KIND: &str = "signing_key";

/// How long a loaded key set is trusted before it is read again (keys rotated by another node
/// are picked up within this time; an unknown `kid` reloads at once).
const RELOAD_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Serialize, Deserialize)]
struct KeyRecord {
    /// PKCS#8 DER, base64url.
    pkcs8: String,
    created_at: i64,
}

/// The keys of one tenant.
#[derive(Debug)]
pub struct KeySet {
    signing: SigningKey,
    verifying: HashMap<String, PublicJwk>,
    loaded: std::time::Instant,
}

impl KeySet {
    /// The key that signs.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// A verifying key by id.
    pub fn verifying(&self, kid: &str) -> Option<&PublicJwk> {
        self.verifying.get(kid)
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<&PublicJwk> = self.verifying.values().collect();
        keys.sort_by(|a, b| a.kid().cmp(&b.kid()));
        json!({"keys": keys.iter().map(|k| k.to_json(Some(Alg::Rs256))).collect::<Vec<_>>()})
    }
}

/// The key sets of every tenant, loaded on first use.
#[derive(Debug, Default)]
pub struct Keys {
    sets: RwLock<HashMap<String, Arc<KeySet>>>,
}

impl Keys {
    /// The key set of a tenant, creating its first key if it has none.
    pub async fn get(
        &self,
        store: &dyn ResourceStore,
        tenant: &str,
    ) -> Result<Arc<KeySet>, AuthError> {
        if let Some(set) = self.cached(tenant)
            && set.loaded.elapsed() < RELOAD_AFTER
        {
            return Ok(set);
        }
        self.load(store, tenant).await
    }

    /// The verifying key `kid`, reloading the set once if it is unknown (rotated elsewhere).
    pub async fn verifying(
        &self,
        store: &dyn ResourceStore,
        tenant: &str,
        kid: &str,
    ) -> Result<Option<PublicJwk>, AuthError> {
        let set = self.get(store, tenant).await?;
        if let Some(key) = set.verifying(kid) {
            return Ok(Some(key.clone()));
        }
        // Reload at most once a second per tenant, so that random kids cannot hammer the store.
        if set.loaded.elapsed() < std::time::Duration::from_secs(1) {
            return Ok(None);
        }
        Ok(self.load(store, tenant).await?.verifying(kid).cloned())
    }

    fn cached(&self, tenant: &str) -> Option<Arc<KeySet>> {
        self.sets.read().ok()?.get(tenant).cloned()
    }

    async fn load(
        &self,
        store: &dyn ResourceStore,
        tenant: &str,
    ) -> Result<Arc<KeySet>, AuthError> {
        let mut records = store.record_list(tenant, KIND).await?;
        if records.is_empty() {
            Keys::add(store, tenant).await?;
            records = store.record_list(tenant, KIND).await?;
        }
        let mut newest: Option<(i64, String, SigningKey)> = None;
        let mut verifying = HashMap::new();
        for (kid, value) in records {
            let record: KeyRecord = serde_json::from_str(&value)
                .map_err(|e| AuthError::Internal(format!("bad key record: {e}")))?;
            let key = SigningKey::from_pkcs8(
                kid.clone(),
                &b64_decode(&record.pkcs8).map_err(|e| AuthError::Internal(e.to_string()))?,
            )
            .map_err(|e| AuthError::Internal(e.to_string()))?;
            verifying.insert(kid.clone(), key.public().clone());
            if newest
                .as_ref()
                .is_none_or(|(at, id, _)| (record.created_at, &kid) > (*at, id))
            {
                newest = Some((record.created_at, kid, key));
            }
        }
        let (_, _, signing) = newest.ok_or_else(|| AuthError::Internal("no signing key".into()))?;
        let set = Arc::new(KeySet {
            signing,
            verifying,
            loaded: std::time::Instant::now(),
        });
        if let Ok(mut sets) = self.sets.write() {
            sets.insert(tenant.to_owned(), set.clone());
        }
        Ok(set)
    }

    /// Adds a new key, which signs from now on (rotation); returns its `kid`.
    pub async fn add(store: &dyn ResourceStore, tenant: &str) -> Result<String, AuthError> {
        let kid = random_token(12);
        let key = tokio::task::spawn_blocking({
            let kid = kid.clone();
            move || SigningKey::generate(kid)
        })
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))?
        .map_err(|e| AuthError::Internal(e.to_string()))?;
        let record = KeyRecord {
            pkcs8: b64(&key
                .to_pkcs8()
                .map_err(|e| AuthError::Internal(e.to_string()))?),
            created_at: fhir_core::time::now_millis(),
        };
        let value =
            serde_json::to_string(&record).map_err(|e| AuthError::Internal(e.to_string()))?;
        store
            .record_insert(tenant, KIND, &kid, &value, NEVER)
            .await?;
        Ok(kid)
    }

    /// Rotates: adds a key and reloads the set.
    pub async fn rotate(
        &self,
        store: &dyn ResourceStore,
        tenant: &str,
    ) -> Result<String, AuthError> {
        let kid = Keys::add(store, tenant).await?;
        self.load(store, tenant).await?;
        Ok(kid)
    }

    /// Retires a key: tokens it signed stop verifying. The last key cannot be retired.
    pub async fn retire(
        &self,
        store: &dyn ResourceStore,
        tenant: &str,
        kid: &str,
    ) -> Result<bool, AuthError> {
        if store.record_list(tenant, KIND).await?.len() <= 1 {
            return Ok(false);
        }
        let deleted = store.record_delete(tenant, KIND, kid).await?;
        self.load(store, tenant).await?;
        Ok(deleted)
    }
}

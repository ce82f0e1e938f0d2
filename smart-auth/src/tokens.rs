//! Grants and access tokens.
//!
//! A **grant** is what one authorization (a code exchanged, or a client-credentials request)
//! gave one client: scopes, user, launch context, and the current refresh token of its family.
//! It is a record (kind `grant`) with an absolute expiry. Access tokens are RS256 JWTs that name
//! their grant (`gid`); each request checks that the grant still exists, so revoking the grant
//! (revocation endpoint, reused code, reused refresh token, password change) ends every token
//! of the family at once, on every server node.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::jose::{Alg, Unverified};
use crate::roles::Role;
use crate::scopes::Scopes;
use crate::{AuthError, AuthServer};

const KIND: &str = "grant";

/// The user of a grant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantUser {
    /// `sub`: the user's stable id.
    pub id: String,
    /// The login name.
    pub username: String,
    /// The role.
    pub role: Role,
    /// The user's FHIR resource (`Patient/1`, `Practitioner/2`).
    pub fhir_user: Option<String>,
    /// The user's credentials epoch when the grant was made.
    pub credentials_epoch: u32,
}

/// One grant (a refresh-token family).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    /// The id, in every access token (`gid`) and refresh token.
    pub id: String,
    /// The client it was granted to.
    pub client_id: String,
    /// The user, absent for backend services.
    pub user: Option<GrantUser>,
    /// The granted scopes.
    pub scope: String,
    /// Launch context: the patient.
    pub patient: Option<String>,
    /// Launch context: the encounter.
    pub encounter: Option<String>,
    /// When it was made.
    pub created_at: i64,
    /// When it ends, whatever happens (absolute expiry of the refresh family).
    pub expires_at: i64,
    /// SHA-256 (base64url) of the current refresh secret; `None` without refresh tokens.
    pub refresh_sha256: Option<String>,
    /// For `online_access`: the login session it lives with.
    pub session: Option<String>,
}

/// A verified access token: who is calling, with what rights.
#[derive(Debug, Clone)]
pub struct Access {
    /// The tenant the token was issued for.
    pub tenant: String,
    /// The client (app).
    pub client_id: String,
    /// The grant the token belongs to.
    pub grant_id: String,
    /// The token's id (`jti`).
    pub token_id: String,
    /// The user, absent for backend services.
    pub user: Option<GrantUser>,
    /// The granted scopes.
    pub scopes: Scopes,
    /// The patient in context.
    pub patient: Option<String>,
    /// The encounter in context.
    pub encounter: Option<String>,
    /// Expiry (seconds since the epoch).
    pub expires_at: i64,
}

impl Access {
    /// The user's role, if there is a user.
    pub fn role(&self) -> Option<Role> {
        self.user.as_ref().map(|u| u.role)
    }
}

/// Why a bearer token was refused (401 with `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// No `Authorization: Bearer …` header.
    #[error("no access token")]
    Missing,
    /// A token that does not verify, expired, revoked, or for another tenant or server.
    #[error("invalid access token: {0}")]
    Invalid(String),
}

impl AuthServer {
    /// Stores a new grant.
    pub async fn save_grant(&self, tenant: &str, grant: &Grant) -> Result<(), AuthError> {
        let value = serde_json::to_string(grant).map_err(|e| AuthError::Internal(e.to_string()))?;
        self.store()
            .record_put(tenant, KIND, &grant.id, &value, grant.expires_at)
            .await?;
        Ok(())
    }

    /// A live grant.
    pub async fn grant(&self, tenant: &str, id: &str) -> Result<Option<Grant>, AuthError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        match self.store().record_get(tenant, KIND, id).await? {
            Some(value) => Ok(Some(
                serde_json::from_str(&value).map_err(|e| AuthError::Internal(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    /// Replaces a grant only if it is unchanged since `before` was read (refresh rotation).
    pub async fn replace_grant(
        &self,
        tenant: &str,
        before: &Grant,
        after: &Grant,
    ) -> Result<bool, AuthError> {
        let old = serde_json::to_string(before).map_err(|e| AuthError::Internal(e.to_string()))?;
        let new = serde_json::to_string(after).map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(self
            .store()
            .record_replace(tenant, KIND, &before.id, &old, &new, after.expires_at)
            .await?)
    }

    /// Revokes a grant: every access and refresh token of it stops working at once.
    pub async fn revoke_grant(&self, tenant: &str, id: &str) -> Result<bool, AuthError> {
        Ok(self.store().record_delete(tenant, KIND, id).await?)
    }

    /// Revokes every grant that `matches` (a deleted client, a user whose password changed):
    /// returns how many.
    pub async fn revoke_grants_where(
        &self,
        tenant: &str,
        matches: impl Fn(&Grant) -> bool,
    ) -> Result<usize, AuthError> {
        let mut revoked = 0;
        for (id, value) in self.store().record_list(tenant, KIND).await? {
            // A record that does not parse is left alone: it cannot verify a token anyway.
            let Ok(grant) = serde_json::from_str::<Grant>(&value) else {
                continue;
            };
            if matches(&grant) && self.revoke_grant(tenant, &id).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// Issues an access token for a grant, valid `lifetime_secs` (never past the grant's end).
    /// `base` is the tenant's FHIR base: the token's issuer and audience.
    pub async fn issue_access_token(
        &self,
        tenant: &str,
        base: &str,
        grant: &Grant,
        lifetime_secs: i64,
    ) -> Result<(String, i64), AuthError> {
        let now = fhir_core::time::now_millis() / 1000;
        let exp = (now + lifetime_secs).min(grant.expires_at / 1000);
        let mut claims = json!({
            "iss": base,
            "aud": base,
            "sub": grant.user.as_ref().map_or(grant.client_id.as_str(), |u| u.id.as_str()),
            "client_id": grant.client_id,
            "scope": grant.scope,
            "iat": now,
            "exp": exp,
            "jti": crate::jose::random_token(16),
            "gid": grant.id,
            "tenant": tenant,
        });
        if let Some(patient) = &grant.patient {
            claims["patient"] = patient.as_str().into();
        }
        if let Some(user) = &grant.user {
            claims["role"] = user.role.as_str().into();
            if let Some(fhir_user) = &user.fhir_user {
                claims["fhirUser"] = format!("{base}/{fhir_user}").into();
            }
        }
        let keys = self.keys().get(self.store(), tenant).await?;
        let token = keys
            .signing()
            .sign(&claims)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok((token, exp - now))
    }

    /// Checks a bearer token presented at `tenant`'s base `base`: signature (RS256 only, by
    /// `kid` among the tenant's keys), issuer and audience equal to the base, expiry, tenant,
    /// and that its grant is still live (not revoked).
    pub async fn verify_access_token(
        &self,
        tenant: &str,
        base: &str,
        token: &str,
    ) -> Result<Access, BearerError> {
        let invalid = |why: &str| BearerError::Invalid(why.to_owned());
        let unverified =
            Unverified::parse(token).map_err(|e| BearerError::Invalid(e.to_string()))?;
        unverified
            .alg(&[Alg::Rs256])
            .map_err(|e| BearerError::Invalid(e.to_string()))?;
        let kid = unverified
            .header
            .kid
            .clone()
            .ok_or_else(|| invalid("no kid"))?;
        let key = self
            .keys()
            .verifying(self.store(), tenant, &kid)
            .await
            .map_err(|e| BearerError::Invalid(e.to_string()))?
            .ok_or_else(|| invalid("unknown signing key"))?;
        let claims = unverified
            .verify(&key, &[Alg::Rs256])
            .map_err(|e| BearerError::Invalid(e.to_string()))?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("iss") != Some(base) || text("aud") != Some(base) || text("tenant") != Some(tenant)
        {
            return Err(invalid("issued for another server or tenant"));
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("no exp"))?;
        if exp <= fhir_core::time::now_millis() / 1000 {
            return Err(invalid("expired"));
        }
        let grant_id = text("gid").ok_or_else(|| invalid("no grant"))?;
        let grant = self
            .grant(tenant, grant_id)
            .await
            .map_err(|e| BearerError::Invalid(e.to_string()))?
            .ok_or_else(|| invalid("revoked"))?;
        if text("client_id") != Some(grant.client_id.as_str()) {
            return Err(invalid("client mismatch"));
        }
        Ok(Access {
            tenant: tenant.to_owned(),
            client_id: grant.client_id.clone(),
            grant_id: grant.id.clone(),
            token_id: text("jti").unwrap_or_default().to_owned(),
            scopes: Scopes::parse(text("scope").unwrap_or_default()),
            user: grant.user,
            patient: grant.patient,
            encounter: grant.encounter,
            expires_at: exp,
        })
    }
}

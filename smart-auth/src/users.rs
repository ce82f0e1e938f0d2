//! Users of a tenant: argon2id password hashes (PHC strings, so parameters can be raised later),
//! a role, and for patients and staff the FHIR resource they are (`fhirUser`). Records of kind
//! `user`, keyed by user name.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use fhir_core::ResourceStore;
use fhir_core::store::records::NEVER;
use serde::{Deserialize, Serialize};

use crate::AuthError;
use crate::roles::Role;

const KIND: &str = "user";

/// Failed logins before a lockout.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// How long a lockout lasts.
pub const LOCKOUT_MILLIS: i64 = 15 * 60 * 1000;

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The stable subject identifier (`sub`), never reused.
    pub id: String,
    /// The login name, unique in the tenant.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// The role.
    pub role: Role,
    /// `Patient/…` for a patient, `Practitioner/…` (or `PractitionerRole/…`, `Person/…`) for
    /// staff: what `fhirUser` says.
    pub fhir_user: Option<String>,
    /// Failed logins since the last success.
    #[serde(default)]
    pub failed_logins: u32,
    /// Locked until this instant (milliseconds).
    #[serde(default)]
    pub locked_until: i64,
    /// Incremented when the password changes: grants made before stop refreshing.
    #[serde(default)]
    pub credentials_epoch: u32,
}

impl User {
    /// The patient id of a patient user (`Patient/123` → `123`).
    pub fn patient_id(&self) -> Option<&str> {
        if self.role != Role::Patient {
            return None;
        }
        self.fhir_user.as_deref()?.strip_prefix("Patient/")
    }
}

/// Checks a user name: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Checks a `fhirUser` value against the role: `Patient/id` for patients, a staff resource for
/// staff.
fn valid_fhir_user(role: Role, fhir_user: Option<&str>) -> Result<(), AuthError> {
    let Some(reference) = fhir_user else {
        return if role == Role::Patient {
            Err(AuthError::Invalid(
                "a patient user needs a Patient (fhirUser)".into(),
            ))
        } else {
            Ok(())
        };
    };
    let (resource_type, id) = reference
        .split_once('/')
        .ok_or_else(|| AuthError::Invalid(format!("'{reference}' is not Type/id")))?;
    let allowed: &[&str] = if role == Role::Patient {
        &["Patient"]
    } else {
        &[
            "Practitioner",
            "PractitionerRole",
            "Person",
            "RelatedPerson",
        ]
    };
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !allowed.contains(&resource_type) || !id_ok {
        return Err(AuthError::Invalid(format!(
            "fhirUser of a {role} must be one of {allowed:?}/id, not '{reference}'"
        )));
    }
    Ok(())
}

/// Hashes a password with argon2id (off the async threads: it takes tens of milliseconds).
pub async fn hash_password(password: &str) -> Result<String, AuthError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(crate::jose::random_token(16).as_bytes())
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AuthError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| AuthError::Internal(e.to_string()))?
}

/// Verifies a password against a PHC string.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Creates a user; fails when the name is taken.
pub async fn create(
    store: &dyn ResourceStore,
    tenant: &str,
    username: &str,
    password: &str,
    role: Role,
    fhir_user: Option<&str>,
) -> Result<User, AuthError> {
    if !valid_username(username) {
        return Err(AuthError::Invalid(format!(
            "invalid user name '{username}': 1-64 letters, digits, '.', '_', '-', '@'"
        )));
    }
    if password.chars().count() < 12 || password.len() > 1024 {
        return Err(AuthError::Invalid(
            "a password has 12 to 1024 characters".into(),
        ));
    }
    valid_fhir_user(role, fhir_user)?;
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        password_hash: hash_password(password).await?,
        role,
        fhir_user: fhir_user.map(str::to_owned),
        failed_logins: 0,
        locked_until: 0,
        credentials_epoch: 0,
    };
    let value = serde_json::to_string(&user).map_err(|e| AuthError::Internal(e.to_string()))?;
    if !store
        .record_insert(tenant, KIND, username, &value, NEVER)
        .await?
    {
        return Err(AuthError::Conflict(format!("user '{username}' exists")));
    }
    Ok(user)
}

/// A user by name.
pub async fn get(
    store: &dyn ResourceStore,
    tenant: &str,
    username: &str,
) -> Result<Option<User>, AuthError> {
    match store.record_get(tenant, KIND, username).await? {
        Some(value) => Ok(Some(
            serde_json::from_str(&value).map_err(|e| AuthError::Internal(e.to_string()))?,
        )),
        None => Ok(None),
    }
}

/// Every user of a tenant.
pub async fn list(store: &dyn ResourceStore, tenant: &str) -> Result<Vec<User>, AuthError> {
    store
        .record_list(tenant, KIND)
        .await?
        .into_iter()
        .map(|(_, value)| {
            serde_json::from_str(&value).map_err(|e| AuthError::Internal(e.to_string()))
        })
        .collect()
}

/// Writes a changed user (compare-and-set on the previous record, so that concurrent failed
/// logins are all counted).
pub async fn save(
    store: &dyn ResourceStore,
    tenant: &str,
    before: &User,
    after: &User,
) -> Result<bool, AuthError> {
    let old = serde_json::to_string(before).map_err(|e| AuthError::Internal(e.to_string()))?;
    let new = serde_json::to_string(after).map_err(|e| AuthError::Internal(e.to_string()))?;
    Ok(store
        .record_replace(tenant, KIND, &before.username, &old, &new, NEVER)
        .await?)
}

/// Why a login failed (the page says the same for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// Unknown user or wrong password.
    BadCredentials,
    /// Too many failures: locked for a while.
    Locked,
}

/// Checks a user name and password, counting failures and locking the account after
/// [`MAX_FAILED_LOGINS`]. A missing user costs a hash too, so timing does not tell which names
/// exist.
pub async fn login(
    store: &dyn ResourceStore,
    tenant: &str,
    username: &str,
    password: &str,
) -> Result<Result<User, LoginFailure>, AuthError> {
    let now = fhir_core::time::now_millis();
    for _ in 0..8 {
        let Some(user) = get(store, tenant, username).await? else {
            let _ = verify_password(password, DUMMY_HASH).await;
            return Ok(Err(LoginFailure::BadCredentials));
        };
        if user.locked_until > now {
            return Ok(Err(LoginFailure::Locked));
        }
        let ok = verify_password(password, &user.password_hash).await;
        let mut after = user.clone();
        if ok {
            after.failed_logins = 0;
        } else {
            after.failed_logins += 1;
            if after.failed_logins >= MAX_FAILED_LOGINS {
                after.failed_logins = 0;
                after.locked_until = now + LOCKOUT_MILLIS;
            }
        }
        if (ok && user.failed_logins == 0) || save(store, tenant, &user, &after).await? {
            return Ok(if ok {
                Ok(after)
            } else {
                Err(LoginFailure::BadCredentials)
            });
        }
    }
    Err(AuthError::Internal("the user record keeps changing".into()))
}

/// Changes a password; grants made before stop refreshing.
pub async fn set_password(
    store: &dyn ResourceStore,
    tenant: &str,
    username: &str,
    password: &str,
) -> Result<(), AuthError> {
    if password.chars().count() < 12 || password.len() > 1024 {
        return Err(AuthError::Invalid(
            "a password has 12 to 1024 characters".into(),
        ));
    }
    let hash = hash_password(password).await?;
    for _ in 0..8 {
        let user = get(store, tenant, username)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no user '{username}'")))?;
        let mut after = user.clone();
        after.password_hash = hash.clone();
        after.credentials_epoch += 1;
        after.failed_logins = 0;
        after.locked_until = 0;
        if save(store, tenant, &user, &after).await? {
            return Ok(());
        }
    }
    Err(AuthError::Internal("the user record keeps changing".into()))
}

/// An argon2id hash of a random password, verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$W4UqMRdqLQXaMi7GI7FrEStzx5TnJtq2kE3nH9xoKWw";

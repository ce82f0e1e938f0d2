//! Browser sessions of the login and consent pages: a random id in an `HttpOnly`,
//! `SameSite=Lax` cookie (`Secure` on https) scoped to the tenant's base path; the store keeps
//! the session under the SHA-256 of the id, so a leaked database does not hold live cookies.
//! Each session has its own CSRF token, checked on every form post. Login replaces the
//! pre-login session with a new one (no session fixation). A signed-in session is reused by the
//! next authorization of the same browser (single sign-on) until logout or a password change.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{AuthRequest, Params, now_millis};
use crate::AuthError;
use crate::jose::{b64, constant_time_eq, random_token, sha256};

const KIND: &str = "session";
/// The cookie's name.
pub const COOKIE: &str = "smart_session";
/// A pre-login session lives as long as the authorization request it serves.
pub const PRE_LOGIN_MILLIS: i64 = 10 * 60 * 1000;

/// A session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The CSRF token of its forms.
    pub csrf: String,
    /// The pending authorization request (record key).
    pub request: Option<String>,
    /// The signed-in user's name, after login.
    pub user: Option<String>,
    /// When it ends.
    pub expires_at: i64,
    /// The user's credentials epoch at login: a password change ends the single sign-on.
    #[serde(default)]
    pub epoch: u32,
}

/// The store key of a session id.
pub fn key_of(id: &str) -> String {
    b64(&sha256(id.as_bytes()))
}

/// Creates a session; returns its store key and the `Set-Cookie` value.
pub async fn create(
    request: &AuthRequest<'_>,
    session: &Session,
) -> Result<(String, String), AuthError> {
    let id = random_token(32);
    let key = key_of(&id);
    let value = serde_json::to_string(session).map_err(|e| AuthError::Internal(e.to_string()))?;
    request
        .server
        .store()
        .record_put(request.tenant, KIND, &key, &value, session.expires_at)
        .await?;
    let max_age = ((session.expires_at - now_millis()) / 1000).max(0);
    Ok((key, cookie(request, &id, max_age)))
}

/// The `Set-Cookie` value for a session id.
fn cookie(request: &AuthRequest<'_>, id: &str, max_age: i64) -> String {
    let secure = if request.base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE}={id}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        request.base_path()
    )
}

/// Adds a `Set-Cookie` header.
pub fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(request: &AuthRequest<'_>) -> String {
    cookie(request, "", 0)
}

/// The session of the request's cookie, with its store key.
pub async fn load(request: &AuthRequest<'_>) -> Result<Option<(String, Session)>, AuthError> {
    let Some(id) = request.cookie(COOKIE).filter(|id| id.len() == 43) else {
        return Ok(None);
    };
    let key = key_of(&id);
    let Some(value) = request
        .server
        .store()
        .record_get(request.tenant, KIND, &key)
        .await?
    else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&value)
        .ok()
        .map(|session| (key, session)))
}

/// `true` when the session with this store key is live.
pub async fn alive(server: &crate::AuthServer, tenant: &str, key: &str) -> Result<bool, AuthError> {
    Ok(server
        .store()
        .record_get(tenant, KIND, key)
        .await?
        .is_some())
}

/// Writes a changed session under its key (same expiry).
pub async fn save(
    request: &AuthRequest<'_>,
    key: &str,
    session: &Session,
) -> Result<(), AuthError> {
    let value = serde_json::to_string(session).map_err(|e| AuthError::Internal(e.to_string()))?;
    request
        .server
        .store()
        .record_put(request.tenant, KIND, key, &value, session.expires_at)
        .await?;
    Ok(())
}

/// Ends a session.
pub async fn delete(request: &AuthRequest<'_>, key: &str) -> Result<(), AuthError> {
    request
        .server
        .store()
        .record_delete(request.tenant, KIND, key)
        .await?;
    Ok(())
}

/// `true` when the form carries the session's CSRF token.
pub fn csrf_ok(session: &Session, form: &Params) -> bool {
    form.get("csrf")
        .is_some_and(|token| constant_time_eq(token.as_bytes(), session.csrf.as_bytes()))
}

/// A new CSRF token.
pub fn new_csrf() -> String {
    random_token(24)
}

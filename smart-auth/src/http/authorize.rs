//! `GET|POST [base]/auth/authorize`: checks the request, keeps it as a pending record and
//! shows the login page.
//!
//! A bad `client_id` or `redirect_uri` gets an error page, never a redirect (the URI is not
//! trusted yet). Every other error redirects to the registered URI with `error` and `state`,
//! and never with a code.

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::pages::error_page;
use super::session::{self, Session};
use super::{AuthRequest, Params, now_millis, redirect, with_query};
use crate::AuthError;
use crate::clients::{self, Client};
use crate::jose::{b64, random_token, sha256};

/// Record kind of pending authorization requests.
pub const PENDING_KIND: &str = "auth_request";
/// Record kind of EHR launch contexts.
pub const LAUNCH_KIND: &str = "launch";
/// How long a pending request waits for login and consent.
const PENDING_MILLIS: i64 = 10 * 60 * 1000;

/// An authorization request waiting for login and consent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    /// The requested scopes, as sent.
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// From an EHR launch.
    pub launch: Option<LaunchContext>,
}

/// The context of an EHR launch (`POST [base]/auth/launch`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchContext {
    pub patient: String,
    pub encounter: Option<String>,
}

/// The store key of a launch value.
pub fn launch_key(launch: &str) -> String {
    b64(&sha256(launch.as_bytes()))
}

/// `true` for a PKCE challenge or verifier: 43–128 unreserved characters (RFC 7636 §4.1).
pub fn pkce_text_ok(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

/// `GET|POST [base]/auth/authorize`.
pub(super) async fn authorize(request: &AuthRequest<'_>) -> Response {
    let params = if request.method == axum::http::Method::POST {
        request.form()
    } else {
        Params::parse(request.query.as_bytes())
    };
    let params = match params.and_then(Params::unique) {
        Ok(params) => params,
        Err(error) => return error_page(StatusCode::BAD_REQUEST, &error.description),
    };
    let client = match params.get("client_id") {
        Some(id) => clients::get(request.server.store(), request.tenant, id).await,
        None => Ok(None),
    };
    let client = match client {
        Ok(Some(client)) => client,
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, "Unknown or missing client_id."),
        Err(error) => return server_error(error),
    };
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .filter(|uri| client.redirect_allowed(uri))
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The redirect_uri is missing or not registered for this client.",
        );
    };
    let state = params.get("state");
    let fail = |code: &str, description: &str| {
        let mut pairs = vec![("error", code), ("error_description", description)];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        redirect(&with_query(redirect_uri, &pairs))
    };
    match check(request, &params, &client).await {
        Ok(Checked::Invalid(code, description)) => fail(code, &description),
        Ok(Checked::Valid(launch)) => {
            let pending = Pending {
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                scope: params.get("scope").unwrap_or_default().to_owned(),
                state: state.map(str::to_owned),
                code_challenge: params.get("code_challenge").unwrap_or_default().to_owned(),
                nonce: params.get("nonce").map(str::to_owned),
                launch,
            };
            match start_login(request, &client, &pending).await {
                Ok(response) => response,
                Err(error) => server_error(error),
            }
        }
        Err(error) => server_error(error),
    }
}

enum Checked {
    Valid(Option<LaunchContext>),
    Invalid(&'static str, String),
}

/// The checks after the client and redirect URI are known good.
async fn check(
    request: &AuthRequest<'_>,
    params: &Params,
    client: &Client,
) -> Result<Checked, AuthError> {
    let invalid = |description: &str| Ok(Checked::Invalid("invalid_request", description.into()));
    if params.get("response_type") != Some("code") {
        return Ok(Checked::Invalid(
            "unsupported_response_type",
            "response_type must be code".into(),
        ));
    }
    let aud = match (params.get("aud"), params.get("resource")) {
        (Some(aud), Some(resource)) if aud != resource => {
            return invalid("aud and resource differ");
        }
        (Some(aud), _) | (None, Some(aud)) => aud,
        (None, None) => return invalid("aud is required: the FHIR base URL of this server"),
    };
    if aud != request.base {
        return invalid("aud is not the FHIR base URL of this server");
    }
    if params.get("code_challenge_method") != Some("S256") {
        return invalid("PKCE is required with code_challenge_method=S256");
    }
    if !params.get("code_challenge").is_some_and(pkce_text_ok) {
        return invalid("code_challenge must be 43-128 unreserved characters");
    }
    if params.get("scope").is_none_or(|s| s.trim().is_empty()) {
        return Ok(Checked::Invalid(
            "invalid_scope",
            "scope is required".into(),
        ));
    }
    if client.kind == crate::clients::ClientKind::ConfidentialAsymmetric
        && client.redirect_uris.is_empty()
    {
        return Ok(Checked::Invalid(
            "unauthorized_client",
            "this client only uses client credentials".into(),
        ));
    }
    let launch = match params.get("launch") {
        None => None,
        Some(launch) => {
            // Single use: taken now, whatever happens next.
            let value = request
                .server
                .store()
                .record_take(request.tenant, LAUNCH_KIND, &launch_key(launch))
                .await?;
            match value.and_then(|v| serde_json::from_str::<LaunchContext>(&v).ok()) {
                Some(context) => Some(context),
                None => return invalid("unknown, expired or used launch"),
            }
        }
    };
    Ok(Checked::Valid(launch))
}

/// Stores the pending request, opens a pre-login session and shows the login page.
async fn start_login(
    request: &AuthRequest<'_>,
    client: &Client,
    pending: &Pending,
) -> Result<Response, AuthError> {
    let key = random_token(24);
    let expires_at = now_millis() + PENDING_MILLIS;
    let value = serde_json::to_string(pending).map_err(|e| AuthError::Internal(e.to_string()))?;
    request
        .server
        .store()
        .record_put(request.tenant, PENDING_KIND, &key, &value, expires_at)
        .await?;
    // Single sign-on: a browser already signed in (same user, same password) goes straight to
    // consent in its session, so that logging out still ends every online grant of it.
    if let Some((session_key, mut session)) = session::load(request).await?
        && let Some(username) = session.user.clone()
        && let Some(user) =
            crate::users::get(request.server.store(), request.tenant, &username).await?
        && user.credentials_epoch == session.epoch
    {
        session.request = Some(key);
        session::save(request, &session_key, &session).await?;
        return Ok(super::consent::consent_page(
            request,
            client,
            pending,
            &user,
            &session.csrf,
            None,
        )
        .await);
    }
    let session = Session {
        csrf: session::new_csrf(),
        request: Some(key),
        user: None,
        expires_at: now_millis() + session::PRE_LOGIN_MILLIS,
        epoch: 0,
    };
    let (_, cookie) = session::create(request, &session).await?;
    let mut response =
        super::login::login_page(request, &client.name, &session.csrf, None, StatusCode::OK);
    session::set_cookie(&mut response, &cookie);
    Ok(response)
}

/// A failure of the store, as a page.
pub(super) fn server_error(error: AuthError) -> Response {
    tracing::error!(error = %error, "authorization server failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server failed. Try again later.",
    )
}

/// Loads the pending request of a session.
pub(super) async fn pending(
    request: &AuthRequest<'_>,
    session: &Session,
) -> Result<Option<(String, Pending)>, AuthError> {
    let Some(key) = &session.request else {
        return Ok(None);
    };
    let value = request
        .server
        .store()
        .record_get(request.tenant, PENDING_KIND, key)
        .await?;
    Ok(value
        .and_then(|v| serde_json::from_str(&v).ok())
        .map(|p| (key.clone(), p)))
}

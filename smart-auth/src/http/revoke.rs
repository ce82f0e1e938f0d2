//! `POST [base]/auth/revoke` (RFC 7009): revokes the grant of an access or refresh token of
//! the authenticated client. Unknown or foreign tokens get 200 too (nothing to learn).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::client_auth;
use super::errors::OAuthError;
use super::ratelimit::TOKEN_FAILURES;
use super::token::split_refresh;
use super::{AuthRequest, Params};
use crate::jose::{b64, constant_time_eq, sha256};

/// `POST [base]/auth/revoke`.
pub(super) async fn revoke(request: &AuthRequest<'_>) -> Response {
    let form = match request.form().and_then(Params::unique) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let keys: Vec<(String, u32)> = client_auth::claimed_client_id(request, &form)
        .map(|c| (format!("client:{}:{c}", request.tenant), TOKEN_FAILURES))
        .into_iter()
        .collect();
    let limiter = request.server.limiter();
    if let Err(retry_after) = limiter.check_all(&keys) {
        return OAuthError::too_many(retry_after).into_response();
    }
    let audiences = [request.endpoint("token"), request.endpoint("revoke")];
    let caller = match client_auth::authenticate(request, &form, &audiences).await {
        Ok(caller) => caller,
        Err(error) => {
            limiter.fail_all(&keys);
            return error
                .with_basic(client_auth::uses_basic(request))
                .into_response();
        }
    };
    let token = match form.required("token") {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    match grant_of(request, token).await {
        Ok(Some((grant_id, client_id))) if client_id == caller.client.client_id => {
            if let Err(error) = request.server.revoke_grant(request.tenant, &grant_id).await {
                return OAuthError::from(error).into_response();
            }
            tracing::info!(tenant = request.tenant, grant = grant_id, "grant revoked");
        }
        Ok(_) => {}
        Err(error) => return OAuthError::from(error).into_response(),
    }
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// `(grant id, client id)` of a live access or refresh token.
async fn grant_of(
    request: &AuthRequest<'_>,
    token: &str,
) -> Result<Option<(String, String)>, crate::AuthError> {
    if let Ok(access) = request
        .server
        .verify_access_token(request.tenant, request.base, token)
        .await
    {
        return Ok(Some((access.grant_id, access.client_id)));
    }
    let Some((gid, secret)) = split_refresh(token) else {
        return Ok(None);
    };
    let Some(grant) = request.server.grant(request.tenant, gid).await? else {
        return Ok(None);
    };
    let matches = grant.refresh_sha256.as_deref().is_some_and(|stored| {
        constant_time_eq(
            stored.as_bytes(),
            b64(&sha256(secret.as_bytes())).as_bytes(),
        )
    });
    Ok(matches.then_some((grant.id, grant.client_id)))
}

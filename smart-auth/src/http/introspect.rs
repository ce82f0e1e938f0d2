//! `POST [base]/auth/introspect` (RFC 7662). The caller is a confidential client
//! (`client_secret_basic` or `private_key_jwt`) or presents a bearer access token of this
//! tenant; a caller only learns about its own client's tokens. Anything else is
//! `{"active":false}`, so the answer never tells a foreign token from a bad one.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::client_auth::{self, Method};
use super::errors::OAuthError;
use super::ratelimit::TOKEN_FAILURES;
use super::{AuthRequest, Params, no_store_json};
use crate::jose::Unverified;

/// `POST [base]/auth/introspect`.
pub(super) async fn introspect(request: &AuthRequest<'_>) -> Response {
    let form = match request.form().and_then(Params::unique) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let key = client_auth::claimed_client_id(request, &form)
        .map(|c| (format!("client:{}:{c}", request.tenant), TOKEN_FAILURES));
    let keys: Vec<(String, u32)> = key.into_iter().collect();
    if let Err(retry_after) = request.server.limiter().check_all(&keys) {
        return OAuthError::too_many(retry_after).into_response();
    }
    let caller = match caller_client(request, &form).await {
        Ok(caller) => caller,
        Err(error) => {
            request.server.limiter().fail_all(&keys);
            return error
                .with_basic(client_auth::uses_basic(request))
                .into_response();
        }
    };
    let token = match form.required("token") {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    no_store_json(describe(request, &caller, token).await)
}

/// The client on whose behalf the caller asks.
async fn caller_client(request: &AuthRequest<'_>, form: &Params) -> Result<String, OAuthError> {
    if let Some(bearer) = request.bearer() {
        return request
            .server
            .verify_access_token(request.tenant, request.base, bearer)
            .await
            .map(|access| access.client_id)
            .map_err(|_| OAuthError::client("the bearer token is not valid"));
    }
    let audiences = [request.endpoint("token"), request.endpoint("introspect")];
    let caller = client_auth::authenticate(request, form, &audiences).await?;
    if caller.method == Method::None {
        return Err(OAuthError::client(
            "introspection needs a confidential client or a bearer token",
        ));
    }
    Ok(caller.client.client_id)
}

/// The introspection answer for `token` asked by `caller`.
async fn describe(request: &AuthRequest<'_>, caller: &str, token: &str) -> Value {
    let inactive = json!({"active": false});
    let Ok(access) = request
        .server
        .verify_access_token(request.tenant, request.base, token)
        .await
    else {
        return inactive;
    };
    if access.client_id != caller {
        return inactive;
    }
    let Ok(claims) = Unverified::parse(token).map(|t| t.claims) else {
        return inactive;
    };
    let mut answer = json!({
        "active": true,
        "scope": access.scopes.to_string(),
        "client_id": access.client_id,
        "exp": access.expires_at,
        "token_type": "Bearer",
        "iss": request.base,
    });
    for name in ["iat", "sub", "fhirUser", "patient"] {
        if let Some(value) = claims.get(name) {
            answer[name] = value.clone();
        }
    }
    if let Some(encounter) = &access.encounter {
        answer["encounter"] = encounter.as_str().into();
    }
    answer
}

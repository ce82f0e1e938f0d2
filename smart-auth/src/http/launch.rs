//! `POST [base]/auth/launch`: an EHR (a staff user's session in it) opens an app with a patient
//! in context. The answer's `launch` value is opaque, single-use, bound to this tenant and
//! lives five minutes; the app passes it to `authorize`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::authorize::{LAUNCH_KIND, LaunchContext, launch_key};
use super::errors::{api_auth_error, api_error};
use super::{AuthRequest, now_millis};
use crate::jose::random_token;

const LAUNCH_MILLIS: i64 = 5 * 60 * 1000;

/// `POST [base]/auth/launch` with `{"patient": "id", "encounter": "id"?}`.
pub(super) async fn launch(request: &AuthRequest<'_>) -> Response {
    let Some(token) = request.bearer() else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "a staff user's bearer token is required",
        );
    };
    let access = match request
        .server
        .verify_access_token(request.tenant, request.base, token)
        .await
    {
        Ok(access) => access,
        Err(error) => return api_error(StatusCode::UNAUTHORIZED, error.to_string()),
    };
    if !access.role().is_some_and(|role| role.is_staff()) {
        return api_error(StatusCode::FORBIDDEN, "only staff users launch apps");
    }
    let body = match request.json() {
        Ok(body) => body,
        Err((status, message)) => return api_error(status, message),
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let Some(patient) = text("patient") else {
        return api_error(StatusCode::BAD_REQUEST, "'patient' (an id) is required");
    };
    match super::consent::patient_exists(request, &patient).await {
        Ok(true) => {}
        Ok(false) => return api_error(StatusCode::BAD_REQUEST, "no such Patient"),
        Err(error) => return api_auth_error(error),
    }
    let encounter = text("encounter");
    if encounter
        .as_deref()
        .is_some_and(|e| e.is_empty() || e.len() > 64)
    {
        return api_error(StatusCode::BAD_REQUEST, "'encounter' must be an id");
    }
    let context = LaunchContext { patient, encounter };
    let value = match serde_json::to_string(&context) {
        Ok(value) => value,
        Err(error) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    };
    let launch = random_token(24);
    if let Err(error) = request
        .server
        .store()
        .record_put(
            request.tenant,
            LAUNCH_KIND,
            &launch_key(&launch),
            &value,
            now_millis() + LAUNCH_MILLIS,
        )
        .await
    {
        return api_auth_error(error.into());
    }
    (StatusCode::OK, super::json(json!({"launch": launch}))).into_response()
}

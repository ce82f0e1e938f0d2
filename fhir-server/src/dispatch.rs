//! The single entry point of FHIR requests: splits the tenant off the path, negotiates the
//! format, reads the body within its limit, routes, runs the interaction and renders the result
//! or the error as an OperationOutcome.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, HOST};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::format::{Rendering, negotiate};
use crate::interactions;
use crate::route::{Interaction, check_segment, route};
use crate::state::AppState;
use crate::tenant::is_valid_name;
use fhir_core::store::DEFAULT_TENANT;

/// Handles every request that is not `/healthz`.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    if let Some(response) = auth_endpoint(&state, request.uri().path(), request.headers()) {
        let (tenant, base, rest) = response;
        let Some(auth) = state.auth().cloned() else {
            return FhirError::NotFound("authorization is off on this server (--auth=off)".into())
                .into_response(Rendering::default());
        };
        match state.tenants().exists(state.store(), &tenant).await {
            Ok(true) => {}
            Ok(false) => {
                return FhirError::NotFound(format!("unknown tenant '{tenant}'"))
                    .into_response(Rendering::default());
            }
            Err(error) => return FhirError::from(error).into_response(Rendering::default()),
        }
        return smart_auth::http::serve(&auth, &tenant, &base, &rest, request).await;
    }
    let (parts, body) = request.into_parts();
    let params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|query| {
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let rendering = match negotiate(param("_format"), param("_pretty"), &parts.headers) {
        Ok(rendering) => rendering,
        Err(error) => return error.into_response(Rendering::default()),
    };
    let is_head = parts.method == Method::HEAD;
    let result = serve(state, parts, body, params, rendering).await;
    let response = match result {
        Ok(response) => response.render(rendering),
        Err(error) => error.into_response(rendering),
    };
    if is_head {
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    response
}

/// Everything between negotiation and rendering; takes the request apart without copying it.
async fn serve(
    state: AppState,
    parts: axum::http::request::Parts,
    body: Body,
    params: Vec<(String, String)>,
    rendering: Rendering,
) -> Result<crate::response::FhirResponse, FhirError> {
    let (tenant, tenant_prefix, rest) = split_tenant(parts.uri.path())?;
    if !state.tenants().exists(state.store(), &tenant).await? {
        return Err(FhirError::NotFound(format!("unknown tenant '{tenant}'")));
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let interaction = route(&parts.method, &segments)?;
    let base = format!("{}{tenant_prefix}", origin(&state, &parts.headers));
    // Every request but the CapabilityStatement (which SMART clients read before they have a
    // token) needs a valid bearer token of this tenant, when authorization is on.
    let access = match state.auth() {
        Some(auth) if !matches!(interaction, Interaction::Capabilities) => {
            let token = bearer_token(&parts.headers)?;
            let access = auth
                .verify_access_token(&tenant, &base, token)
                .await
                .map_err(FhirError::Unauthorized)?;
            Some(std::sync::Arc::new(access))
        }
        _ => None,
    };
    let body = if takes_body(&interaction) {
        read_body(&parts.headers, body, state.max_body_bytes()).await?
    } else {
        Bytes::new()
    };
    let request = FhirRequest {
        state,
        tenant,
        base,
        headers: parts.headers,
        params,
        body,
        rendering,
        access,
    };
    interactions::run(interaction, request).await
}

/// The scheme, host and port of absolute URLs: `--base-url`, or the Host header.
fn origin(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    match state.base_url() {
        Some(base) => base.to_owned(),
        None => {
            let host = headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// `(tenant, base, rest)` when the path is one of the authorization server's
/// (`[base]/auth/…`, `[base]/.well-known/…`).
fn auth_endpoint(
    state: &AppState,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> Option<(String, String, String)> {
    let (tenant, prefix, rest) = split_tenant(path).ok()?;
    let is_auth =
        rest == "/auth" || rest.starts_with("/auth/") || rest.starts_with("/.well-known/");
    is_auth.then(|| {
        (
            tenant,
            format!("{}{prefix}", origin(state, headers)),
            rest.to_owned(),
        )
    })
}

/// The token of `Authorization: Bearer …` (the scheme is case-insensitive, RFC 6750).
fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, FhirError> {
    let missing = || FhirError::Unauthorized(smart_auth::BearerError::Missing);
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| {
            FhirError::Unauthorized(smart_auth::BearerError::Invalid("not text".into()))
        })?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

/// `/fhir/…` → the default tenant; `/t/{tenant}/fhir/…` → a named tenant. Returns the tenant,
/// the path prefix of its base and the rest of the path.
fn split_tenant(path: &str) -> Result<(String, String, &str), FhirError> {
    let not_found = || {
        FhirError::NotFound(format!(
            "no FHIR endpoint at '{path}': the base is /fhir or /t/{{tenant}}/fhir"
        ))
    };
    if let Some(rest) = path.strip_prefix("/fhir") {
        if rest.is_empty() || rest.starts_with('/') {
            return Ok((DEFAULT_TENANT.to_owned(), "/fhir".to_owned(), rest));
        }
        return Err(not_found());
    }
    let after_t = path.strip_prefix("/t/").ok_or_else(not_found)?;
    let (tenant, rest) = after_t.split_once('/').ok_or_else(not_found)?;
    check_segment(tenant)?;
    let rest = rest
        .strip_prefix("fhir")
        .filter(|r| r.is_empty() || r.starts_with('/'))
        .ok_or_else(not_found)?;
    if !is_valid_name(tenant) {
        return Err(FhirError::NotFound(format!("unknown tenant '{tenant}'")));
    }
    Ok((tenant.to_owned(), format!("/t/{tenant}/fhir"), rest))
}

fn takes_body(interaction: &Interaction) -> bool {
    matches!(
        interaction,
        Interaction::Create(_)
            | Interaction::Update(..)
            | Interaction::ConditionalUpdate(_)
            | Interaction::Search(crate::route::SearchScope { post: true, .. })
            | Interaction::Everything(_)
            | Interaction::Bundle
            | Interaction::Patch(..)
            | Interaction::ConditionalPatch(_)
    )
}

/// Reads the body, refusing it with 413 as soon as it is known to be over the limit: from
/// Content-Length before reading anything, or while reading a chunked body.
async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, FhirError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(FhirError::PayloadTooLarge(limit));
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let message = error.to_string();
            if error.into_inner().is::<http_body_util::LengthLimitError>() {
                Err(FhirError::PayloadTooLarge(limit))
            } else {
                Err(FhirError::BadRequest(format!(
                    "the request body could not be read: {message}"
                )))
            }
        }
    }
}

/// `GET /healthz`: 200 when the store answers.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store().tenant_exists(DEFAULT_TENANT).await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

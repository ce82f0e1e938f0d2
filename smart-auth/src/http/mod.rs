//! The HTTP endpoints of the authorization server, under each tenant's FHIR base:
//! `[base]/.well-known/smart-configuration`, `[base]/.well-known/openid-configuration`,
//! `[base]/auth/…` (authorize, login, consent, token, introspect, revoke, jwks, admin).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AuthServer;

/// Serves one request to an authorization endpoint of `tenant`, whose FHIR base is `base`;
/// `rest` is the path after the base (`/auth/token`, `/.well-known/smart-configuration`).
pub async fn serve(
    _server: &AuthServer,
    _tenant: &str,
    _base: &str,
    rest: &str,
    _request: Request,
) -> Response {
    (StatusCode::NOT_FOUND, format!("no endpoint {rest}")).into_response()
}

/// The `rest.security` element of the CapabilityStatement of a tenant whose base is `base`:
/// the SMART service and the `oauth-uris` extension, in line with the well-known document.
pub fn capability_security(base: &str) -> serde_json::Value {
    serde_json::json!({ "cors": true, "service": [], "extension": [], "_base": base })
}

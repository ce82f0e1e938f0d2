//! `GET [base]/.well-known/smart-configuration` and `…/openid-configuration`, and the security
//! element of the CapabilityStatement: the three say the same thing.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AuthRequest;

/// What we implement, and only that (each listed capability is a SHALL).
const CAPABILITIES: &[&str] = &[
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
];

/// The scopes we can grant (resource scopes are any type; these are examples of the forms).
const SCOPES: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.rs",
    "user/*.rs",
    "user/*.cruds",
    "system/*.rs",
    "patient/*.read",
    "user/*.read",
    "system/*.read",
];

/// The SMART configuration of the tenant whose base is `base`.
pub fn smart_document(base: &str) -> Value {
    json!({
        "issuer": base,
        "jwks_uri": format!("{base}/auth/jwks"),
        "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"),
        "introspection_endpoint": format!("{base}/auth/introspect"),
        "revocation_endpoint": format!("{base}/auth/revoke"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    })
}

/// JSON whatever `Accept` says, readable from any origin (SMART: discovery is public).
fn public_json(body: Value) -> Response {
    let mut response = super::json(body).into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET [base]/.well-known/smart-configuration`.
pub(super) fn smart_configuration(request: &AuthRequest<'_>) -> Response {
    public_json(smart_document(request.base))
}

/// `GET [base]/.well-known/openid-configuration`.
pub(super) fn openid_configuration(request: &AuthRequest<'_>) -> Response {
    let base = request.base;
    public_json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"),
        "jwks_uri": format!("{base}/auth/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
    }))
}

/// The `rest.security` element of the CapabilityStatement of a tenant whose base is `base`:
/// the SMART service and the `oauth-uris` extension, in line with the well-known document.
pub fn capability_security(base: &str) -> Value {
    json!({
        "cors": true,
        "service": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "SMART-on-FHIR",
            }],
            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
        }],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                {"url": "token", "valueUri": format!("{base}/auth/token")},
                {"url": "authorize", "valueUri": format!("{base}/auth/authorize")},
                {"url": "introspect", "valueUri": format!("{base}/auth/introspect")},
                {"url": "revoke", "valueUri": format!("{base}/auth/revoke")},
            ],
        }],
    })
}

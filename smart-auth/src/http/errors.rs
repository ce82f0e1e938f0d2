//! OAuth 2 error responses (RFC 6749 §5.2): `{"error": …, "error_description": …}` with the
//! status the RFC gives each code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AuthError;

/// An error of the token, introspection or revocation endpoint.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// The RFC 6749 code (`invalid_request`, `invalid_grant`, …).
    pub code: &'static str,
    /// A human-readable description (never a secret).
    pub description: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// The client authenticated with HTTP Basic: a 401 names that scheme.
    pub basic: bool,
    /// Seconds before retrying (429).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(code: &'static str, status: StatusCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            status,
            basic: false,
            retry_after: None,
        }
    }

    /// A missing, duplicated, oversized or malformed parameter.
    pub fn request(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", StatusCode::BAD_REQUEST, description)
    }

    /// A bad code, refresh token or verifier.
    pub fn grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", StatusCode::BAD_REQUEST, description)
    }

    /// Client authentication failed.
    pub fn client(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_client", StatusCode::UNAUTHORIZED, description)
    }

    /// Scopes that cannot be granted.
    pub fn scope(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_scope", StatusCode::BAD_REQUEST, description)
    }

    /// A grant type we do not implement.
    pub fn grant_type(description: impl Into<String>) -> OAuthError {
        OAuthError::new(
            "unsupported_grant_type",
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    /// Too many attempts.
    pub fn too_many(retry_after: u64) -> OAuthError {
        let mut error = OAuthError::new(
            "slow_down",
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts; retry later",
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// The server failed.
    pub fn server(description: impl Into<String>) -> OAuthError {
        OAuthError::new(
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            description,
        )
    }

    /// Marks that the client used HTTP Basic.
    pub fn with_basic(mut self, basic: bool) -> OAuthError {
        self.basic = basic;
        self
    }
}

impl From<AuthError> for OAuthError {
    fn from(error: AuthError) -> OAuthError {
        match error {
            AuthError::Invalid(text) => OAuthError::request(text),
            other => {
                tracing::error!(error = %other, "authorization server failure");
                OAuthError::server("internal error")
            }
        }
    }
}

impl From<fhir_core::store::StoreError> for OAuthError {
    fn from(error: fhir_core::store::StoreError) -> OAuthError {
        OAuthError::from(AuthError::from(error))
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut response = (self.status, super::no_store_json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED && self.basic {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\""),
            );
        }
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// An error of the JSON APIs (launch, admin): `{"error": …}` with a status.
pub fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, super::json(json!({"error": message.into()}))).into_response()
}

/// An [`AuthError`] of the JSON APIs.
pub fn api_auth_error(error: AuthError) -> Response {
    match error {
        AuthError::Invalid(text) => api_error(StatusCode::BAD_REQUEST, text),
        AuthError::Conflict(text) => api_error(StatusCode::CONFLICT, text),
        AuthError::NotFound(text) => api_error(StatusCode::NOT_FOUND, text),
        other => {
            tracing::error!(error = %other, "authorization server failure");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

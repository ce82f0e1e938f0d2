//! The one place where errors become HTTP status codes and OperationOutcomes.
//!
//! Handlers return [`FhirError`]; the dispatcher renders it with [`FhirError::into_response`] in
//! the negotiated format. Database and internal errors are logged here, once, and the client
//! sees a generic message.

use axum::http::StatusCode;
use fhir_core::Issue;
use fhir_core::outcome::operation_outcome;
use fhir_core::store::StoreError;

use crate::format::Rendering;
use crate::response::{Body, FhirResponse};

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// 400: the request cannot be understood (bad parameter, unparseable body, id mismatch …).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400 or 422 with every issue found in the body.
    #[error("{} issues", .issues.len())]
    Issues {
        /// 400 (unparseable) or 422 (invalid).
        status: StatusCode,
        /// What is wrong, with locations.
        issues: Vec<Issue>,
    },
    /// 401: no bearer token, or one that does not verify (expired, revoked, another tenant's).
    #[error("unauthorized: {0}")]
    Unauthorized(smart_auth::BearerError),
    /// 403: the token is valid but its scopes or its user's role do not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: unknown tenant, type, id or version, or unknown path.
    #[error("not found: {0}")]
    NotFound(String),
    /// 405: the method is not allowed on this path.
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// 406: the client accepts none of our formats.
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    /// 409: a conflicting concurrent change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 410: the resource is deleted.
    #[error("gone: {0}")]
    Gone(String),
    /// 412: `If-Match` did not hold.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// 413: the body is over the configured limit.
    #[error("payload too large")]
    PayloadTooLarge(usize),
    /// 413: a batch or transaction Bundle has more entries than configured. Like a body over
    /// the byte limit, the request is too large as a whole: the client can split it.
    #[error("too many entries")]
    TooManyEntries {
        /// The entries of the Bundle.
        entries: usize,
        /// `--bundle-max-entries`.
        limit: usize,
    },
    /// 415: the body's media type is not supported.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// 501: a FHIR interaction this server does not implement yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// 500: anything unexpected, logged.
    #[error("internal error: {0}")]
    Internal(String),
    /// An error of the store, mapped by kind.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FhirError {
    /// The status code and the issues of the OperationOutcome.
    pub fn status_and_issues(&self) -> (StatusCode, Vec<Issue>) {
        let single = |status, code, message: &str| (status, vec![Issue::error(code, message)]);
        match self {
            FhirError::BadRequest(message) => single(StatusCode::BAD_REQUEST, "invalid", message),
            FhirError::Issues { status, issues } => (*status, issues.clone()),
            FhirError::Unauthorized(error) => {
                single(StatusCode::UNAUTHORIZED, "login", &error.to_string())
            }
            FhirError::Forbidden(message) => single(StatusCode::FORBIDDEN, "forbidden", message),
            FhirError::NotFound(message) => single(StatusCode::NOT_FOUND, "not-found", message),
            FhirError::MethodNotAllowed(message) => {
                single(StatusCode::METHOD_NOT_ALLOWED, "not-supported", message)
            }
            FhirError::NotAcceptable(message) => {
                single(StatusCode::NOT_ACCEPTABLE, "not-supported", message)
            }
            FhirError::Conflict(message) => single(StatusCode::CONFLICT, "conflict", message),
            FhirError::Gone(message) => single(StatusCode::GONE, "deleted", message),
            FhirError::PreconditionFailed(message) => {
                single(StatusCode::PRECONDITION_FAILED, "conflict", message)
            }
            FhirError::PayloadTooLarge(limit) => single(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-long",
                &format!("the request body is larger than the limit of {limit} bytes"),
            ),
            FhirError::TooManyEntries { entries, limit } => single(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                &format!("the Bundle has {entries} entries, more than the limit of {limit}"),
            ),
            FhirError::UnsupportedMediaType(message) => {
                single(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported", message)
            }
            FhirError::NotImplemented(message) => {
                single(StatusCode::NOT_IMPLEMENTED, "not-supported", message)
            }
            FhirError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                single(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "an internal error occurred",
                )
            }
            FhirError::Store(error) => store_status(error),
        }
    }

    /// Renders the error as an OperationOutcome response.
    pub fn into_response(self, rendering: Rendering) -> axum::response::Response {
        let (status, issues) = self.status_and_issues();
        let mut response = FhirResponse::new(status, Body::Resource(operation_outcome(&issues)));
        if let FhirError::Unauthorized(error) = &self {
            // RFC 6750 section 3: no error code when no token was sent.
            let challenge = match error {
                smart_auth::BearerError::Missing => r#"Bearer realm="fhir""#.to_owned(),
                smart_auth::BearerError::Invalid(_) => {
                    r#"Bearer realm="fhir", error="invalid_token""#.to_owned()
                }
            };
            response = response.header(axum::http::header::WWW_AUTHENTICATE, &challenge);
        }
        response.render(rendering)
    }
}

/// The answer to a handler that panicked: a logged 500 with an OperationOutcome (in JSON, as
/// the negotiated format is not known any more), never a dropped connection.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    FhirError::Internal(format!("a handler panicked: {message}"))
        .into_response(Rendering::default())
}

fn store_status(error: &StoreError) -> (StatusCode, Vec<Issue>) {
    let (status, code, message) = match error {
        StoreError::UnknownTenant(tenant) => (
            StatusCode::NOT_FOUND,
            "not-found",
            format!("unknown tenant '{tenant}'"),
        ),
        StoreError::TenantExists(_) => (StatusCode::CONFLICT, "duplicate", error.to_string()),
        StoreError::AlreadyExists { .. } => (StatusCode::CONFLICT, "duplicate", error.to_string()),
        StoreError::VersionConflict { expected, current } => (
            StatusCode::PRECONDITION_FAILED,
            "conflict",
            match current {
                Some(current) => format!(
                    "If-Match asked for version {expected} but the current version is {current}"
                ),
                None => {
                    format!("If-Match asked for version {expected} but the resource does not exist")
                }
            },
        ),
        StoreError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", error.to_string()),
        StoreError::Invalid(message) => (StatusCode::BAD_REQUEST, "invalid", message.clone()),
        StoreError::Unavailable(_) => {
            tracing::error!(error = %error, "store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the store is unavailable".into(),
            )
        }
        // A failed write of a group answers as that write would; the caller that knows what
        // the positions mean (the transaction Bundle) says where.
        StoreError::InGroup { error, .. } => return store_status(error),
        StoreError::Database(_) | StoreError::Migration { .. } => {
            tracing::error!(error = %error, "database error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "an internal database error occurred".into(),
            )
        }
    };
    (status, vec![Issue::error(code, message)])
}

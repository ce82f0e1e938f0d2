//! The parsed request every interaction receives.

use axum::body::Bytes;
use axum::http::HeaderMap;

use crate::format::Rendering;
use crate::state::AppState;

/// One FHIR request after routing: tenant, base URL, parameters, headers, body.
#[derive(Debug)]
pub struct FhirRequest {
    /// Server state.
    pub state: AppState,
    /// The tenant the request is for.
    pub tenant: String,
    /// The absolute base of the tenant, without a trailing slash (`http://host/fhir`).
    pub base: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// Query parameters, decoded, in order.
    pub params: Vec<(String, String)>,
    /// The body (empty for GET and DELETE).
    pub body: Bytes,
    /// The negotiated response format.
    pub rendering: Rendering,
    /// Who is calling with what rights; `None` when authorization is off.
    pub access: Option<std::sync::Arc<smart_auth::Access>>,
}

impl FhirRequest {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

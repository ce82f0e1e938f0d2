//! FHIR responses: status, headers and a body rendered in the negotiated format.

use std::sync::Arc;

use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::format::{Format, Rendering};

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// No body (204, 304, `Prefer: return=minimal`).
    Empty,
    /// A resource held as JSON.
    Resource(Value),
    /// A stored resource: compact JSON in definition order, sent as is when JSON is asked for.
    Stored(Arc<str>),
}

/// A response before rendering.
#[derive(Debug)]
pub struct FhirResponse {
    /// The status code.
    pub status: StatusCode,
    /// Headers other than Content-Type.
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
}

impl FhirResponse {
    /// A response with no extra headers.
    pub fn new(status: StatusCode, body: Body) -> FhirResponse {
        FhirResponse {
            status,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// Adds a header; values that are not valid header text are skipped (they come from
    /// our own formatting, so this does not happen).
    pub fn header(mut self, name: HeaderName, value: &str) -> FhirResponse {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
        self
    }

    /// Writes the body in the negotiated format.
    pub fn render(self, rendering: Rendering) -> Response {
        let FhirResponse {
            status,
            mut headers,
            body,
        } = self;
        let text = match body {
            Body::Empty => return (status, headers).into_response(),
            Body::Stored(json) if rendering.format == Format::Json && !rendering.pretty => {
                json.to_string()
            }
            Body::Stored(json) => match fhir_core::json::parse(json.as_bytes()) {
                Ok(value) => render_value(&value, rendering),
                Err(error) => {
                    tracing::error!(error = %error, "stored resource is not valid JSON");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            },
            Body::Resource(value) => render_value(&value, rendering),
        };
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(rendering.format.content_type()),
        );
        (status, headers, text).into_response()
    }
}

/// Renders a resource held as JSON.
pub fn render_value(value: &Value, rendering: Rendering) -> String {
    match (rendering.format, rendering.pretty) {
        (Format::Json, false) => fhir_core::json::to_string(value),
        (Format::Json, true) => fhir_core::json::to_string_pretty(value),
        (Format::Xml, pretty) => fhir_core::xml::to_xml(value, pretty),
    }
}

//! Content negotiation: `_format`, `Accept`, `Content-Type` and `_pretty`.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE};

use crate::error::FhirError;

/// A wire format of FHIR resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/fhir+json`.
    Json,
    /// `application/fhir+xml`.
    Xml,
}

impl Format {
    /// The Content-Type of responses in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/fhir+json; charset=utf-8",
            Format::Xml => "application/fhir+xml; charset=utf-8",
        }
    }

    /// The format of a MIME type or `_format` value, ignoring parameters; `None` if unsupported.
    fn from_mime(mime: &str) -> Option<Format> {
        match mime.trim().to_ascii_lowercase().as_str() {
            "json"
            | "application/fhir+json"
            | "application/json"
            | "application/json+fhir"
            | "text/json" => Some(Format::Json),
            "xml"
            | "application/fhir+xml"
            | "application/xml"
            | "application/xml+fhir"
            | "text/xml" => Some(Format::Xml),
            _ => None,
        }
    }
}

/// How the response body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendering {
    /// JSON or XML.
    pub format: Format,
    /// Indented output (`_pretty=true`).
    pub pretty: bool,
}

impl Default for Rendering {
    fn default() -> Rendering {
        Rendering {
            format: Format::Json,
            pretty: false,
        }
    }
}

/// Chooses the response format: `_format` wins over `Accept`; JSON when neither says.
/// Answers 406 when the client accepts none of our formats.
pub fn negotiate(
    format_param: Option<&str>,
    pretty_param: Option<&str>,
    headers: &HeaderMap,
) -> Result<Rendering, FhirError> {
    let pretty = matches!(pretty_param, Some("true"));
    if let Some(requested) = format_param {
        let mime = requested.split(';').next().unwrap_or_default();
        return match Format::from_mime(mime) {
            Some(format) => Ok(Rendering { format, pretty }),
            None => Err(FhirError::NotAcceptable(format!(
                "_format '{requested}' is not supported: use json or xml"
            ))),
        };
    }
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Rendering {
            format: Format::Json,
            pretty,
        });
    };
    let mut best: Option<(f32, Format)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let mime = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let quality = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        let format = match mime.as_str() {
            "*/*" | "application/*" | "" => Some(Format::Json),
            other => Format::from_mime(other),
        };
        if let Some(format) = format
            && best.is_none_or(|(q, _)| quality > q)
        {
            best = Some((quality, format));
        }
    }
    match best {
        Some((_, format)) => Ok(Rendering { format, pretty }),
        None => Err(FhirError::NotAcceptable(format!(
            "none of the accepted types '{accept}' is supported: use application/fhir+json or application/fhir+xml"
        ))),
    }
}

/// The format of a request body from its Content-Type; 415 when missing or unsupported, or when
/// the charset is not UTF-8.
pub fn request_format(headers: &HeaderMap) -> Result<Format, FhirError> {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Err(FhirError::UnsupportedMediaType(
            "the request has a body but no Content-Type: use application/fhir+json or application/fhir+xml".into(),
        ));
    };
    let mut pieces = content_type.split(';');
    let mime = pieces.next().unwrap_or_default();
    for parameter in pieces {
        if let Some((name, value)) = parameter.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
            && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(FhirError::UnsupportedMediaType(format!(
                "charset '{}' is not supported: FHIR bodies are UTF-8",
                value.trim()
            )));
        }
    }
    Format::from_mime(mime).ok_or_else(|| {
        FhirError::UnsupportedMediaType(format!(
            "Content-Type '{content_type}' is not supported: use application/fhir+json or application/fhir+xml"
        ))
    })
}

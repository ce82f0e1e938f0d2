//! Parsing and writing of the FHIR-relevant HTTP headers: ETag, If-Match, If-None-Match,
//! If-Modified-Since, Last-Modified, Prefer.

use std::time::{Duration, UNIX_EPOCH};

use axum::http::HeaderMap;
use fhir_core::store::Millis;

use crate::error::FhirError;

/// `W/"3"` for version 3.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// An HTTP date (`Last-Modified`) for a store timestamp.
pub fn http_date(millis: Millis) -> String {
    let seconds = u64::try_from(millis / 1000).unwrap_or(0);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The version named by an ETag value: `W/"3"` or `"3"`.
fn parse_etag(value: &str) -> Option<i64> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    value.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// The version of `If-Match`, if the header is present; 400 when it is not a version ETag.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, FhirError> {
    let Some(value) = headers.get("if-match") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    parse_etag(text).map(Some).ok_or_else(|| {
        FhirError::BadRequest(format!(
            "If-Match '{text}' is not a version ETag such as W/\"1\""
        ))
    })
}

/// `true` when `If-None-Match` names the current version (or is `*`), so a read answers 304.
pub fn none_match_hits(headers: &HeaderMap, version: i64) -> bool {
    let Some(value) = headers.get("if-none-match").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value
        .split(',')
        .any(|tag| tag.trim() == "*" || parse_etag(tag) == Some(version))
}

/// `If-None-Match` on a write: only `*` ("only if it does not exist") means something there;
/// `false` when the header is absent, 400 for anything else.
pub fn none_match_any(headers: &HeaderMap) -> Result<bool, FhirError> {
    let Some(value) = headers.get("if-none-match") else {
        return Ok(false);
    };
    match value.to_str().map(str::trim) {
        Ok("*") => Ok(true),
        _ => Err(FhirError::BadRequest(
            "If-None-Match on an update must be '*' (update only when the resource does not exist)"
                .into(),
        )),
    }
}

/// `true` when `If-Modified-Since` is at or after the version's time (whole seconds, as HTTP
/// dates have), so a read answers 304.
pub fn not_modified_since(headers: &HeaderMap, last_updated: Millis) -> bool {
    let Some(since) = headers
        .get("if-modified-since")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    let since_seconds = since
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u64::try_from(last_updated / 1000).is_ok_and(|modified| modified <= since_seconds)
}

/// What `Prefer: return=…` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPreference {
    /// No body.
    Minimal,
    /// The resource (the default).
    Representation,
    /// An OperationOutcome about the interaction.
    OperationOutcome,
}

/// Reads `Prefer: return=…`; the default is the representation.
pub fn return_preference(headers: &HeaderMap) -> ReturnPreference {
    requested_return(headers).unwrap_or(ReturnPreference::Representation)
}

/// The `Prefer: return=…` the client sent, if any (Bundles have another default).
pub fn requested_return(headers: &HeaderMap) -> Option<ReturnPreference> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(&[',', ';'][..]))
        .find_map(
            |part| match part.trim().strip_prefix("return=")?.trim_matches('"') {
                "minimal" => Some(ReturnPreference::Minimal),
                "representation" => Some(ReturnPreference::Representation),
                "OperationOutcome" => Some(ReturnPreference::OperationOutcome),
                _ => None,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_parse_weak_and_strong() {
        assert_eq!(parse_etag("W/\"12\""), Some(12));
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("3"), None);
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}

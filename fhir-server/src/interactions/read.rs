//! `GET [base]/[type]/[id]`: the current version, with conditional read (`If-None-Match`,
//! `If-Modified-Since` → 304) and `_summary` / `_elements`.

use axum::http::StatusCode;
use axum::http::header::{ETAG, LAST_MODIFIED};
use fhir_core::store::StoredResource;

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::{etag, http_date, none_match_hits, not_modified_since};
use crate::response::{Body, FhirResponse};

pub async fn read(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
) -> Result<FhirResponse, FhirError> {
    let rights = crate::authz::require(request, resource_type, smart_auth::Op::Read)?;
    let stored = request
        .state
        .store()
        .read(&request.tenant, resource_type, id)
        .await?;
    let Some(stored) = stored else {
        return Err(FhirError::NotFound(format!(
            "{resource_type}/{id} does not exist"
        )));
    };
    crate::authz::check_stored(request, rights.as_ref(), &stored)?;
    if stored.deleted {
        return Err(FhirError::Gone(format!(
            "{resource_type}/{id} was deleted (version {})",
            stored.version
        )));
    }
    if none_match_hits(&request.headers, stored.version)
        || (!request.headers.contains_key("if-none-match")
            && not_modified_since(&request.headers, stored.last_updated))
    {
        return Ok(FhirResponse::new(StatusCode::NOT_MODIFIED, Body::Empty)
            .header(ETAG, &etag(stored.version))
            .header(LAST_MODIFIED, &http_date(stored.last_updated)));
    }
    resource_response(request, &stored)
}

/// 200 with a stored version, after `_summary` or `_elements` when asked.
pub fn resource_response(
    request: &FhirRequest,
    stored: &StoredResource,
) -> Result<FhirResponse, FhirError> {
    let body = subset(request, stored)?;
    Ok(FhirResponse::new(StatusCode::OK, body)
        .header(ETAG, &etag(stored.version))
        .header(LAST_MODIFIED, &http_date(stored.last_updated)))
}

fn subset(request: &FhirRequest, stored: &StoredResource) -> Result<Body, FhirError> {
    use fhir_core::summary::{SummaryMode, select_elements, summarize};
    let summary = request.param("_summary");
    let elements = request.param("_elements");
    if summary.is_none() && elements.is_none() {
        return Ok(Body::Stored(stored.body.clone()));
    }
    let resource = super::parse_stored(&stored.body)?;
    if let Some(summary) = summary {
        let mode = SummaryMode::parse(summary).ok_or_else(|| {
            FhirError::BadRequest(format!(
                "_summary '{summary}' is not one of true, text, data, count, false"
            ))
        })?;
        if mode == SummaryMode::Count {
            return Err(FhirError::BadRequest(
                "_summary=count applies to searches, not to a read".into(),
            ));
        }
        if elements.is_some() {
            return Err(FhirError::BadRequest(
                "_summary and _elements cannot be combined".into(),
            ));
        }
        return Ok(Body::Resource(summarize(&resource, mode)));
    }
    let names: Vec<&str> = elements
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    Ok(Body::Resource(select_elements(&resource, &names)))
}

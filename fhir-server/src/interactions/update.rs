//! `PUT [base]/[type]/[id]`: update, or create with the client's id.

use axum::http::StatusCode;
use axum::http::header::{CONTENT_LOCATION, LOCATION};

use fhir_core::store::UpdateOutcome;

use super::{resource_from_body, version_url, write_response};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::if_match;
use crate::response::FhirResponse;

pub async fn update(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
) -> Result<FhirResponse, FhirError> {
    let expected_version = if_match(&request.headers)?;
    let resource = resource_from_body(request, resource_type, Some(id))?;
    let outcome = request
        .state
        .store()
        .update(
            &request.tenant,
            resource_type,
            id,
            resource,
            expected_version,
        )
        .await?;
    Ok(updated(request, &outcome))
}

/// The answer to a stored update: 201 with Location when it created the resource, 200 with
/// Content-Location otherwise.
pub(super) fn updated(request: &FhirRequest, outcome: &UpdateOutcome) -> FhirResponse {
    let stored = &outcome.resource;
    let (resource_type, id) = (&stored.resource_type, &stored.id);
    let url = version_url(request, stored);
    tracing::info!(tenant = %request.tenant, resource.type = %resource_type, resource.id = %id, version = stored.version, "updated");
    if outcome.created {
        write_response(
            request,
            StatusCode::CREATED,
            stored,
            format!("created {resource_type}/{id}"),
        )
        .header(LOCATION, &url)
    } else {
        write_response(
            request,
            StatusCode::OK,
            stored,
            format!("updated {resource_type}/{id}"),
        )
        .header(CONTENT_LOCATION, &url)
    }
}

//! `PUT [base]/[type]/[id]`: update, or create with the client's id.

use axum::http::StatusCode;
use axum::http::header::{CONTENT_LOCATION, LOCATION};

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
    let stored = &outcome.resource;
    let url = version_url(request, stored);
    tracing::info!(tenant = %request.tenant, resource.type = resource_type, resource.id = id, version = stored.version, "updated");
    Ok(if outcome.created {
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
    })
}

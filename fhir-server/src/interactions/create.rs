//! `POST [base]/[type]`: create with a server-assigned id.

use axum::http::StatusCode;
use axum::http::header::LOCATION;

use super::{resource_from_body, version_url, write_response};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::response::FhirResponse;

pub async fn create(request: &FhirRequest, resource_type: &str) -> Result<FhirResponse, FhirError> {
    if let Some(response) = super::conditional::create_if_none_exist(request, resource_type).await?
    {
        return Ok(response);
    }
    // The spec says a server SHALL ignore an id in the body of a create.
    let resource = resource_from_body(request, resource_type, None)?;
    crate::authz::check_write(
        request,
        resource_type,
        smart_auth::Op::Create,
        None,
        Some(&resource),
    )?;
    store_new(request, resource_type, resource).await
}

/// Stores a valid resource under a new id: 201 with Location.
pub(super) async fn store_new(
    request: &FhirRequest,
    resource_type: &str,
    resource: serde_json::Value,
) -> Result<FhirResponse, FhirError> {
    let id = uuid::Uuid::new_v4().to_string();
    let stored = request
        .state
        .store()
        .create(&request.tenant, resource_type, &id, resource)
        .await?;
    tracing::info!(tenant = %request.tenant, resource.type = resource_type, resource.id = %id, "created");
    let location = version_url(request, &stored);
    Ok(write_response(
        request,
        StatusCode::CREATED,
        &stored,
        format!("created {resource_type}/{id}"),
    )
    .header(LOCATION, &location))
}

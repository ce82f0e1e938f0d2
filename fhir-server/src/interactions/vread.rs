//! `GET [base]/[type]/[id]/_history/[vid]`: one version.

use axum::http::header::CONTENT_LOCATION;

use super::read::resource_response;
use super::version_url;
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::response::FhirResponse;

pub async fn vread(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
    version: i64,
) -> Result<FhirResponse, FhirError> {
    let rights = crate::authz::require(request, resource_type, smart_auth::Op::Read)?;
    let stored = request
        .state
        .store()
        .vread(&request.tenant, resource_type, id, version)
        .await?;
    let Some(stored) = stored else {
        return Err(FhirError::NotFound(format!(
            "{resource_type}/{id} has no version {version}"
        )));
    };
    crate::authz::check_stored(request, rights.as_ref(), &stored)?;
    if stored.deleted {
        return Err(FhirError::Gone(format!(
            "version {version} of {resource_type}/{id} is a deletion"
        )));
    }
    let url = version_url(request, &stored);
    Ok(resource_response(request, &stored)?.header(CONTENT_LOCATION, &url))
}

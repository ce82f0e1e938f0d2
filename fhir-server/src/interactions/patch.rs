//! `PATCH [base]/[type]/[id]` (work in progress for issue 4): JSON Patch
//! (`application/json-patch+json`) and FHIRPath Patch (a `Parameters` resource in
//! `application/fhir+json` or `application/fhir+xml`). The patched resource is validated like any write and stored
//! only when valid, with the version it was patched from as the precondition (or `If-Match`),
//! so a concurrent change is refused with 412 instead of being overwritten.

use axum::http::StatusCode;
use axum::http::header::{CONTENT_LOCATION, CONTENT_TYPE};
use fhir_core::Issue;
use fhir_core::patch::json_patch;
use serde_json::Value;

use super::{version_url, write_response};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::if_match;
use crate::response::FhirResponse;

pub async fn patch(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
) -> Result<FhirResponse, FhirError> {
    let content_type = request
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let json_patch = mime.eq_ignore_ascii_case("application/json-patch+json");
    let operations: Value = if json_patch {
        serde_json::from_slice(&request.body)
            .map_err(|e| FhirError::BadRequest(format!("the JSON Patch is not JSON: {e}")))?
    } else {
        // FHIRPath Patch: a Parameters resource in a FHIR format (415 for anything else).
        super::resource_from_body(request, "Parameters", None)?
    };
    let current = request
        .state
        .store()
        .read(&request.tenant, resource_type, id)
        .await?;
    let current = match current {
        Some(current) if !current.deleted => current,
        Some(_) => return Err(FhirError::Gone(format!("{resource_type}/{id} was deleted"))),
        None => {
            return Err(FhirError::NotFound(format!(
                "{resource_type}/{id} does not exist"
            )));
        }
    };
    let expected = if_match(&request.headers)?.unwrap_or(current.version);
    let resource = fhir_core::json::parse(current.body.as_bytes())
        .map_err(|e| FhirError::Internal(format!("stored resource is not JSON: {}", e.message)))?;
    let patched = if json_patch {
        json_patch::apply(&resource, &operations).map_err(|error| {
            let status = if error.is_test_failure() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_REQUEST
            };
            FhirError::Issues {
                status,
                issues: vec![Issue::error("processing", error.to_string())],
            }
        })?
    } else {
        use fhir_core::patch::fhirpath_patch::{self, PatchError};
        fhirpath_patch::apply(&resource, &operations).map_err(|error| {
            let status = match error {
                PatchError::Invalid(_) => StatusCode::BAD_REQUEST,
                PatchError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            };
            FhirError::Issues {
                status,
                issues: vec![Issue::error("processing", error.to_string())],
            }
        })?
    };
    if patched["resourceType"] != resource_type || patched["id"] != id {
        return Err(FhirError::Issues {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            issues: vec![Issue::error(
                "invalid",
                "a patch cannot change the resource type or id",
            )],
        });
    }
    let issues = fhir_core::validate::validate_resource(&patched);
    if !issues.is_empty() {
        return Err(FhirError::Issues {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            issues,
        });
    }
    let outcome = request
        .state
        .store()
        .update(&request.tenant, resource_type, id, patched, Some(expected))
        .await?;
    let stored = &outcome.resource;
    Ok(write_response(
        request,
        StatusCode::OK,
        stored,
        format!("patched {resource_type}/{id}"),
    )
    .header(CONTENT_LOCATION, &version_url(request, stored)))
}

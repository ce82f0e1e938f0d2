//! `DELETE [base]/[type]/[id]`: writes a tombstone version.
//!
//! Deleting a missing or already deleted resource succeeds and changes nothing (the spec allows
//! 200 or 204 for both); the answer is 204, with the tombstone's ETag when one was written.

use axum::http::StatusCode;
use axum::http::header::ETAG;
use fhir_core::Issue;
use fhir_core::outcome::operation_outcome;

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::{ReturnPreference, etag, if_match, return_preference};
use crate::response::{Body, FhirResponse};

/// The answer to a conditional delete that matched nothing.
pub fn delete_none(request: &FhirRequest, resource_type: &str) -> Result<FhirResponse, FhirError> {
    let message = format!("no {resource_type} matches the criteria; nothing changed");
    Ok(
        if return_preference(&request.headers) == ReturnPreference::OperationOutcome {
            FhirResponse::new(
                StatusCode::OK,
                Body::Resource(operation_outcome(&[Issue::information(
                    "informational",
                    message,
                )])),
            )
        } else {
            FhirResponse::new(StatusCode::NO_CONTENT, Body::Empty)
        },
    )
}

pub async fn delete(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
) -> Result<FhirResponse, FhirError> {
    let mut expected_version = if_match(&request.headers)?;
    let head =
        crate::authz::check_write_by_id(request, resource_type, id, smart_auth::Op::Delete, None)
            .await?;
    expected_version = expected_version.or(head);
    let tombstone = request
        .state
        .store()
        .delete(&request.tenant, resource_type, id, expected_version)
        .await?;
    let message = match &tombstone {
        Some(_) => format!("deleted {resource_type}/{id}"),
        None => {
            format!("{resource_type}/{id} does not exist or is already deleted; nothing changed")
        }
    };
    let response = if return_preference(&request.headers) == ReturnPreference::OperationOutcome {
        FhirResponse::new(
            StatusCode::OK,
            Body::Resource(operation_outcome(&[Issue::information(
                "informational",
                message,
            )])),
        )
    } else {
        FhirResponse::new(StatusCode::NO_CONTENT, Body::Empty)
    };
    Ok(match tombstone {
        Some(stored) => {
            tracing::info!(tenant = %request.tenant, resource.type = resource_type, resource.id = id, "deleted");
            response.header(ETAG, &etag(stored.version))
        }
        None => response,
    })
}

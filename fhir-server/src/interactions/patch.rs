//! `PATCH [base]/[type]/[id]` and conditional `PATCH [base]/[type]?criteria`, with JSON Patch
//! (`application/json-patch+json`) or FHIRPath Patch (a `Parameters` resource in
//! `application/fhir+json` or `application/fhir+xml`).
//!
//! [`PatchDocument`] and [`apply`] are the one implementation of patching: PATCH entries of
//! batch and transaction Bundles use them too (a Bundle carries the patch as a `Binary` or a
//! `Parameters` entry resource, [`PatchDocument::from_entry_resource`]).
//!
//! The patched resource is validated like any write and stored only when valid, with the
//! version it was patched from as the store's precondition. A client `If-Match` that does not
//! hold is 412; without one, a version conflict means another write came between our read and
//! our write, which is 409 (retrying is safe) rather than silently overwriting that write.

use axum::http::StatusCode;
use axum::http::header::{CONTENT_LOCATION, CONTENT_TYPE};
use base64::Engine;
use fhir_core::Issue;
use fhir_core::patch::json_patch;
use fhir_core::store::{StoreError, StoredResource};
use serde_json::Value;

use super::{version_url, write_response};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::if_match;
use crate::response::FhirResponse;

/// The media type of JSON Patch.
pub const JSON_PATCH: &str = "application/json-patch+json";

/// A patch, in one of the two formats FHIR R4 defines.
#[derive(Debug, Clone)]
pub enum PatchDocument {
    /// RFC 6902: an array of operations.
    Json(Value),
    /// FHIRPath Patch: a `Parameters` resource.
    FhirPath(Value),
}

impl PatchDocument {
    /// The patch of a PATCH request: JSON Patch by its media type, otherwise a `Parameters`
    /// resource in a FHIR format (415 for anything else).
    pub fn from_request(request: &FhirRequest) -> Result<PatchDocument, FhirError> {
        let content_type = request
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case(JSON_PATCH) {
            let operations = serde_json::from_slice(&request.body)
                .map_err(|e| FhirError::BadRequest(format!("the JSON Patch is not JSON: {e}")))?;
            return Ok(PatchDocument::Json(operations));
        }
        super::resource_from_body(request, "Parameters", None).map(PatchDocument::FhirPath)
    }

    /// The patch of a Bundle entry (FHIR R4 http.html#transaction): a `Binary` whose
    /// `contentType` is JSON Patch and whose `data` is the base64 patch, or a `Parameters`
    /// resource (FHIRPath Patch).
    pub fn from_entry_resource(resource: Option<&Value>) -> Result<PatchDocument, FhirError> {
        let Some(resource) = resource else {
            return Err(FhirError::BadRequest(
                "a PATCH entry needs a resource: a Binary (JSON Patch) or a Parameters (FHIRPath Patch)"
                    .into(),
            ));
        };
        match resource["resourceType"].as_str() {
            Some("Parameters") => {
                let issues = fhir_core::validate::validate_resource(resource);
                if !issues.is_empty() {
                    return Err(FhirError::Issues {
                        status: StatusCode::BAD_REQUEST,
                        issues,
                    });
                }
                Ok(PatchDocument::FhirPath(resource.clone()))
            }
            Some("Binary") => {
                let content_type = resource["contentType"].as_str().unwrap_or_default();
                let mime = content_type.split(';').next().unwrap_or("").trim();
                if !mime.eq_ignore_ascii_case(JSON_PATCH) {
                    return Err(FhirError::BadRequest(format!(
                        "a Binary PATCH entry must have the contentType {JSON_PATCH}, not '{content_type}'"
                    )));
                }
                let data = resource["data"].as_str().unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| {
                        FhirError::BadRequest(format!("the Binary's data is not base64: {e}"))
                    })?;
                let operations = serde_json::from_slice(&bytes).map_err(|e| {
                    FhirError::BadRequest(format!("the JSON Patch in the Binary is not JSON: {e}"))
                })?;
                Ok(PatchDocument::Json(operations))
            }
            other => Err(FhirError::BadRequest(format!(
                "a PATCH entry's resource must be a Binary (JSON Patch) or a Parameters (FHIRPath Patch), not {}",
                other.unwrap_or("something without a resourceType")
            ))),
        }
    }

    /// The document as JSON, so that references in its values can be found and rewritten.
    pub fn json_mut(&mut self) -> &mut Value {
        match self {
            PatchDocument::Json(value) | PatchDocument::FhirPath(value) => value,
        }
    }

    /// `true` for JSON Patch.
    pub fn is_json_patch(&self) -> bool {
        matches!(self, PatchDocument::Json(_))
    }
}

/// Applies a patch to the current version of a resource and validates the result: 400 for a
/// malformed patch, 422 for one that cannot be applied (a failed `test`, a missing target) or
/// whose result is not a valid resource of the same type and id.
pub fn apply(
    request: &FhirRequest,
    current: &StoredResource,
    document: &PatchDocument,
) -> Result<Value, FhirError> {
    let resource = super::parse_stored(&current.body)?;
    let patched = match document {
        PatchDocument::Json(operations) => {
            json_patch::apply(&resource, operations).map_err(|error| {
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
        }
        PatchDocument::FhirPath(parameters) => {
            use fhir_core::patch::fhirpath_patch::{self, PatchError};
            fhirpath_patch::apply(&resource, parameters).map_err(|error| {
                let status = match error {
                    PatchError::Invalid(_) => StatusCode::BAD_REQUEST,
                    PatchError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                };
                FhirError::Issues {
                    status,
                    issues: vec![Issue::error("processing", error.to_string())],
                }
            })?
        }
    };
    if patched["resourceType"] != current.resource_type.as_str()
        || patched["id"] != current.id.as_str()
    {
        return Err(FhirError::Issues {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            issues: vec![Issue::error(
                "invalid",
                "a patch cannot change the resource type or id",
            )],
        });
    }
    let issues = super::resource_issues(request, &patched);
    if !issues.is_empty() {
        return Err(FhirError::Issues {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            issues,
        });
    }
    Ok(patched)
}

/// The current, not deleted version of a resource to patch: 404 when it never existed, 410
/// when it is deleted.
pub async fn current_version(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
) -> Result<StoredResource, FhirError> {
    let current = request
        .state
        .store()
        .read(&request.tenant, resource_type, id)
        .await?;
    match current {
        Some(current) if !current.deleted => Ok(current),
        Some(_) => Err(FhirError::Gone(format!("{resource_type}/{id} was deleted"))),
        None => Err(FhirError::NotFound(format!(
            "{resource_type}/{id} does not exist"
        ))),
    }
}

/// The answer to a write whose only precondition was the version the patch was applied to:
/// a version conflict means a concurrent write, 409.
pub fn changed_meanwhile(error: StoreError) -> FhirError {
    match error {
        StoreError::VersionConflict { .. } => FhirError::Conflict(
            "the resource changed while the patch was applied; retrying is safe".into(),
        ),
        other => FhirError::Store(other),
    }
}

/// `PATCH [base]/[type]/[id]`.
pub async fn patch(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
) -> Result<FhirResponse, FhirError> {
    let document = PatchDocument::from_request(request)?;
    patch_one(request, resource_type, id, &document).await
}

/// `PATCH [base]/[type]?criteria`: patches the one match; none is 404, several 412. Holds the
/// type's conditional lock from the search to the write, like the other conditional writes.
pub async fn conditional_patch(
    request: &FhirRequest,
    resource_type: &str,
) -> Result<FhirResponse, FhirError> {
    let document = PatchDocument::from_request(request)?;
    let _guard = request
        .state
        .conditional_locks()
        .lock(&request.tenant, resource_type)
        .await;
    let found = super::conditional::matches(request, resource_type, &request.params).await?;
    match found.as_slice() {
        [] => Err(FhirError::NotFound(format!(
            "no {resource_type} matches the criteria"
        ))),
        [existing] => patch_one(request, resource_type, &existing.id, &document).await,
        _ => Err(FhirError::PreconditionFailed(format!(
            "the criteria match more than one {resource_type}"
        ))),
    }
}

async fn patch_one(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
    document: &PatchDocument,
) -> Result<FhirResponse, FhirError> {
    let client_version = if_match(&request.headers)?;
    crate::authz::require(request, resource_type, smart_auth::Op::Update)?;
    let current = current_version(request, resource_type, id).await?;
    crate::authz::check_patch_target(request, &current)?;
    let patched = apply(request, &current, document)?;
    // The version checked is the one the patch applies to (the store's precondition below).
    crate::authz::check_write(
        request,
        resource_type,
        smart_auth::Op::Update,
        None,
        Some(&patched),
    )?;
    let store = request.state.store();
    let outcome = match client_version {
        Some(expected) => {
            store
                .update(&request.tenant, resource_type, id, patched, Some(expected))
                .await?
        }
        None => store
            .update(
                &request.tenant,
                resource_type,
                id,
                patched,
                Some(current.version),
            )
            .await
            .map_err(changed_meanwhile)?,
    };
    let stored = &outcome.resource;
    Ok(write_response(
        request,
        StatusCode::OK,
        stored,
        format!("patched {resource_type}/{id}"),
    )
    .header(CONTENT_LOCATION, &version_url(request, stored)))
}

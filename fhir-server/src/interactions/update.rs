//! `PUT [base]/[type]/[id]`: update, or create with the client's id. `If-Match` makes it an
//! update of that version only; `If-None-Match: *` a create only (412 when the resource exists).

use axum::http::StatusCode;
use axum::http::header::{CONTENT_LOCATION, LOCATION};

use fhir_core::store::{StoreError, StoredResource, UpdateOutcome};

use super::{resource_from_body, version_url, write_response};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::{if_match, none_match_any};
use crate::response::FhirResponse;

pub async fn update(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
) -> Result<FhirResponse, FhirError> {
    let expected_version = if_match(&request.headers)?;
    let create_only = none_match_any(&request.headers)?;
    if create_only && expected_version.is_some() {
        return Err(FhirError::BadRequest(
            "If-Match and If-None-Match: * contradict each other".into(),
        ));
    }
    let resource = resource_from_body(request, resource_type, Some(id))?;
    let head = crate::authz::check_write_by_id(
        request,
        resource_type,
        id,
        smart_auth::Op::Update,
        Some(&resource),
    )
    .await?;
    // Under authorization the checked version is the one replaced (or none: created).
    let expected_version = expected_version.or(head);
    let store = request.state.store();
    if !create_only {
        let outcome = store
            .update(
                &request.tenant,
                resource_type,
                id,
                resource,
                expected_version,
            )
            .await?;
        return Ok(updated(request, &outcome));
    }
    let head = store.read(&request.tenant, resource_type, id).await?;
    // Created meanwhile by another request: the precondition no longer holds.
    let exists = |error: StoreError| match error {
        StoreError::AlreadyExists { .. } | StoreError::VersionConflict { .. } => {
            FhirError::PreconditionFailed(format!(
                "{resource_type}/{id} exists and If-None-Match is '*'"
            ))
        }
        other => FhirError::Store(other),
    };
    let outcome = match only_if_absent(head.as_ref(), resource_type, id)? {
        // A store precondition keeps a concurrent create from being overwritten.
        Some(tombstone) => store
            .update(
                &request.tenant,
                resource_type,
                id,
                resource,
                Some(tombstone),
            )
            .await
            .map_err(exists)?,
        None => UpdateOutcome {
            resource: store
                .create(&request.tenant, resource_type, id, resource)
                .await
                .map_err(exists)?,
            created: true,
        },
    };
    Ok(updated(request, &outcome))
}

/// A write that must not replace an existing resource (`If-None-Match: *`), given the head:
/// `None` to create it, `Some(version)` to write over the tombstone of that version, and 412
/// when the resource exists.
pub(super) fn only_if_absent(
    head: Option<&StoredResource>,
    resource_type: &str,
    id: &str,
) -> Result<Option<i64>, FhirError> {
    match head {
        None => Ok(None),
        Some(head) if head.deleted => Ok(Some(head.version)),
        Some(_) => Err(FhirError::PreconditionFailed(format!(
            "{resource_type}/{id} exists and If-None-Match is '*'"
        ))),
    }
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

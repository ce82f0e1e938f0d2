//! `POST [base]/$reindex` starts re-extracting every resource of the tenant with its current
//! search parameters (online: reads, writes and searches go on); `GET [base]/$reindex` reports
//! the progress of the last job as Parameters. Creating or changing a SearchParameter starts
//! such a job by itself, for the types it applies to.

use axum::http::StatusCode;
use axum::http::header::CONTENT_LOCATION;
use fhir_core::index::{ReindexState, ReindexStatus};
use fhir_core::time::format_instant;
use serde_json::{Value, json};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::response::{Body, FhirResponse};

pub async fn start(request: &FhirRequest) -> Result<FhirResponse, FhirError> {
    crate::authz::require(request, "SearchParameter", smart_auth::Op::Update)?;
    let status = request
        .state
        .index()
        .start_reindex(&request.tenant, Vec::new(), None);
    Ok(
        FhirResponse::new(StatusCode::ACCEPTED, Body::Resource(parameters(&status)))
            .header(CONTENT_LOCATION, &format!("{}/$reindex", request.base)),
    )
}

pub async fn status(request: &FhirRequest) -> Result<FhirResponse, FhirError> {
    crate::authz::require(request, "SearchParameter", smart_auth::Op::Read)?;
    let status = request
        .state
        .index()
        .reindex_status(&request.tenant)
        .ok_or_else(|| FhirError::NotFound("no reindex has run in this tenant".into()))?;
    Ok(FhirResponse::new(
        StatusCode::OK,
        Body::Resource(parameters(&status)),
    ))
}

fn parameters(status: &ReindexStatus) -> Value {
    let state = match &status.state {
        ReindexState::Running => "running".to_owned(),
        ReindexState::Complete => "complete".to_owned(),
        ReindexState::Failed(_) => "failed".to_owned(),
    };
    let mut parameter = vec![
        json!({ "name": "job", "valueString": status.job.to_string() }),
        json!({ "name": "status", "valueCode": state }),
        json!({ "name": "processed", "valueInteger": status.processed }),
        json!({ "name": "total", "valueInteger": status.total }),
        json!({ "name": "started", "valueInstant": format_instant(status.started) }),
    ];
    if let Some(finished) = status.finished {
        parameter.push(json!({ "name": "finished", "valueInstant": format_instant(finished) }));
    }
    for code in &status.params {
        parameter.push(json!({ "name": "parameter", "valueString": code }));
    }
    if let ReindexState::Failed(message) = &status.state {
        parameter.push(json!({ "name": "error", "valueString": message }));
    }
    json!({ "resourceType": "Parameters", "parameter": parameter })
}

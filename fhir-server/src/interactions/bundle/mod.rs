//! `POST [base]` with a `batch` or `transaction` Bundle: entries GET, HEAD, POST, PUT, PATCH and
//! DELETE, with their preconditions (`ifMatch`, `ifNoneMatch`, `ifModifiedSince`,
//! `ifNoneExist`), conditional urls and (in transactions) `urn:uuid:`/`urn:oid:` fullUrls and
//! conditional references.
//!
//! - A **batch** ([`batch`]) runs each entry as the single interaction it names, in entry
//!   order; each entry reports its own status, and a failed one its OperationOutcome. Entries
//!   are independent (the spec forbids references between them), so a `urn:` reference in a
//!   batch entry fails that entry.
//! - A **transaction** ([`transaction`]) is all or nothing: it resolves every entry's target
//!   (searches in the order their criteria's references need), rewrites references, applies
//!   patches, validates every resource, then hands all writes to the store as one unit
//!   ([`fhir_core::ResourceStore::transaction`]). GET and HEAD entries run after the commit.
//!
//! **Response entries are minimal by default**: status, location, etag and lastModified, as
//! HAPI and Blaze do; it keeps large loads cheap. `Prefer: return=representation` adds each
//! written resource, `Prefer: return=OperationOutcome` an `outcome` per entry. GET entries always
//! carry what they read; HEAD entries never do. Failed batch entries always carry their
//! OperationOutcome.
//!
//! A Bundle with more than `--bundle-max-entries` entries is refused with 413, like a body over
//! `--max-body-bytes`: the request as a whole is too large, and the client can split it.

mod batch;
mod entry;
mod references;
mod transaction;

use axum::http::StatusCode;
use axum::http::header::{CONTENT_LOCATION, ETAG, LAST_MODIFIED, LOCATION};
use fhir_core::Issue;
use fhir_core::outcome::operation_outcome;
use fhir_core::time::{format_instant, now_millis};
use serde_json::{Map, Value, json};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::{ReturnPreference, requested_return};
use crate::response::{Body, FhirResponse};

pub async fn batch_or_transaction(request: &FhirRequest) -> Result<FhirResponse, FhirError> {
    let mut bundle = bundle_from_body(request)?;
    let kind = bundle["type"].as_str().unwrap_or_default();
    if kind != "batch" && kind != "transaction" {
        return Err(FhirError::BadRequest(format!(
            "POST to the base takes a batch or transaction Bundle, not a '{kind}' Bundle"
        )));
    }
    let transaction = kind == "transaction";
    let entries_len = bundle["entry"].as_array().map_or(0, Vec::len);
    let limit = request.state.bundle_max_entries();
    if entries_len > limit {
        return Err(FhirError::TooManyEntries {
            entries: entries_len,
            limit,
        });
    }
    let preference = requested_return(&request.headers).unwrap_or(ReturnPreference::Minimal);
    if transaction {
        // A transaction writes its resources: they are taken out of the Bundle (not copied: a
        // Synthea patient is megabytes of JSON) and handed over with the entries.
        let resources: Vec<Option<Value>> = bundle["entry"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .map(|entry| {
                entry
                    .as_object_mut()
                    .and_then(|entry| entry.shift_remove("resource"))
                    .filter(Value::is_object)
            })
            .collect();
        let raw: &[Value] = bundle["entry"].as_array().map_or(&[], Vec::as_slice);
        let entries = entry::read_entries(&request.base, raw)?;
        transaction::run(request, &entries, resources, preference).await
    } else {
        let raw: &[Value] = bundle["entry"].as_array().map_or(&[], Vec::as_slice);
        let entries = entry::read_entries(&request.base, raw)?;
        batch::run(request, &entries, preference).await
    }
}

/// The Bundle of the body, its own structure validated; the entries' resources are validated
/// one by one (a batch reports an invalid one in its entry, a transaction refuses the whole).
fn bundle_from_body(request: &FhirRequest) -> Result<Value, FhirError> {
    let mut bundle = super::parse_body(request)?;
    if bundle["resourceType"] != "Bundle" {
        return Err(FhirError::BadRequest(
            "POST to the base takes a Bundle".into(),
        ));
    }
    // The Bundle's own structure, without the resources of its entries: they are taken out
    // (not copied: a Synthea patient is 2 MB of JSON) and put back at their place.
    let mut taken = Vec::new();
    for (index, entry) in bundle["entry"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(entry) = entry.as_object_mut()
            && let Some(position) = entry.keys().position(|key| key == "resource")
            && let Some(resource) = entry.shift_remove("resource")
        {
            taken.push((index, position, resource));
        }
    }
    let issues = fhir_core::validate::validate_resource(&bundle);
    if let Some(entries) = bundle["entry"].as_array_mut() {
        for (index, position, resource) in taken {
            if let Some(entry) = entries[index].as_object_mut() {
                entry.shift_insert(position, "resource".to_owned(), resource);
            }
        }
    }
    if !issues.is_empty() {
        return Err(FhirError::Issues {
            status: StatusCode::BAD_REQUEST,
            issues,
        });
    }
    Ok(bundle)
}

/// An error of one entry, located at it (an issue's own location is kept in its text).
fn at_entry(error: FhirError, index: usize) -> FhirError {
    let (status, issues) = error.status_and_issues();
    FhirError::Issues {
        status,
        issues: issues
            .into_iter()
            .map(|mut issue| {
                let place = entry::location(index);
                if let Some(inner) = issue.expression.replace(place.clone())
                    && !inner.starts_with(&place)
                {
                    issue.diagnostics = format!("{} (at {inner})", issue.diagnostics);
                }
                issue
            })
            .collect(),
    }
}

/// The validation issues of an entry's resource, located in the Bundle
/// (`Patient.birthDate` → `Bundle.entry[1].resource.birthDate`).
fn resource_issues_at(index: usize, resource_type: &str, issues: Vec<Issue>) -> FhirError {
    let resource = format!("{}.resource", entry::location(index));
    FhirError::Issues {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        issues: issues
            .into_iter()
            .map(|mut issue| {
                let inner = issue.expression.take().unwrap_or_default();
                let rest = inner.strip_prefix(resource_type).unwrap_or(&inner);
                issue.expression = Some(match rest.strip_prefix('.') {
                    Some(path) => format!("{resource}.{path}"),
                    None if rest.is_empty() => resource.clone(),
                    None => format!("{resource}.{rest}"),
                });
                issue
            })
            .collect(),
    }
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

/// The entry of a failed entry: its status and OperationOutcome.
fn failed_entry(error: FhirError) -> Value {
    let (status, issues) = error.status_and_issues();
    json!({
        "response": {
            "status": status_line(status),
            "outcome": operation_outcome(&issues),
        }
    })
}

/// The response entry of an interaction's response: status, location, etag and lastModified
/// from its headers, and its body as the resource (a read, or a write under
/// `return=representation`) or the outcome (a write under `return=OperationOutcome`).
fn entry_of(response: FhirResponse, carry: Carry) -> Value {
    let mut answer = Map::new();
    answer.insert("status".into(), json!(status_line(response.status)));
    let header = |name| response.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(location) = header(LOCATION).or_else(|| header(CONTENT_LOCATION)) {
        answer.insert("location".into(), json!(location));
    }
    if let Some(etag) = header(ETAG) {
        answer.insert("etag".into(), json!(etag));
    }
    // An instant in the Bundle, an HTTP date in the header.
    if let Some(modified) = header(LAST_MODIFIED)
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    {
        let millis = i64::try_from(modified.as_millis()).unwrap_or_default();
        answer.insert("lastModified".into(), json!(format_instant(millis)));
    }
    let body = match response.body {
        Body::Empty => None,
        Body::Resource(value) => Some(value),
        Body::Stored(text) => fhir_core::json::parse(text.as_bytes()).ok(),
    };
    let mut entry = Map::new();
    match (carry, body) {
        (Carry::Resource, Some(resource)) => {
            entry.insert("resource".into(), resource);
        }
        (Carry::Outcome, Some(outcome)) => {
            answer.insert("outcome".into(), outcome);
        }
        _ => {}
    }
    entry.insert("response".into(), Value::Object(answer));
    Value::Object(entry)
}

/// What a response entry carries of an interaction's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carry {
    Nothing,
    Resource,
    Outcome,
}

impl Carry {
    /// What an entry of this method carries under the Bundle's `Prefer: return`.
    fn of(method: entry::EntryMethod, preference: ReturnPreference) -> Carry {
        match (method, preference) {
            (entry::EntryMethod::Get, _) => Carry::Resource,
            (entry::EntryMethod::Head, _) => Carry::Nothing,
            (_, ReturnPreference::Minimal) => Carry::Nothing,
            (_, ReturnPreference::Representation) => Carry::Resource,
            (_, ReturnPreference::OperationOutcome) => Carry::Outcome,
        }
    }
}

fn response_bundle(kind: &str, entries: Vec<Value>) -> FhirResponse {
    FhirResponse::new(
        StatusCode::OK,
        Body::Resource(json!({
            "resourceType": "Bundle",
            "id": uuid::Uuid::new_v4().to_string(),
            "meta": { "lastUpdated": format_instant(now_millis()) },
            "type": kind,
            "entry": entries,
        })),
    )
}

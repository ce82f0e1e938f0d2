//! `POST [base]` with a `batch` or `transaction` Bundle. (Work in progress for issue 4: entry
//! methods POST, PUT, DELETE and GET; `urn:uuid:`/`urn:oid:` fullUrls and references to them;
//! `ifNoneExist`, conditional PUT and DELETE entries and conditional references, resolved
//! through search; PATCH entries are not done yet.)
//!
//! A batch runs each entry as the single interaction it names, in entry order; each entry
//! reports its own outcome. A transaction resolves ids first, rewrites references, validates
//! every resource, then hands all writes to the store as one unit
//! ([`fhir_core::ResourceStore::transaction`]): all are durable or none is, and the search
//! index, which follows committed changes only, never sees a failed one. GET entries run after
//! the writes, in the spec's processing order (DELETE, POST, PUT, GET).

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use fhir_core::Issue;
use fhir_core::outcome::operation_outcome;
use fhir_core::store::{TxDone, TxWrite};
use fhir_core::time::{format_instant, now_millis};
use serde_json::{Map, Value, json};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::etag;
use crate::response::{Body, FhirResponse};
use crate::route::{Interaction, route};

/// The most entries a Bundle may have.
const MAX_ENTRIES: usize = 10_000;

pub async fn batch_or_transaction(request: &FhirRequest) -> Result<FhirResponse, FhirError> {
    let bundle = bundle_from_body(request)?;
    let kind = bundle["type"].as_str().unwrap_or_default().to_owned();
    let entries: Vec<Value> = bundle["entry"].as_array().cloned().unwrap_or_default();
    if entries.len() > MAX_ENTRIES {
        return Err(FhirError::BadRequest(format!(
            "the Bundle has {} entries, more than the {MAX_ENTRIES} allowed",
            entries.len()
        )));
    }
    for (index, entry) in entries.iter().enumerate() {
        let method = entry["request"]["method"].as_str();
        let url = entry["request"]["url"].as_str();
        if method.is_none() || url.is_none() {
            return Err(entry_error(
                index,
                "the entry has no request method and url",
            ));
        }
    }
    let mut full_urls = HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        if let Some(full_url) = entry["fullUrl"].as_str()
            && !full_urls.insert(full_url.to_owned())
        {
            return Err(entry_error(
                index,
                format!("the fullUrl '{full_url}' appears twice"),
            ));
        }
    }
    match kind.as_str() {
        "batch" => batch(request, &entries).await,
        "transaction" => transaction(request, &entries).await,
        other => Err(FhirError::BadRequest(format!(
            "POST to the base takes a batch or transaction Bundle, not a '{other}' Bundle"
        ))),
    }
}

/// The Bundle of the body, its own structure validated; the entries' resources are validated
/// one by one (a batch reports an invalid one in its entry, a transaction refuses the whole).
fn bundle_from_body(request: &FhirRequest) -> Result<Value, FhirError> {
    use crate::format::{Format, request_format};
    let format = request_format(&request.headers)?;
    if request.body.is_empty() {
        return Err(FhirError::BadRequest("the request has no body".into()));
    }
    let parsed = match format {
        Format::Json => fhir_core::json::parse(&request.body),
        Format::Xml => fhir_core::xml::from_xml(&request.body),
    };
    let bundle = parsed.map_err(|error| FhirError::Issues {
        status: StatusCode::BAD_REQUEST,
        issues: vec![Issue::error(
            "structure",
            format!("the body cannot be parsed: {}", error.message),
        )],
    })?;
    if bundle["resourceType"] != "Bundle" {
        return Err(FhirError::BadRequest(
            "POST to the base takes a Bundle".into(),
        ));
    }
    let mut shape = bundle.clone();
    for entry in shape["entry"].as_array_mut().into_iter().flatten() {
        if let Some(entry) = entry.as_object_mut() {
            entry.remove("resource");
        }
    }
    let issues = fhir_core::validate::validate_resource(&shape);
    if !issues.is_empty() {
        return Err(FhirError::Issues {
            status: StatusCode::BAD_REQUEST,
            issues,
        });
    }
    Ok(bundle)
}

/// An error of one entry, located at it.
fn at_entry(error: FhirError, index: usize) -> FhirError {
    let (status, issues) = error.status_and_issues();
    FhirError::Issues {
        status,
        issues: issues
            .into_iter()
            .map(|mut issue| {
                issue.expression = Some(format!("Bundle.entry[{index}]"));
                issue
            })
            .collect(),
    }
}

fn entry_error(index: usize, message: impl Into<String>) -> FhirError {
    FhirError::Issues {
        status: StatusCode::BAD_REQUEST,
        issues: vec![Issue::at(
            "invalid",
            format!("Bundle.entry[{index}]"),
            message.into(),
        )],
    }
}

async fn batch(request: &FhirRequest, entries: &[Value]) -> Result<FhirResponse, FhirError> {
    let mut responses = Vec::with_capacity(entries.len());
    for entry in entries {
        responses.push(run_entry(request, entry, None).await);
    }
    Ok(response_bundle("batch-response", responses))
}

/// Runs one entry as its own interaction and describes the result as an entry of the
/// response Bundle.
async fn run_entry(request: &FhirRequest, entry: &Value, resource: Option<&Value>) -> Value {
    match run_entry_inner(request, entry, resource).await {
        Ok(response) => entry_of(response),
        Err(error) => {
            let (status, issues) = error.status_and_issues();
            json!({
                "response": {
                    "status": status_line(status),
                    "outcome": operation_outcome(&issues),
                }
            })
        }
    }
}

async fn run_entry_inner(
    request: &FhirRequest,
    entry: &Value,
    resource: Option<&Value>,
) -> Result<FhirResponse, FhirError> {
    let method = entry["request"]["method"].as_str().unwrap_or_default();
    let url = entry["request"]["url"].as_str().unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| FhirError::BadRequest(format!("'{method}' is not an HTTP method")))?;
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path
        .strip_prefix(&request.base)
        .unwrap_or(path)
        .trim_start_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let interaction = route(&method, &segments)?;
    if matches!(interaction, Interaction::NotYet(_)) || segments.is_empty() {
        return Err(FhirError::NotImplemented(format!(
            "{method} {url} is not supported inside a Bundle"
        )));
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    for (field, header) in [
        ("ifMatch", "if-match"),
        ("ifNoneMatch", "if-none-match"),
        ("ifNoneExist", "if-none-exist"),
        ("ifModifiedSince", "if-modified-since"),
    ] {
        if let Some(value) = entry["request"][field].as_str()
            && let Ok(value) = HeaderValue::from_str(value)
        {
            headers.insert(header, value);
        }
    }
    if let Some(prefer) = request.headers.get("prefer") {
        headers.insert("prefer", prefer.clone());
    }
    let body = match resource.or_else(|| entry.get("resource")) {
        Some(resource) if method == Method::POST || method == Method::PUT => {
            Bytes::from(serde_json::to_vec(resource).unwrap_or_default())
        }
        _ => Bytes::new(),
    };
    let sub = FhirRequest {
        state: request.state.clone(),
        tenant: request.tenant.clone(),
        base: request.base.clone(),
        headers,
        params: form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        body,
        rendering: request.rendering,
    };
    Box::pin(super::run(interaction, sub)).await
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

fn entry_of(response: FhirResponse) -> Value {
    let mut answer = Map::new();
    answer.insert("status".into(), json!(status_line(response.status)));
    for (name, field) in [
        (LOCATION, "location"),
        (ETAG, "etag"),
        (LAST_MODIFIED, "lastModified"),
    ] {
        if let Some(value) = response.headers.get(name).and_then(|v| v.to_str().ok()) {
            answer.insert(field.into(), json!(value));
        }
    }
    let resource = match response.body {
        Body::Empty => None,
        Body::Resource(value) => Some(value),
        Body::Stored(text) => fhir_core::json::parse(text.as_bytes()).ok(),
    };
    let mut entry = Map::new();
    if let Some(resource) = resource {
        entry.insert("resource".into(), resource);
    }
    entry.insert("response".into(), Value::Object(answer));
    Value::Object(entry)
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

/// What a transaction entry will write.
struct Planned {
    index: usize,
    resource_type: String,
    id: String,
    method: Method,
}

async fn transaction(request: &FhirRequest, entries: &[Value]) -> Result<FhirResponse, FhirError> {
    // 1. Ids: POST gets a new one; PUT and DELETE take theirs from the url. fullUrls map to
    //    `Type/id` so that references to them can be rewritten.
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut planned: Vec<Planned> = Vec::new();
    let mut reads: Vec<usize> = Vec::new();
    // Entries answered without a write: an ifNoneExist that matched, a conditional delete that
    // matched nothing.
    let mut existing: Vec<(usize, fhir_core::index::Hit)> = Vec::new();
    let mut nothing: Vec<usize> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let method = entry["request"]["method"].as_str().unwrap_or_default();
        let url = entry["request"]["url"].as_str().unwrap_or_default();
        let path = url.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let conditional = url.contains('?') && method != "GET" && method != "HEAD";
        let (resource_type, id) = match (method, segments.as_slice()) {
            ("POST", [t]) => {
                let resource_type = (*t).to_owned();
                // ifNoneExist: an existing match is used instead of creating.
                if let Some(criteria) = entry["request"]["ifNoneExist"].as_str() {
                    let found = find(request, index, &resource_type, criteria).await?;
                    if let Some(hit) = found {
                        if let Some(full_url) = entry["fullUrl"].as_str() {
                            aliases
                                .insert(full_url.to_owned(), format!("{resource_type}/{}", hit.id));
                        }
                        existing.push((index, hit));
                        continue;
                    }
                }
                (resource_type, uuid::Uuid::new_v4().to_string())
            }
            ("PUT" | "DELETE", [t]) if conditional => {
                let resource_type = (*t).to_owned();
                let criteria = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
                match find(request, index, &resource_type, criteria).await? {
                    Some(hit) => (resource_type, hit.id),
                    None if method == "DELETE" => {
                        nothing.push(index);
                        continue;
                    }
                    None => {
                        let id = entry["resource"]["id"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                        (resource_type, id)
                    }
                }
            }
            ("PUT" | "DELETE", [t, id]) => ((*t).to_owned(), (*id).to_owned()),
            ("GET" | "HEAD", _) => {
                reads.push(index);
                continue;
            }
            _ => {
                return Err(entry_error(
                    index,
                    format!("'{method} {url}' is not supported in a transaction"),
                ));
            }
        };
        if let Some(full_url) = entry["fullUrl"].as_str() {
            aliases.insert(full_url.to_owned(), format!("{resource_type}/{id}"));
        }
        planned.push(Planned {
            index,
            resource_type,
            id,
            method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
        });
    }
    // 2. The writes in processing order, with references rewritten and every resource valid.
    let order = |m: &Method| match *m {
        Method::DELETE => 0,
        Method::POST => 1,
        _ => 2,
    };
    planned.sort_by_key(|p| (order(&p.method), p.index));
    let mut writes = Vec::with_capacity(planned.len());
    for plan in &planned {
        let entry = &entries[plan.index];
        let if_match = match entry["request"]["ifMatch"].as_str() {
            Some(text) => Some(parse_etag(text).ok_or_else(|| {
                entry_error(plan.index, format!("ifMatch '{text}' is not an ETag"))
            })?),
            None => None,
        };
        if plan.method == Method::DELETE {
            writes.push(TxWrite::Delete {
                resource_type: plan.resource_type.clone(),
                id: plan.id.clone(),
                if_match,
            });
            continue;
        }
        let mut resource = entry["resource"].clone();
        if !resource.is_object() {
            return Err(entry_error(plan.index, "the entry has no resource"));
        }
        // Conditional references (`Patient?identifier=…`) name exactly one existing resource.
        let mut conditional_references = Vec::new();
        collect_conditional_references(&resource, &mut conditional_references);
        for reference in conditional_references {
            if aliases.contains_key(&reference) {
                continue;
            }
            let (target_type, criteria) = reference.split_once('?').unwrap_or_default();
            match find(request, plan.index, target_type, criteria).await? {
                Some(hit) => {
                    aliases.insert(reference.clone(), format!("{target_type}/{}", hit.id));
                }
                None => {
                    return Err(FhirError::Issues {
                        status: StatusCode::PRECONDITION_FAILED,
                        issues: vec![Issue::at(
                            "not-found",
                            format!("Bundle.entry[{}]", plan.index),
                            format!("the conditional reference '{reference}' matches no resource"),
                        )],
                    });
                }
            }
        }
        rewrite_references(&mut resource, &aliases);
        resource["id"] = json!(plan.id);
        let issues = fhir_core::validate::validate_resource(&resource);
        if !issues.is_empty() {
            return Err(FhirError::Issues {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                issues: issues
                    .into_iter()
                    .map(|mut issue| {
                        issue.expression = Some(format!(
                            "Bundle.entry[{}].resource{}",
                            plan.index,
                            issue
                                .expression
                                .map(|e| format!(".{e}"))
                                .unwrap_or_default()
                        ));
                        issue
                    })
                    .collect(),
            });
        }
        writes.push(match plan.method {
            Method::POST => TxWrite::Create {
                resource_type: plan.resource_type.clone(),
                id: plan.id.clone(),
                resource,
            },
            _ => TxWrite::Update {
                resource_type: plan.resource_type.clone(),
                id: plan.id.clone(),
                resource,
                if_match,
            },
        });
    }
    // 3. All or nothing.
    let done = request
        .state
        .store()
        .transaction(&request.tenant, writes)
        .await
        .map_err(|error| match error {
            fhir_core::StoreError::InGroup { index, error } => {
                at_entry(FhirError::Store(*error), planned[index].index)
            }
            other => FhirError::Store(other),
        })?;
    // 4. The response, in entry order.
    let mut responses: Vec<Value> = vec![Value::Null; entries.len()];
    for (plan, done) in planned.iter().zip(done) {
        responses[plan.index] = match done {
            TxDone::Stored(outcome) => {
                let stored = outcome.resource;
                let status = if outcome.created {
                    "201 Created"
                } else {
                    "200 OK"
                };
                json!({
                    "response": {
                        "status": if plan.method == Method::DELETE { "204 No Content" } else { status },
                        "location": format!("{}/{}/{}/_history/{}", request.base, stored.resource_type, stored.id, stored.version),
                        "etag": etag(stored.version),
                        "lastModified": format_instant(stored.last_updated),
                    }
                })
            }
            TxDone::Nothing => json!({ "response": { "status": "204 No Content" } }),
        };
    }
    for (index, hit) in existing {
        responses[index] = json!({
            "response": {
                "status": "200 OK",
                "location": format!("{}/{}/{}/_history/{}", request.base, hit.resource_type, hit.id, hit.version),
                "etag": etag(hit.version),
                "lastModified": format_instant(hit.last_updated),
            }
        });
    }
    for index in nothing {
        responses[index] = json!({ "response": { "status": "204 No Content" } });
    }
    for index in reads {
        responses[index] = run_entry(request, &entries[index], None).await;
    }
    Ok(response_bundle("transaction-response", responses))
}

/// The one resource matching search criteria (`None` for no match; 412 for several).
async fn find(
    request: &FhirRequest,
    index: usize,
    resource_type: &str,
    criteria: &str,
) -> Result<Option<fhir_core::index::Hit>, FhirError> {
    if fhir_core::model::Model::r4()
        .resource_type(resource_type)
        .is_none()
    {
        return Err(entry_error(
            index,
            format!("'{resource_type}' is not a resource type"),
        ));
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(criteria.as_bytes())
        .into_owned()
        .collect();
    let mut found = super::conditional::matches(request, resource_type, &params)
        .await
        .map_err(|error| at_entry(error, index))?;
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => Err(FhirError::Issues {
            status: StatusCode::PRECONDITION_FAILED,
            issues: vec![Issue::at(
                "multiple-matches",
                format!("Bundle.entry[{index}]"),
                format!("the criteria '{resource_type}?{criteria}' match more than one resource"),
            )],
        }),
    }
}

/// The conditional references (`Type?criteria`) of a resource.
fn collect_conditional_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "reference"
                    && let Value::String(text) = child
                    && let Some((target_type, _)) = text.split_once('?')
                    && fhir_core::model::Model::r4()
                        .resource_type(target_type)
                        .is_some()
                {
                    out.push(text.clone());
                    continue;
                }
                collect_conditional_references(child, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_conditional_references(item, out);
            }
        }
        _ => {}
    }
}

/// `W/"3"` or `3` → 3.
fn parse_etag(text: &str) -> Option<i64> {
    text.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

/// Rewrites every `reference` (and Attachment `url`) that names a fullUrl of the Bundle.
fn rewrite_references(value: &mut Value, aliases: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if (key == "reference" || key == "url")
                    && let Value::String(text) = child
                    && let Some(target) = aliases.get(text.as_str())
                {
                    *text = target.clone();
                    continue;
                }
                rewrite_references(child, aliases);
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_references(item, aliases);
            }
        }
        _ => {}
    }
}

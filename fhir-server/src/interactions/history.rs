//! History of an instance, a type or the whole tenant: `_history` with `_since`, `_at`, `_count`,
//! newest first, paged with a `next` link that carries a `_cursor` (the change sequence number
//! below which the next page starts, so pages stay stable while new versions are written).

use axum::http::StatusCode;
use fhir_core::store::{HistoryQuery, StoredResource, WriteKind};
use fhir_core::time::{format_instant, now_millis, parse_range};
use serde_json::{Map, Value, json};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::etag;
use crate::response::{Body, FhirResponse};

/// Page size when `_count` is absent.
const DEFAULT_COUNT: usize = 50;
/// The largest page served, whatever `_count` asks.
const MAX_COUNT: usize = 1000;

pub async fn history(
    request: &FhirRequest,
    resource_type: Option<&str>,
    id: Option<&str>,
) -> Result<FhirResponse, FhirError> {
    let query = history_query(request, resource_type, id)?;
    let rights = history_rights(request, resource_type, id)?;
    if let (Some(resource_type), Some(id)) = (resource_type, id) {
        let exists = request
            .state
            .store()
            .read(&request.tenant, resource_type, id)
            .await?;
        let Some(head) = exists else {
            return Err(FhirError::NotFound(format!(
                "{resource_type}/{id} does not exist"
            )));
        };
        crate::authz::check_stored(request, rights.as_ref(), &head)?;
    }
    let page = request
        .state
        .store()
        .history(&request.tenant, &query)
        .await?;
    let path = match (resource_type, id) {
        (Some(t), Some(i)) => format!("{}/{t}/{i}/_history", request.base),
        (Some(t), None) => format!("{}/{t}/_history", request.base),
        _ => format!("{}/_history", request.base),
    };
    let mut links =
        vec![json!({ "relation": "self", "url": page_url(&path, request, query.before_seq) })];
    if let Some(next) = page.next_before_seq {
        links.push(json!({ "relation": "next", "url": page_url(&path, request, Some(next)) }));
    }
    // Under limited rights, versions out of reach (and deletions, which have no body to decide
    // on) are left out, and so is the total, which would count them.
    let limited = rights
        .as_ref()
        .is_some_and(|r| r.patient.is_some() || !r.constraints.is_empty());
    let entries: Vec<Value> = page
        .entries
        .iter()
        .filter(|stored| {
            !limited
                || (!stored.deleted
                    && crate::authz::may_show(request, &stored.resource_type, &stored.body))
        })
        .map(|stored| entry(request, stored))
        .collect::<Result<_, _>>()?;
    let filtered = entries.len() != page.entries.len();
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), json!("Bundle"));
    bundle.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    bundle.insert(
        "meta".into(),
        json!({ "lastUpdated": format_instant(now_millis()) }),
    );
    bundle.insert("type".into(), json!("history"));
    if !filtered {
        bundle.insert("total".into(), json!(page.total));
    }
    bundle.insert("link".into(), Value::Array(links));
    if !entries.is_empty() {
        bundle.insert("entry".into(), Value::Array(entries));
    }
    Ok(FhirResponse::new(
        StatusCode::OK,
        Body::Resource(Value::Object(bundle)),
    ))
}

/// The rights history needs: read for one resource; for a type or everything, search rights
/// without a patient limit or granular constraints (the history of a type under such a token
/// would have to decide every old version: refused, instance history is allowed).
fn history_rights(
    request: &FhirRequest,
    resource_type: Option<&str>,
    id: Option<&str>,
) -> Result<Option<crate::authz::Rights>, FhirError> {
    let Some(access) = &request.access else {
        return Ok(None);
    };
    match (resource_type, id) {
        (Some(resource_type), Some(_)) => {
            crate::authz::require(request, resource_type, smart_auth::Op::Read)
        }
        (resource_type, _) => {
            let rights = crate::authz::rights(
                access,
                resource_type.unwrap_or("Patient"),
                smart_auth::Op::Search,
            )?;
            let everything = resource_type.is_some()
                || matches!(access.role(), None | Some(smart_auth::Role::Admin));
            if rights.patient.is_some() || !rights.constraints.is_empty() || !everything {
                return Err(FhirError::Forbidden(
                    "the history of a type or of everything needs unrestricted search rights; read the history of one resource instead".into(),
                ));
            }
            Ok(Some(rights))
        }
    }
}

fn history_query(
    request: &FhirRequest,
    resource_type: Option<&str>,
    id: Option<&str>,
) -> Result<HistoryQuery, FhirError> {
    let count = match request.param("_count") {
        None => DEFAULT_COUNT,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| {
                FhirError::BadRequest(format!("_count '{text}' is not a non-negative integer"))
            })?
            .min(MAX_COUNT),
    };
    let since = match request.param("_since") {
        None => None,
        Some(text) => Some(
            parse_range(text)
                .ok_or_else(|| {
                    FhirError::BadRequest(format!("_since '{text}' is not a FHIR instant"))
                })?
                .0,
        ),
    };
    let at = match request.param("_at") {
        None => None,
        Some(text) => Some(parse_range(text).ok_or_else(|| {
            FhirError::BadRequest(format!("_at '{text}' is not a FHIR date or dateTime"))
        })?),
    };
    let before_seq = match request.param("_cursor") {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            FhirError::BadRequest(format!("_cursor '{text}' is not a history cursor"))
        })?),
    };
    Ok(HistoryQuery {
        resource_type: resource_type.map(str::to_owned),
        id: id.map(str::to_owned),
        since,
        at,
        before_seq,
        count,
    })
}

/// The URL of a page: the history path with the query parameters that select versions.
fn page_url(path: &str, request: &FhirRequest, cursor: Option<i64>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for name in ["_since", "_at", "_count", "_format"] {
        if let Some(value) = request.param(name) {
            query.append_pair(name, value);
        }
    }
    if let Some(cursor) = cursor {
        query.append_pair("_cursor", &cursor.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

fn entry(request: &FhirRequest, stored: &StoredResource) -> Result<Value, FhirError> {
    let type_and_id = format!("{}/{}", stored.resource_type, stored.id);
    let (method, url, status) = match stored.write_kind() {
        WriteKind::Create => ("POST", stored.resource_type.clone(), "201 Created"),
        WriteKind::Update => ("PUT", type_and_id.clone(), "200 OK"),
        WriteKind::Delete => ("DELETE", type_and_id.clone(), "204 No Content"),
    };
    let mut entry = Map::new();
    entry.insert(
        "fullUrl".into(),
        json!(format!("{}/{type_and_id}", request.base)),
    );
    if !stored.deleted {
        let resource = super::parse_stored(&stored.body)?;
        entry.insert("resource".into(), resource);
    }
    entry.insert("request".into(), json!({ "method": method, "url": url }));
    entry.insert(
        "response".into(),
        json!({
            "status": status,
            "etag": etag(stored.version),
            "lastModified": format_instant(stored.last_updated),
        }),
    );
    Ok(Value::Object(entry))
}

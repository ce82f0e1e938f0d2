//! Search at type, system and compartment level (GET and POST `_search`), and the Bundle of a
//! result page: `self`, `first`, `next` and `previous` links with keyset cursors, `total`,
//! entries in `match`, `include` and `outcome` mode, `_summary` and `_elements`.

use axum::http::StatusCode;
use fhir_core::Issue;
use fhir_core::index::{Hit, SearchError, SearchPage};
use fhir_core::outcome::{Severity, operation_outcome};
use fhir_core::search::compartments::compartment_types;
use fhir_core::search::query::{ParseProblem, SearchRequest, Summary, parse};
use fhir_core::summary::{SummaryMode, select_elements, summarize};
use fhir_core::time::{format_instant, now_millis};
use serde_json::{Map, Value, json};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::response::{Body, FhirResponse};
use crate::route::SearchScope;

pub async fn search(request: &FhirRequest, scope: &SearchScope) -> Result<FhirResponse, FhirError> {
    let params = search_params(request, scope.post)?;
    let types = match (&scope.resource_type, &scope.compartment) {
        (Some(resource_type), _) => vec![resource_type.clone()],
        (None, Some((compartment, _))) => compartment_types(compartment)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        (None, None) => Vec::new(),
    };
    wait_for_pending(request, &params, None).await?;
    let (mut search, warnings) = parse_request(request, &types, &params)?;
    search.compartment = scope.compartment.clone();
    crate::authz::narrow_search(request, &mut search)?;
    let path = match (&scope.resource_type, &scope.compartment) {
        (Some(t), Some((c, id))) => format!("{}/{c}/{id}/{t}", request.base),
        (None, Some((c, id))) => format!("{}/{c}/{id}/*", request.base),
        (Some(t), None) => format!("{}/{t}", request.base),
        (None, None) => request.base.clone(),
    };
    let link_params = link_params(&params, &warnings);
    run(request, search, &path, &link_params, &warnings).await
}

/// Runs a parsed search and answers with its Bundle. The caller has made the index current
/// ([`wait_for_pending`]).
pub async fn run(
    request: &FhirRequest,
    search: SearchRequest,
    path: &str,
    link_params: &[(String, String)],
    warnings: &[ParseProblem],
) -> Result<FhirResponse, FhirError> {
    let summary = search.summary;
    let elements = search.elements.clone();
    let fingerprint = fingerprint(&request.tenant, path, link_params);
    let cursor = search.cursor.clone();
    let mut search = search;
    if let Some(text) = &cursor {
        // A cursor names a position in one search's order: one made for another search,
        // tenant or sort is refused rather than misread.
        search.cursor = Some(
            text.strip_prefix(&fingerprint)
                .map(str::to_owned)
                .ok_or_else(|| {
                    FhirError::BadRequest(
                        "the _cursor parameter does not belong to this search; follow the links of a search result".into(),
                    )
                })?,
        );
    }
    let mut page = request
        .state
        .index()
        .search_visible(
            &request.tenant,
            search,
            request.state.search_options().clone(),
        )
        .await
        .map_err(search_error)?;
    // The search was narrowed to what the token may see; included resources were not, and are
    // checked one by one (`_include` / `_revinclude` must not leak another patient's data).
    if request.access.is_some() {
        page.includes
            .retain(|hit| crate::authz::may_show(request, &hit.resource_type, &hit.body));
        page.matches
            .retain(|hit| crate::authz::may_show(request, &hit.resource_type, &hit.body));
    }
    // Links show the page size actually used.
    let mut link_params = link_params.to_vec();
    for (name, value) in &mut link_params {
        if name == "_count" {
            *value = page.count.to_string();
        }
    }
    let bundle = bundle(
        request,
        &page,
        path,
        &link_params,
        &fingerprint,
        cursor.as_deref(),
        summary,
        &elements,
        warnings,
    )?;
    Ok(FhirResponse::new(
        StatusCode::OK,
        Body::Stored(bundle.into()),
    ))
}

/// The parameters of the query string, and for POST those of the form body.
pub fn search_params(
    request: &FhirRequest,
    post: bool,
) -> Result<Vec<(String, String)>, FhirError> {
    let mut params = request.params.clone();
    if post && !request.body.is_empty() {
        let content_type = request
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(FhirError::UnsupportedMediaType(format!(
                "a POST search takes application/x-www-form-urlencoded parameters, not '{content_type}'"
            )));
        }
        params.extend(form_urlencoded::parse(&request.body).into_owned());
    }
    Ok(params)
}

/// Parses the parameters; refuses malformed ones, and unknown ones under
/// `Prefer: handling=strict`. Returns the problems to report in the Bundle.
pub fn parse_request(
    request: &FhirRequest,
    types: &[String],
    params: &[(String, String)],
) -> Result<(SearchRequest, Vec<ParseProblem>), FhirError> {
    let extractor = request.state.index().extractor(&request.tenant);
    let registry = extractor.registry();
    let parsed = parse(types, params, registry);
    let strict = request
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=strict"));
    let refused: Vec<Issue> = parsed
        .problems
        .iter()
        .filter(|p| strict || !p.unknown)
        .map(|p| {
            let code = if p.unknown {
                "not-supported"
            } else {
                "invalid"
            };
            Issue::at(code, p.param.clone(), p.message.clone())
        })
        .collect();
    if !refused.is_empty() {
        return Err(FhirError::Issues {
            status: StatusCode::BAD_REQUEST,
            issues: refused,
        });
    }
    Ok((parsed.request, parsed.problems))
}

/// How long a search waits for a reindex that makes one of its parameters searchable.
const REINDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Makes every acknowledged write visible (SearchParameters included), or with `only_types`
/// every acknowledged write of those types (for a search that reads nothing else). A search
/// that uses a parameter still being indexed (a new or changed SearchParameter) then waits for
/// the reindex, so that it never answers from a half-built index.
pub async fn wait_for_pending(
    request: &FhirRequest,
    params: &[(String, String)],
    only_types: Option<&[String]>,
) -> Result<(), FhirError> {
    let mut codes: Vec<&str> = Vec::new();
    for (name, value) in params {
        codes.extend(name.split([':', '.']).filter(|c| !c.is_empty()));
        if name == "_sort" {
            codes.extend(value.split(',').map(|c| c.trim().trim_start_matches('-')));
        }
    }
    let index = request.state.index();
    // The registry must know every SearchParameter written before this search: catch up first
    // (both ways apply every pending change; they differ in what they commit).
    match only_types {
        Some(types) => index.refresh_types(&request.tenant, types).await,
        None => index.refresh().await,
    }
    .map_err(|e| FhirError::Internal(e.to_string()))?;
    if index
        .wait_searchable(&request.tenant, &codes, REINDEX_WAIT)
        .await
    {
        return Ok(());
    }
    Err(FhirError::Issues {
        status: StatusCode::SERVICE_UNAVAILABLE,
        issues: vec![Issue::error(
            "transient",
            "a parameter of this search is still being indexed; GET [base]/$reindex shows the progress",
        )],
    })
}

fn search_error(error: SearchError) -> FhirError {
    match error {
        SearchError::BadRequest(message) => FhirError::BadRequest(message),
        SearchError::TooCostly(message) => FhirError::Issues {
            status: StatusCode::BAD_REQUEST,
            issues: vec![Issue::error("too-costly", message)],
        },
        SearchError::Index(error) => FhirError::Internal(error.to_string()),
    }
}

/// The parameters links repeat: all but the cursor and the ignored ones.
pub fn link_params(params: &[(String, String)], ignored: &[ParseProblem]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(name, _)| name != "_cursor" && !ignored.iter().any(|p| &p.param == name))
        .cloned()
        .collect()
}

/// 16 hex digits that bind a cursor to its tenant, path and parameters (FNV-1a, stable across
/// processes and versions, so links keep working on other nodes and after restarts).
fn fingerprint(tenant: &str, path: &str, params: &[(String, String)]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |text: &str| {
        for byte in text.bytes().chain([0u8]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(tenant);
    // The path without the origin: the same search reached through another host name is the
    // same search.
    feed(path.split_once("/fhir").map_or(path, |(_, p)| p));
    for (name, value) in params {
        if !matches!(
            name.as_str(),
            "_count"
                | "_format"
                | "_pretty"
                | "_total"
                | "_summary"
                | "_elements"
                | "_include"
                | "_revinclude"
        ) {
            feed(name);
            feed(value);
        }
    }
    format!("{hash:016x}")
}

fn page_url(path: &str, params: &[(String, String)], cursor: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    if let Some(cursor) = cursor {
        query.append_pair("_cursor", cursor);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

#[allow(clippy::too_many_arguments)]
fn bundle(
    request: &FhirRequest,
    page: &SearchPage,
    path: &str,
    params: &[(String, String)],
    fingerprint: &str,
    cursor: Option<&str>,
    summary: Option<Summary>,
    elements: &[String],
    warnings: &[ParseProblem],
) -> Result<String, FhirError> {
    let mut links = vec![json!({ "relation": "self", "url": page_url(path, params, cursor) })];
    links.push(json!({ "relation": "first", "url": page_url(path, params, None) }));
    if let Some(previous) = &page.previous {
        links.push(json!({ "relation": "previous", "url": page_url(path, params, Some(&format!("{fingerprint}{}", previous.encode()))) }));
    }
    if let Some(next) = &page.next {
        links.push(
            json!({ "relation": "next", "url": page_url(path, params, Some(&format!("{fingerprint}{}", next.encode()))) }),
        );
    }
    // Entries are written as text: a stored body is compact JSON in definition order already,
    // so it is embedded as it is instead of being parsed and written again.
    let mut entries: Vec<String> = Vec::with_capacity(page.matches.len() + page.includes.len() + 1);
    for hit in &page.matches {
        entries.push(entry(request, hit, "match", summary, elements)?);
    }
    for hit in &page.includes {
        entries.push(entry(request, hit, "include", summary, elements)?);
    }
    if !warnings.is_empty() {
        let issues: Vec<Issue> = warnings
            .iter()
            .map(|p| Issue {
                severity: Severity::Warning,
                code: "not-supported",
                diagnostics: format!("the parameter '{}' was ignored: {}", p.param, p.message),
                expression: Some(p.param.clone()),
            })
            .collect();
        entries.push(fhir_core::json::to_string(&json!({
            "resource": operation_outcome(&issues),
            "search": { "mode": "outcome" }
        })));
    }
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), json!("Bundle"));
    bundle.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    bundle.insert(
        "meta".into(),
        json!({ "lastUpdated": format_instant(now_millis()) }),
    );
    bundle.insert("type".into(), json!("searchset"));
    if let Some(total) = page.total {
        bundle.insert("total".into(), json!(total));
    }
    bundle.insert("link".into(), Value::Array(links));
    let mut text = fhir_core::json::to_string(&Value::Object(bundle));
    if !entries.is_empty() {
        text.pop(); // the closing brace
        text.push_str(",\"entry\":[");
        text.push_str(&entries.join(","));
        text.push_str("]}");
    }
    Ok(text)
}

fn entry(
    request: &FhirRequest,
    hit: &Hit,
    mode: &str,
    summary: Option<Summary>,
    elements: &[String],
) -> Result<String, FhirError> {
    let full_url = Value::String(format!("{}/{}/{}", request.base, hit.resource_type, hit.id));
    let subset =
        summary.is_some_and(|s| s != Summary::False) || (!elements.is_empty() && mode == "match");
    let resource = if subset {
        let resource = fhir_core::json::parse(hit.body.as_bytes()).map_err(|e| {
            FhirError::Internal(format!("indexed resource is not valid JSON: {}", e.message))
        })?;
        let resource = match summary {
            Some(Summary::True) => summarize(&resource, SummaryMode::True),
            Some(Summary::Text) => summarize(&resource, SummaryMode::Text),
            Some(Summary::Data) => summarize(&resource, SummaryMode::Data),
            _ => {
                let names: Vec<&str> = elements.iter().map(String::as_str).collect();
                select_elements(&resource, &names)
            }
        };
        fhir_core::json::to_string(&resource)
    } else {
        hit.body.clone()
    };
    Ok(format!(
        "{{\"fullUrl\":{full_url},\"resource\":{resource},\"search\":{{\"mode\":\"{mode}\"}}}}"
    ))
}

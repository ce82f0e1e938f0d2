//! One module per FHIR interaction, and what they share: reading the body into a valid resource
//! and answering with a stored version.

mod bundle;
mod capabilities;
pub mod conditional;
mod create;
mod delete;
mod everything;
mod history;
mod patch;
mod read;
mod reindex;
pub mod search;
mod update;
mod vread;

pub use capabilities::CapabilityCache;

use axum::http::StatusCode;
use axum::http::header::{ETAG, LAST_MODIFIED};
use fhir_core::outcome::operation_outcome;
use fhir_core::store::StoredResource;
use fhir_core::{Issue, validate};
use serde_json::Value;

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::format::{Format, request_format};
use crate::headers::{ReturnPreference, etag, http_date, return_preference};
use crate::response::{Body, FhirResponse};
use crate::route::Interaction;

/// Runs an interaction.
pub async fn run(
    interaction: Interaction,
    request: FhirRequest,
) -> Result<FhirResponse, FhirError> {
    match interaction {
        Interaction::Capabilities => capabilities::capabilities(&request),
        Interaction::Create(resource_type) => create::create(&request, &resource_type).await,
        Interaction::Read(resource_type, id) => read::read(&request, &resource_type, &id).await,
        Interaction::Vread(resource_type, id, version) => {
            vread::vread(&request, &resource_type, &id, version).await
        }
        Interaction::Update(resource_type, id) => {
            update::update(&request, &resource_type, &id).await
        }
        Interaction::Delete(resource_type, id) => {
            delete::delete(&request, &resource_type, &id).await
        }
        Interaction::HistorySystem => history::history(&request, None, None).await,
        Interaction::HistoryType(resource_type) => {
            history::history(&request, Some(&resource_type), None).await
        }
        Interaction::HistoryInstance(resource_type, id) => {
            history::history(&request, Some(&resource_type), Some(&id)).await
        }
        Interaction::Search(scope) => search::search(&request, &scope).await,
        Interaction::ConditionalUpdate(resource_type) => {
            conditional::update(&request, &resource_type).await
        }
        Interaction::ConditionalDelete(resource_type) => {
            conditional::delete(&request, &resource_type).await
        }
        Interaction::Everything(id) => everything::everything(&request, &id).await,
        Interaction::Reindex { start: true } => reindex::start(&request).await,
        Interaction::Reindex { start: false } => reindex::status(&request).await,
        Interaction::Bundle => bundle::batch_or_transaction(&request).await,
        Interaction::Patch(resource_type, id) => patch::patch(&request, &resource_type, &id).await,
        Interaction::ConditionalPatch(resource_type) => {
            patch::conditional_patch(&request, &resource_type).await
        }
        Interaction::NotYet(what) => Err(FhirError::NotImplemented(format!(
            "{what} is not implemented by this server yet"
        ))),
    }
}

/// A stored body as JSON (stored bodies are always valid JSON: failing is a 500).
pub fn parse_stored(body: &str) -> Result<Value, FhirError> {
    fhir_core::json::parse(body.as_bytes()).map_err(|e| {
        FhirError::Internal(format!("stored resource is not valid JSON: {}", e.message))
    })
}

/// Parses the body in its declared format (JSON or XML), unvalidated: 415 for another format,
/// 400 for an empty or unparseable body.
pub fn parse_body(request: &FhirRequest) -> Result<Value, FhirError> {
    let format = request_format(&request.headers)?;
    if request.body.is_empty() {
        return Err(FhirError::BadRequest("the request has no body".into()));
    }
    let parsed = match format {
        Format::Json => fhir_core::json::parse(&request.body),
        Format::Xml => fhir_core::xml::from_xml(&request.body),
    };
    parsed.map_err(|error| FhirError::Issues {
        status: StatusCode::BAD_REQUEST,
        issues: vec![Issue::error(
            "structure",
            format!("the body cannot be parsed: {}", error.message),
        )],
    })
}

/// Parses the body in its declared format and validates it as a resource of `resource_type`
/// (and, for updates, with the id of the URL). Unparseable or mismatched bodies are 400;
/// structurally invalid resources are 422 with every issue.
pub fn resource_from_body(
    request: &FhirRequest,
    resource_type: &str,
    url_id: Option<&str>,
) -> Result<Value, FhirError> {
    let resource = parse_body(request)?;
    let mut mismatches = Vec::new();
    match resource.get("resourceType") {
        Some(Value::String(body_type)) if body_type != resource_type => mismatches.push(Issue::at(
            "invalid",
            "resourceType",
            format!("the body is a {body_type} but the URL is for {resource_type}"),
        )),
        Some(Value::String(_)) => {}
        _ => mismatches.push(Issue::at(
            "required",
            "resourceType",
            "the body has no resourceType",
        )),
    }
    if let Some(url_id) = url_id {
        match resource.get("id") {
            Some(Value::String(body_id)) if body_id != url_id => mismatches.push(Issue::at(
                "invalid",
                format!("{resource_type}.id"),
                format!("the id in the body '{body_id}' differs from the id in the URL '{url_id}'"),
            )),
            Some(_) => {}
            None => mismatches.push(Issue::at(
                "required",
                format!("{resource_type}.id"),
                "an update must carry the id of the URL in the body",
            )),
        }
    }
    let issues = resource_issues(request, &resource);
    if !mismatches.is_empty() {
        mismatches.extend(issues);
        return Err(FhirError::Issues {
            status: StatusCode::BAD_REQUEST,
            issues: mismatches,
        });
    }
    if !issues.is_empty() {
        return Err(FhirError::Issues {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            issues,
        });
    }
    Ok(resource)
}

/// What keeps a resource from being stored: its structural issues and, for a SearchParameter,
/// whether its expression is usable. Every write checks this, alone or in a Bundle.
pub fn resource_issues(request: &FhirRequest, resource: &Value) -> Vec<Issue> {
    let mut issues = validate::validate_resource(resource);
    if resource["resourceType"] == "SearchParameter" && issues.is_empty() {
        issues.extend(search_parameter_issues(request, resource));
    }
    issues.extend(foreign_tenant_references(request, resource));
    issues
}

/// References to another tenant of this server (absolute URLs under our origin that are not
/// this tenant's base) are refused: tenants are separate clinics, and a relative reference
/// always stays in its own tenant.
fn foreign_tenant_references(request: &FhirRequest, resource: &Value) -> Vec<Issue> {
    let tenant_path = if request.tenant == fhir_core::store::DEFAULT_TENANT {
        "/fhir".to_owned()
    } else {
        format!("/t/{}/fhir", request.tenant)
    };
    let Some(origin) = request.base.strip_suffix(&tenant_path) else {
        return Vec::new();
    };
    let own = format!("{}/", request.base);
    let mut issues = Vec::new();
    let mut stack = vec![resource];
    // Iterative: resources nest deeply (contained, Questionnaire items).
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(reference)) = object.get("reference")
                    && let Some(path) = reference.strip_prefix(origin)
                    && (path.starts_with("/t/") || path.starts_with("/fhir/"))
                    && !reference.starts_with(&own)
                {
                    issues.push(Issue::error(
                        "invalid",
                        format!(
                            "the reference '{reference}' points to another tenant of this server"
                        ),
                    ));
                }
                stack.extend(object.values());
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    issues
}

/// A SearchParameter with an expression must be usable before it is stored: readable, and with
/// an expression the extractor can evaluate (within the limits of expressions from users).
fn search_parameter_issues(request: &FhirRequest, resource: &Value) -> Vec<Issue> {
    use fhir_core::search::extract::Extractor;
    use fhir_core::search::params::SearchParam;
    // Without an expression (R4 allows it: some definitions only have an XPath) the
    // SearchParameter is stored as a definition but is not searchable here; a given expression
    // must be usable.
    if resource["status"] == "retired" || resource.get("expression").is_none() {
        return Vec::new();
    }
    let param = match SearchParam::from_resource(resource) {
        Ok(param) => param,
        Err(message) => return vec![Issue::error("invalid", message)],
    };
    let extractor = request.state.index().extractor(&request.tenant);
    let registry = extractor.registry();
    match Extractor::check(registry, &param) {
        Ok(()) => Vec::new(),
        Err(reason) => vec![Issue::at(
            "invalid",
            "SearchParameter.expression",
            format!("the expression cannot be evaluated: {reason}"),
        )],
    }
}

/// The response to a write: ETag, Last-Modified, and the body `Prefer` asks for.
pub fn write_response(
    request: &FhirRequest,
    status: StatusCode,
    stored: &StoredResource,
    message: String,
) -> FhirResponse {
    let body = match return_preference(&request.headers) {
        ReturnPreference::Minimal => Body::Empty,
        ReturnPreference::Representation => Body::Stored(stored.body.clone()),
        ReturnPreference::OperationOutcome => {
            Body::Resource(operation_outcome(&[Issue::information(
                "informational",
                message,
            )]))
        }
    };
    FhirResponse::new(status, body)
        .header(ETAG, &etag(stored.version))
        .header(LAST_MODIFIED, &http_date(stored.last_updated))
}

/// The versioned URL of a stored version: `[base]/Patient/1/_history/2`.
pub fn version_url(request: &FhirRequest, stored: &StoredResource) -> String {
    format!(
        "{}/{}/{}/_history/{}",
        request.base, stored.resource_type, stored.id, stored.version
    )
}

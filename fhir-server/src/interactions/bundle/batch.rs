//! Batch Bundles: each entry is the single interaction it names, run in entry order, with its
//! own result. Conditional references in an entry's resource or patch are resolved through
//! search first (the one match, else the entry fails with 412). Also the runner of single interactions that transactions use for their reads.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};

use super::entry::{Entry, EntryMethod};
use std::collections::HashMap;

use super::references::{
    Criteria, SlotKind, conditional_reference, is_urn, slots_of_patch, slots_of_resource,
};
use super::transaction::resolve_reference;
use super::{Carry, entry_of, failed_entry, response_bundle};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::{ReturnPreference, http_date};
use crate::interactions::patch::{JSON_PATCH, PatchDocument};
use crate::response::FhirResponse;
use crate::route::{Interaction, SearchScope, route};

pub async fn run(
    request: &FhirRequest,
    entries: &[Entry<'_>],
    preference: ReturnPreference,
) -> Result<FhirResponse, FhirError> {
    let mut responses = Vec::with_capacity(entries.len());
    for entry in entries {
        let answer = match batch_entry(request, entry, preference).await {
            Ok(response) => entry_of(response, Carry::of(entry.method, preference)),
            Err(error) => failed_entry(error),
        };
        responses.push(answer);
    }
    Ok(response_bundle("batch-response", responses))
}

async fn batch_entry(
    request: &FhirRequest,
    entry: &Entry<'_>,
    preference: ReturnPreference,
) -> Result<FhirResponse, FhirError> {
    entry.check_preconditions()?;
    let body = match entry.method {
        EntryMethod::Post | EntryMethod::Put => {
            let Some(resource) = entry.resource else {
                return Err(entry.error("the entry has no resource"));
            };
            let mut resource = resource.clone();
            let mut slots = Vec::new();
            slots_of_resource(&mut resource, &mut slots);
            refuse_urns(entry, &slots)?;
            resolve_conditional_references(request, entry, slots).await?;
            SubBody::Resource(resource)
        }
        EntryMethod::Patch => {
            let mut document = PatchDocument::from_entry_resource(entry.resource)?;
            let mut slots = Vec::new();
            slots_of_patch(&mut document, &mut slots);
            refuse_urns(entry, &slots)?;
            resolve_conditional_references(request, entry, slots).await?;
            SubBody::Patch(document)
        }
        EntryMethod::Get | EntryMethod::Head | EntryMethod::Delete => SubBody::None,
    };
    run_entry(request, entry, None, body, preference).await
}

/// Entries of a batch are independent (FHIR R4 http.html#transaction): a `urn:` reference would
/// name another entry, or nothing.
fn refuse_urns(entry: &Entry<'_>, slots: &[(SlotKind, &mut String)]) -> Result<(), FhirError> {
    match slots
        .iter()
        .find(|(kind, text)| *kind == SlotKind::Reference && is_urn(text))
    {
        Some((_, urn)) => Err(entry.error(format!(
            "the reference '{urn}' cannot be resolved: entries of a batch do not refer to each other (use a transaction)"
        ))),
        None => Ok(()),
    }
}

/// Conditional references (`Practitioner?identifier=…`) of a batch entry are resolved through
/// search like those of a transaction: the one match replaces the reference; no match or
/// several fail the entry (412), never storing a reference to nothing.
async fn resolve_conditional_references(
    request: &FhirRequest,
    entry: &Entry<'_>,
    slots: Vec<(SlotKind, &mut String)>,
) -> Result<(), FhirError> {
    let mut resolved: HashMap<String, String> = HashMap::new();
    for (kind, text) in slots {
        if kind != SlotKind::Reference {
            continue;
        }
        if let Some(target) = resolved.get(text.as_str()) {
            *text = target.clone();
            continue;
        }
        let Some((target_type, query)) = conditional_reference(text) else {
            continue;
        };
        let criteria = Criteria::parse(query);
        let target = resolve_reference(request, entry, text, target_type, &criteria).await?;
        resolved.insert(text.clone(), target.clone());
        *text = target;
    }
    Ok(())
}

/// The body of an entry's interaction.
#[derive(Debug)]
pub enum SubBody {
    None,
    Resource(serde_json::Value),
    Patch(PatchDocument),
}

/// Runs an entry as the single interaction it names. `params` replaces the url's query (a
/// transaction's reads, with references to entries rewritten).
pub async fn run_entry(
    request: &FhirRequest,
    entry: &Entry<'_>,
    params: Option<Vec<(String, String)>>,
    body: SubBody,
    preference: ReturnPreference,
) -> Result<FhirResponse, FhirError> {
    let method = entry.method.http();
    let interaction = route(&method, &entry.segments)?;
    let allowed = matches!(
        interaction,
        Interaction::Create(_)
            | Interaction::Read(..)
            | Interaction::Vread(..)
            | Interaction::Update(..)
            | Interaction::Delete(..)
            | Interaction::Patch(..)
            | Interaction::ConditionalUpdate(_)
            | Interaction::ConditionalDelete(_)
            | Interaction::ConditionalPatch(_)
            | Interaction::HistorySystem
            | Interaction::HistoryType(_)
            | Interaction::HistoryInstance(..)
            | Interaction::Search(SearchScope { post: false, .. })
            | Interaction::Everything(_)
            | Interaction::Capabilities
    );
    if !allowed {
        return Err(FhirError::NotImplemented(format!(
            "{method} {} is not supported inside a Bundle",
            entry.url
        )));
    }
    let mut headers = HeaderMap::new();
    let (content_type, bytes) = match body {
        SubBody::None => ("application/fhir+json", Bytes::new()),
        SubBody::Resource(resource) => ("application/fhir+json", to_bytes(&resource)),
        SubBody::Patch(PatchDocument::Json(operations)) => (JSON_PATCH, to_bytes(&operations)),
        SubBody::Patch(PatchDocument::FhirPath(parameters)) => {
            ("application/fhir+json", to_bytes(&parameters))
        }
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // `ifModifiedSince` is an instant in a Bundle, an HTTP date in a header.
    let modified_since = entry.if_modified_since.map(|since| {
        fhir_core::time::parse_range(since)
            .map_or_else(|| since.to_owned(), |(start, _)| http_date(start))
    });
    for (value, header) in [
        (entry.if_match, "if-match"),
        (entry.if_none_match, "if-none-match"),
        (entry.if_none_exist, "if-none-exist"),
        (modified_since.as_deref(), "if-modified-since"),
    ] {
        if let Some(value) = value {
            let value = HeaderValue::from_str(value).map_err(|_| {
                entry.error(format!("the precondition '{value}' is not header text"))
            })?;
            headers.insert(header, value);
        }
    }
    if !entry.method.is_read() {
        let prefer = match preference {
            ReturnPreference::Minimal => "return=minimal",
            ReturnPreference::Representation => "return=representation",
            ReturnPreference::OperationOutcome => "return=OperationOutcome",
        };
        headers.insert("prefer", HeaderValue::from_static(prefer));
    }
    let params = params.unwrap_or_else(|| {
        form_urlencoded::parse(entry.query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    });
    let sub = FhirRequest {
        state: request.state.clone(),
        tenant: request.tenant.clone(),
        base: request.base.clone(),
        headers,
        params,
        body: bytes,
        rendering: request.rendering,
        access: request.access.clone(),
    };
    Box::pin(crate::interactions::run(interaction, sub)).await
}

fn to_bytes(value: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

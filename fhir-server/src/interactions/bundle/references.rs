//! References between the entries of a Bundle: finding them in resources, patches and search
//! criteria, checking that `urn:` references name an entry, and rewriting fullUrls to the
//! `Type/id` the entries get.

use std::collections::{HashMap, HashSet};

use fhir_core::model::Model;
use serde_json::Value;

use super::entry::Entry;
use crate::error::FhirError;
use crate::interactions::patch::PatchDocument;

/// What a string found in a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// `Reference.reference`.
    Reference,
    /// Any other `url` (Attachment.url, …): rewritten when it names an entry, never checked,
    /// since most `url`s (extensions, systems) are not references at all.
    Url,
}

/// Every reference-like string of a resource, mutable: `reference` and `url` keys at any
/// depth (contained resources, extensions' `valueReference`, arrays).
pub fn slots_of_resource<'v>(value: &'v mut Value, out: &mut Vec<(SlotKind, &'v mut String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match (key.as_str(), child) {
                    ("reference", Value::String(text)) => out.push((SlotKind::Reference, text)),
                    ("url", Value::String(text)) => out.push((SlotKind::Url, text)),
                    (_, child) => slots_of_resource(child, out),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                slots_of_resource(item, out);
            }
        }
        _ => {}
    }
}

/// The reference strings of a patch: references inside the values it adds, and for JSON Patch
/// also a plain string value written to a path ending in `/reference`.
pub fn slots_of_patch<'v>(
    document: &'v mut PatchDocument,
    out: &mut Vec<(SlotKind, &'v mut String)>,
) {
    let json_patch = document.is_json_patch();
    let value = document.json_mut();
    if !json_patch {
        return slots_of_resource(value, out);
    }
    for operation in value.as_array_mut().into_iter().flatten() {
        let Some(operation) = operation.as_object_mut() else {
            continue;
        };
        let to_reference = operation
            .get("path")
            .and_then(Value::as_str)
            .is_some_and(|path| path.ends_with("/reference"));
        let Some(value) = operation.get_mut("value") else {
            continue;
        };
        if !(to_reference && value.is_string()) {
            slots_of_resource(value, out);
        } else if let Value::String(text) = value {
            out.push((SlotKind::Reference, text));
        }
    }
}

/// `true` for the local references a Bundle resolves: `urn:uuid:` and `urn:oid:`.
pub fn is_urn(text: &str) -> bool {
    text.starts_with("urn:uuid:") || text.starts_with("urn:oid:")
}

/// A conditional reference (`Patient?identifier=x`): the type and the criteria.
pub fn conditional_reference(text: &str) -> Option<(&str, &str)> {
    let (target_type, criteria) = text.split_once('?')?;
    Model::r4()
        .resource_type(target_type)
        .is_some()
        .then_some((target_type, criteria))
}

/// 400 when a `urn:uuid:`/`urn:oid:` reference is not the fullUrl of an entry: it could never
/// be resolved, and storing it would leave a reference to nothing.
pub fn check_urns<'s>(
    entry: &Entry<'_>,
    references: impl IntoIterator<Item = &'s str>,
    full_urls: &HashSet<&str>,
) -> Result<(), FhirError> {
    for reference in references {
        if is_urn(reference) && !full_urls.contains(reference) {
            return Err(entry.error(format!(
                "the reference '{reference}' names no entry of the Bundle (no entry has this fullUrl)"
            )));
        }
    }
    Ok(())
}

/// Rewrites the slots that name a known fullUrl (or a resolved conditional reference).
pub fn rewrite(slots: Vec<(SlotKind, &mut String)>, aliases: &HashMap<String, String>) {
    for (_, text) in slots {
        if let Some(target) = aliases.get(text.as_str()) {
            *text = target.clone();
        }
    }
}

/// Search criteria, decoded, whose values may name entries of the Bundle.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    pub params: Vec<(String, String)>,
}

impl Criteria {
    /// `identifier=x`, `?identifier=x` or `Patient?identifier=x`.
    pub fn parse(text: &str) -> Criteria {
        let query = text.split_once('?').map_or(text, |(_, q)| q);
        Criteria {
            params: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// Each value of each parameter (a value may be a comma-separated list).
    fn values(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
    }

    /// The values that name entries of the Bundle (their fullUrls) or look like they should
    /// (`urn:`): the entries these criteria wait for.
    pub fn entry_names<'s>(&'s self, full_urls: &'s HashSet<&str>) -> Vec<&'s str> {
        self.values()
            .filter(|value| is_urn(value) || full_urls.contains(value))
            .collect()
    }

    /// The same criteria with the names of entries replaced by their `Type/id`.
    pub fn rewritten(&self, aliases: &HashMap<String, String>) -> Criteria {
        let params = self
            .params
            .iter()
            .map(|(name, value)| {
                let value = value
                    .split(',')
                    .map(|part| {
                        aliases
                            .get(part.trim())
                            .map_or(part.to_owned(), Clone::clone)
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                (name.clone(), value)
            })
            .collect();
        Criteria { params }
    }
}

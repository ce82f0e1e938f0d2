//! Turning stored versions into index documents.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tantivy::{TantivyDocument, Term};

use super::terms::{self, marker};
use super::{IndexError, SearchIndex};
use crate::search::IndexValue;
use crate::store::StoredResource;

/// The key of a resource in the index.
pub(crate) fn key(tenant: &str, resource_type: &str, id: &str) -> String {
    format!("{tenant}{sep}{resource_type}{sep}{id}", sep = terms::SEP)
}

impl SearchIndex {
    /// Applies versions in `seq` order: the last version of each resource wins; a tombstone
    /// removes the resource.
    /// Applies changes to the writer (uncommitted); returns the (tenant, type) pairs touched.
    pub(crate) fn apply_changes(
        &self,
        changes: &[StoredResource],
    ) -> Result<HashSet<(String, String)>, IndexError> {
        // Only the last version of a resource in the batch matters.
        let mut last: HashMap<(&str, &str, &str), &StoredResource> = HashMap::new();
        for change in changes {
            last.insert((&change.tenant, &change.resource_type, &change.id), change);
        }
        let touched: HashSet<(String, String)> = last
            .keys()
            .map(|&(tenant, resource_type, _)| (tenant.to_owned(), resource_type.to_owned()))
            .collect();
        let writer = self.writer.lock().expect("index writer lock");
        for change in changes {
            if change.resource_type == "SearchParameter" {
                self.note_search_parameter(change);
            }
            let current = last[&(
                change.tenant.as_str(),
                change.resource_type.as_str(),
                change.id.as_str(),
            )];
            if !std::ptr::eq(current, change) {
                continue;
            }
            let key = key(&change.tenant, &change.resource_type, &change.id);
            writer.delete_term(Term::from_field_text(self.fields.key, &key));
            if change.deleted {
                continue;
            }
            match self.document(change, &key) {
                Some(document) => {
                    writer.add_document(document)?;
                }
                None => tracing::warn!(
                    resource = %format!("{}/{}", change.resource_type, change.id),
                    "stored body is not JSON; not indexed"
                ),
            }
        }
        Ok(touched)
    }

    pub(crate) fn document(&self, change: &StoredResource, key: &str) -> Option<TantivyDocument> {
        let resource: Value = serde_json::from_str(&change.body).ok()?;
        let f = &self.fields;
        let mut document = TantivyDocument::default();
        document.add_text(f.key, key);
        document.add_text(f.tenant, &change.tenant);
        document.add_text(f.resource_type, &change.resource_type);
        document.add_text(f.id, &change.id);
        document.add_i64(f.version, change.version);
        document.add_i64(f.last_updated, change.last_updated);
        document.add_text(f.body, &change.body);
        let extractor = self.extractor(&change.tenant);
        let mut terms = Vec::with_capacity(64);
        for (param, values) in extractor.extract(&change.resource_type, &resource) {
            // Full text has fields of its own.
            if param.code == "_text" || param.code == "_content" {
                let field = if param.code == "_text" {
                    f.narrative
                } else {
                    f.content
                };
                for value in values {
                    if let IndexValue::String(text) = value {
                        document.add_text(field, text);
                    }
                }
                continue;
            }
            if values.is_empty() {
                continue;
            }
            terms.push(terms::term(&param.code, marker::PRESENT, ""));
            for value in &values {
                terms::value_terms(&param.code, value, &mut terms);
            }
        }
        terms.sort_unstable();
        terms.dedup();
        for term in terms {
            document.add_text(f.terms, term);
        }
        Some(document)
    }
}

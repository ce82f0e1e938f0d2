//! `resolve()` through the store: a FHIRPath [`Resolver`] that finds the current version of a
//! referenced resource of one tenant in the index (which holds every current body), without a
//! database round trip and without async.

use std::sync::Arc;

use serde_json::Value;
use tantivy::Searcher;

use super::SearchIndex;
use super::build::key;
use crate::fhirpath::Resolver;
use crate::model::Model;

/// Resolves `Type/id` references (relative, absolute, or versioned: the current version is
/// returned) within one tenant, as of the index's visible state when it was made.
pub struct IndexResolver {
    index: Arc<SearchIndex>,
    searcher: Searcher,
    tenant: String,
}

impl std::fmt::Debug for IndexResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexResolver")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// A resolver of the tenant's references (call [`SearchIndex::refresh`] first to see the
    /// latest writes).
    pub fn resolver(self: &Arc<SearchIndex>, tenant: &str) -> IndexResolver {
        IndexResolver {
            index: self.clone(),
            searcher: self.reader().searcher(),
            tenant: tenant.to_owned(),
        }
    }
}

/// `Type/id` from a reference: the last two segments naming an R4 type and an id, before an
/// optional `/_history/v`.
fn type_and_id(reference: &str) -> Option<(&str, &str)> {
    let path = reference.split(['?', '#']).next()?;
    let path = match path.find("/_history/") {
        Some(at) => &path[..at],
        None => path,
    };
    let mut segments = path.rsplit('/');
    let id = segments.next()?;
    let resource_type = segments.next()?;
    Model::r4().resource_type(resource_type)?;
    (!id.is_empty()).then_some((resource_type, id))
}

impl Resolver for IndexResolver {
    fn resolve(&self, reference: &str) -> Option<Value> {
        let (resource_type, id) = type_and_id(reference)?;
        let hit = self
            .index
            .fields()
            .lookup(&self.searcher, &key(&self.tenant, resource_type, id))
            .ok()??;
        serde_json::from_str(&hit.body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::type_and_id;

    #[test]
    fn references_name_a_type_and_an_id() {
        assert_eq!(type_and_id("Patient/1"), Some(("Patient", "1")));
        assert_eq!(
            type_and_id("http://x.org/fhir/Patient/1/_history/2"),
            Some(("Patient", "1"))
        );
        assert_eq!(type_and_id("Nope/1"), None);
        assert_eq!(type_and_id("#contained"), None);
        assert_eq!(type_and_id("urn:uuid:abc"), None);
    }
}

//! Reading what the index stores of a resource: the one place that knows the stored fields.

use tantivy::collector::TopDocs;
use tantivy::schema::{Field, Value as _};
use tantivy::{DocAddress, Searcher, TantivyDocument};

use super::Fields;
use super::execute::Hit;
use super::plan::term_query;
use crate::store::StoredResource;

fn text(document: &TantivyDocument, field: Field) -> String {
    document
        .get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn int(document: &TantivyDocument, field: Field) -> i64 {
    document
        .get_first(field)
        .and_then(|v| v.as_i64())
        .unwrap_or(0)
}

impl Fields {
    /// The stored resource of a document.
    pub(crate) fn hit(&self, document: &TantivyDocument) -> Hit {
        Hit {
            resource_type: text(document, self.resource_type),
            id: text(document, self.id),
            version: int(document, self.version),
            last_updated: int(document, self.last_updated),
            body: text(document, self.body),
        }
    }

    /// The tenant of a document.
    pub(crate) fn tenant_of(&self, document: &TantivyDocument) -> String {
        text(document, self.tenant)
    }

    /// The stored resource at an address.
    pub(crate) fn load(&self, searcher: &Searcher, address: DocAddress) -> tantivy::Result<Hit> {
        Ok(self.hit(&searcher.doc::<TantivyDocument>(address)?))
    }

    /// The current resource with this key (`tenant␟type␟id`), if the index has it.
    pub(crate) fn lookup(&self, searcher: &Searcher, key: &str) -> tantivy::Result<Option<Hit>> {
        let top = searcher.search(
            &term_query(self.key, key),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        match top.first() {
            Some((_, address)) => Ok(Some(self.load(searcher, *address)?)),
            None => Ok(None),
        }
    }
}

impl Hit {
    /// The hit as a stored version of a tenant (for re-extraction; no `seq`).
    pub(crate) fn into_stored(self, tenant: &str) -> StoredResource {
        StoredResource {
            tenant: tenant.to_owned(),
            resource_type: self.resource_type,
            id: self.id,
            version: self.version,
            last_updated: self.last_updated,
            seq: 0,
            deleted: false,
            body: self.body.into(),
        }
    }
}

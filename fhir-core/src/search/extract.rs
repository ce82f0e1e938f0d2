//! Extraction of search parameter values from resources. (Placeholder API; replaced by the
//! compiled fast path.)

use serde_json::Value;

use crate::search::IndexValue;
use crate::search::params::{Registry, SearchParam};

/// Compiled search parameter expressions.
#[derive(Debug, Clone)]
pub struct Extractor {
    registry: Registry,
}

impl Extractor {
    /// Compiles every parameter of a registry.
    pub fn new(registry: &Registry) -> Extractor {
        Extractor {
            registry: registry.clone(),
        }
    }

    /// The registry the extractor was built from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every parameter of the type with the values it takes in the resource.
    pub fn extract<'a>(
        &'a self,
        resource_type: &str,
        resource: &Value,
    ) -> Vec<(&'a SearchParam, Vec<IndexValue>)> {
        let _ = (resource_type, resource);
        Vec::new()
    }

    /// The values of one parameter.
    pub fn extract_param(&self, resource_type: &str, code: &str, resource: &Value) -> Vec<IndexValue> {
        let _ = (resource_type, code, resource);
        Vec::new()
    }
}

/// The narrative text (for `_text`).
pub fn narrative_text(resource: &Value) -> String {
    resource["text"]["div"].as_str().unwrap_or_default().to_owned()
}

/// All text content (for `_content`).
pub fn content_text(resource: &Value) -> String {
    resource.to_string()
}

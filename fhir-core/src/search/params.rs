//! The search parameter definitions: the official R4 ones (generated from
//! `Bundle-searchParams.json` of the pinned package, checked in) and tenant-defined ones.

use std::sync::OnceLock;

use crate::search::ParamType;

/// One component of a composite parameter.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Component {
    /// The canonical URL of the component's SearchParameter.
    pub definition: String,
    /// The component's expression, relative to each item of the composite's expression.
    pub expression: String,
}

/// One search parameter, for the resource types in `base`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchParam {
    /// The code used in URLs (`name`, `_id`).
    pub code: String,
    /// The canonical URL.
    pub url: String,
    /// The type.
    #[serde(rename = "type")]
    pub param_type: ParamType,
    /// The resource types it applies to (`Resource` and `DomainResource` mean all).
    pub base: Vec<String>,
    /// The FHIRPath expression (absent for `_content`, `_query` …).
    pub expression: Option<String>,
    /// For reference parameters, the possible target types.
    #[serde(default)]
    pub targets: Vec<String>,
    /// For composite parameters, the components in order.
    #[serde(default)]
    pub components: Vec<Component>,
}

/// A set of search parameters, looked up by resource type and code.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    params: Vec<SearchParam>,
}

impl Registry {
    /// The official R4 parameters.
    pub fn r4() -> &'static Registry {
        static R4: OnceLock<Registry> = OnceLock::new();
        R4.get_or_init(Registry::default)
    }

    /// The parameters of a type (placeholder).
    pub fn for_type(&self, resource_type: &str) -> Vec<&SearchParam> {
        self.params
            .iter()
            .filter(|p| p.base.iter().any(|b| b == resource_type))
            .collect()
    }

    /// The parameter `code` of `resource_type` (including those defined on `Resource` and
    /// `DomainResource`).
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&SearchParam> {
        self.params.iter().find(|p| {
            p.code == code
                && p.base
                    .iter()
                    .any(|b| b == resource_type || b == "Resource" || b == "DomainResource")
        })
    }

    /// The parameter with this canonical URL (for the components of composite parameters).
    pub fn by_url(&self, url: &str) -> Option<&SearchParam> {
        self.params.iter().find(|p| p.url == url)
    }

    /// A registry of exactly these parameters (for tests and tenant-defined sets).
    pub fn from_params(params: Vec<SearchParam>) -> Registry {
        Registry { params }
    }
}

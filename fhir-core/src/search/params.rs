//! The search parameter definitions: the official R4 ones (generated from
//! `Bundle-searchParams.json` of the pinned package, checked in as `search_params.json`) and
//! tenant-defined ones.
//!
//! The official bundle defines these parameters on `Resource` (so on every type): `_id`,
//! `_lastUpdated`, `_tag`, `_profile`, `_security`, `_source`, `_content` (no expression: the
//! whole text of the resource) and `_query` (no expression: a named query); and on
//! `DomainResource` (every type but `Bundle`, `Binary` and `Parameters`): `_text` (no expression:
//! the narrative). `_list`, `_has`, `_type`, `_filter` … are not SearchParameters of the bundle:
//! the query layer handles them.
//!
//! The test `search_params_are_fresh` regenerates `search_params.json` and fails when the
//! checked-in file is stale (`FHIR_REGENERATE=1` rewrites it).

pub mod generate;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::model::Model;
use crate::search::ParamType;

/// The generated parameters, embedded at compile time.
const R4_PARAMS_JSON: &str = include_str!("search_params.json");

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// For reference parameters, the possible target types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// For composite parameters, the components in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl SearchParam {
    /// Reads a `SearchParameter` resource. `code`, `url`, `type` and at least one `base` are
    /// required, and `expression` unless the type is `special`; composite components need a
    /// `definition` and an `expression`. The expression itself is not checked here.
    pub fn from_resource(resource: &Value) -> Result<SearchParam, String> {
        if resource["resourceType"] != "SearchParameter" {
            return Err("the resource is not a SearchParameter".to_owned());
        }
        let text = |name: &str| -> Result<String, String> {
            match resource[name].as_str() {
                Some(value) if !value.trim().is_empty() => Ok(value.to_owned()),
                _ => Err(format!("SearchParameter.{name} is required")),
            }
        };
        let code = text("code")?;
        let url = text("url")?;
        let type_text = text("type")?;
        let param_type: ParamType = serde_json::from_value(Value::String(type_text.clone()))
            .map_err(|_| format!("SearchParameter.type '{type_text}' is not a search type"))?;
        let strings = |name: &str| -> Result<Vec<String>, String> {
            match &resource[name] {
                Value::Null => Ok(Vec::new()),
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("SearchParameter.{name} holds a non-string"))
                    })
                    .collect(),
                _ => Err(format!("SearchParameter.{name} must be an array")),
            }
        };
        let base = strings("base")?;
        if base.is_empty() {
            return Err("SearchParameter.base is required".to_owned());
        }
        let targets = strings("target")?;
        let expression = resource["expression"]
            .as_str()
            .filter(|e| !e.trim().is_empty())
            .map(str::to_owned);
        let builtin_without_expression = matches!(code.as_str(), "_text" | "_content" | "_query");
        if expression.is_none() && param_type != ParamType::Special && !builtin_without_expression {
            return Err(format!(
                "SearchParameter.expression is required for a {type_text} parameter"
            ));
        }
        let mut components = Vec::new();
        for component in resource["component"].as_array().into_iter().flatten() {
            let definition = component["definition"].as_str();
            let expression = component["expression"].as_str();
            match (definition, expression) {
                (Some(definition), Some(expression)) => components.push(Component {
                    definition: definition.to_owned(),
                    expression: expression.to_owned(),
                }),
                _ => {
                    return Err(
                        "SearchParameter.component needs a definition and an expression".to_owned(),
                    );
                }
            }
        }
        if param_type == ParamType::Composite && components.is_empty() {
            return Err("a composite SearchParameter needs components".to_owned());
        }
        Ok(SearchParam {
            code,
            url,
            param_type,
            base,
            expression,
            targets,
            components,
        })
    }

    /// `true` when the parameter applies to every resource type (base `Resource`), or every
    /// type but `Bundle`, `Binary` and `Parameters` (base `DomainResource`).
    pub fn applies_to(&self, resource_type: &str) -> bool {
        self.base.iter().any(|base| {
            base == resource_type
                || base == "Resource"
                || (base == "DomainResource" && !is_plain_resource(resource_type))
        })
    }
}

/// The resource types that are not DomainResources.
fn is_plain_resource(resource_type: &str) -> bool {
    matches!(resource_type, "Bundle" | "Binary" | "Parameters")
}

/// The parameters of one resource type: code → index into [`Registry::params`], and the
/// indexes in registry order.
#[derive(Debug, Clone, Default)]
struct TypeParams {
    by_code: HashMap<String, usize>,
    ordered: Vec<usize>,
}

/// A set of search parameters, looked up by resource type and code in constant time.
///
/// Parameters on `Resource` / `DomainResource` are resolved into every concrete type when the
/// registry is built. Precedence, lowest first: official common parameters, official
/// type-specific ones, custom common ones, custom type-specific ones (the later replaces the
/// earlier with the same code).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    params: Vec<SearchParam>,
    by_type: HashMap<String, TypeParams>,
    by_url: HashMap<String, usize>,
}

impl Registry {
    /// The official R4 parameters.
    pub fn r4() -> &'static Registry {
        static R4: OnceLock<Registry> = OnceLock::new();
        R4.get_or_init(|| {
            let params: Vec<SearchParam> =
                serde_json::from_str(R4_PARAMS_JSON).expect("embedded search_params.json is valid");
            let count = params.len();
            Registry::build(params, count)
        })
    }

    /// A registry of `base`'s parameters plus `custom` ones (tenant-defined SearchParameters),
    /// which add to or replace (same base type and code) those of `base`.
    pub fn with_custom(base: &Registry, custom: Vec<SearchParam>) -> Registry {
        let mut params = base.params.clone();
        let first_custom = params.len();
        params.extend(custom);
        Registry::build(params, first_custom)
    }

    /// A registry of exactly these parameters (for tests and tools).
    pub fn from_params(params: Vec<SearchParam>) -> Registry {
        let first_custom = params.len();
        Registry::build(params, first_custom)
    }

    fn build(params: Vec<SearchParam>, first_custom: usize) -> Registry {
        let model = Model::r4();
        let mut type_names: Vec<String> = model.resource_type_names().map(str::to_owned).collect();
        type_names.push("Resource".to_owned());
        type_names.push("DomainResource".to_owned());
        for param in &params {
            for base in &param.base {
                if !type_names.contains(base) {
                    type_names.push(base.clone());
                }
            }
        }
        let is_common = |param: &SearchParam| {
            param
                .base
                .iter()
                .all(|b| b == "Resource" || b == "DomainResource")
        };
        let abstract_types = ["Resource", "DomainResource"];
        let mut by_code: HashMap<&str, HashMap<String, usize>> = type_names
            .iter()
            .map(|name| (name.as_str(), HashMap::new()))
            .collect();
        // Insertion order decides precedence (see the type documentation).
        let official = 0..first_custom.min(params.len());
        let custom = first_custom.min(params.len())..params.len();
        for range in [official, custom] {
            for common_pass in [true, false] {
                for index in range.clone() {
                    let param = &params[index];
                    if is_common(param) != common_pass {
                        continue;
                    }
                    if common_pass {
                        for type_name in &type_names {
                            let applies = if abstract_types.contains(&type_name.as_str()) {
                                param.base.iter().any(|b| b == type_name)
                                    || (type_name == "DomainResource"
                                        && param.base.iter().any(|b| b == "Resource"))
                            } else {
                                param.applies_to(type_name)
                            };
                            if applies {
                                let codes = by_code.get_mut(type_name.as_str()).expect("listed");
                                codes.insert(param.code.clone(), index);
                            }
                        }
                    } else {
                        for base in &param.base {
                            let codes = by_code.get_mut(base.as_str()).expect("listed");
                            codes.insert(param.code.clone(), index);
                        }
                    }
                }
            }
        }
        let by_type: HashMap<String, TypeParams> = by_code
            .into_iter()
            .map(|(name, by_code)| {
                let mut ordered: Vec<usize> = by_code.values().copied().collect();
                ordered.sort_unstable();
                (name.to_owned(), TypeParams { by_code, ordered })
            })
            .collect();
        let mut by_url = HashMap::with_capacity(params.len());
        for (index, param) in params.iter().enumerate() {
            by_url.insert(param.url.clone(), index);
        }
        Registry {
            params,
            by_type,
            by_url,
        }
    }

    /// The parameter `code` of `resource_type` (including those defined on `Resource` and
    /// `DomainResource`).
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&SearchParam> {
        self.index_of(resource_type, code).map(|i| &self.params[i])
    }

    /// Every parameter that applies to `resource_type`, in definition order (an unknown type
    /// gets the `Resource` parameters).
    pub fn for_type(&self, resource_type: &str) -> Vec<&SearchParam> {
        self.indexes_for(resource_type)
            .iter()
            .map(|&i| &self.params[i])
            .collect()
    }

    /// The parameter with this canonical URL.
    pub fn by_url(&self, url: &str) -> Option<&SearchParam> {
        self.by_url.get(url).map(|&i| &self.params[i])
    }

    /// Every parameter of the registry (official first, then custom ones).
    pub fn params(&self) -> &[SearchParam] {
        &self.params
    }

    /// The index in [`Registry::params`] of `code` on `resource_type`.
    pub(crate) fn index_of(&self, resource_type: &str, code: &str) -> Option<usize> {
        let type_params = self
            .by_type
            .get(resource_type)
            .or_else(|| self.by_type.get("Resource"))?;
        type_params.by_code.get(code).copied()
    }

    /// The indexes of the parameters of `resource_type`, in registry order.
    pub(crate) fn indexes_for(&self, resource_type: &str) -> &[usize] {
        self.by_type
            .get(resource_type)
            .or_else(|| self.by_type.get("Resource"))
            .map(|t| t.ordered.as_slice())
            .unwrap_or(&[])
    }

    /// The resource types the registry has parameter tables for.
    pub(crate) fn type_names(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }
}

#[cfg(test)]
pub(crate) mod tests {

    use serde_json::json;

    use super::*;

    use crate::generated::package_file;

    /// Regenerates `search_params.json` and fails when the checked-in copy differs.
    /// `FHIR_REGENERATE=1 cargo test -p fhir-core search_params_are_fresh` rewrites it.
    #[test]
    fn search_params_are_fresh() {
        let bundle = package_file("Bundle-searchParams.json");
        let params = generate::generate(&bundle).unwrap();
        assert_eq!(params.len(), 1375);
        let fresh = generate::render(&params);
        crate::generated::check_fresh(
            "src/search/search_params.json",
            &fresh,
            "search_params_are_fresh",
        );
    }

    #[test]
    fn lookups_by_type_code_and_url() {
        let registry = Registry::r4();
        assert_eq!(registry.params().len(), 1375);
        let name = registry.get("Patient", "name").unwrap();
        assert_eq!(name.param_type, ParamType::String);
        assert_eq!(name.expression.as_deref(), Some("Patient.name"));
        let id = registry.get("Patient", "_id").unwrap();
        assert_eq!(id.expression.as_deref(), Some("Resource.id"));
        assert!(registry.get("Patient", "_text").is_some());
        assert!(registry.get("Bundle", "_text").is_none());
        assert!(registry.get("Bundle", "_id").is_some());
        assert!(registry.get("Patient", "nope").is_none());
        let subject = registry.get("Observation", "subject").unwrap();
        assert_eq!(subject.param_type, ParamType::Reference);
        assert!(subject.targets.iter().any(|t| t == "Patient"));
        let code = registry.get("Observation", "code").unwrap();
        assert!(code.base.len() > 1, "clinical-code is shared");
        assert_eq!(
            registry.by_url(&code.url).unwrap().url,
            "http://hl7.org/fhir/SearchParameter/clinical-code"
        );
        let composite = registry.get("Observation", "code-value-quantity").unwrap();
        assert_eq!(composite.components.len(), 2);
        let patient_params = registry.for_type("Patient");
        assert!(patient_params.iter().any(|p| p.code == "_lastUpdated"));
        assert!(patient_params.iter().any(|p| p.code == "birthdate"));
        assert!(!patient_params.iter().any(|p| p.code == "value-quantity"));
        let common: Vec<&str> = registry
            .for_type("Resource")
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        assert_eq!(
            common,
            [
                "_content",
                "_id",
                "_lastUpdated",
                "_profile",
                "_query",
                "_security",
                "_source",
                "_tag"
            ]
        );
        assert!(
            registry
                .for_type("DomainResource")
                .iter()
                .any(|p| p.code == "_text")
        );
    }

    #[test]
    fn custom_parameters_add_and_override() {
        let custom = SearchParam::from_resource(&json!({
            "resourceType": "SearchParameter",
            "url": "http://example.org/SearchParameter/patient-eye-colour",
            "code": "eye-colour",
            "base": ["Patient"],
            "type": "token",
            "expression": "Patient.extension('http://example.org/eye-colour').value"
        }))
        .unwrap();
        let override_name = SearchParam::from_resource(&json!({
            "resourceType": "SearchParameter",
            "url": "http://example.org/SearchParameter/patient-name",
            "code": "name",
            "base": ["Patient"],
            "type": "string",
            "expression": "Patient.name.family"
        }))
        .unwrap();
        let registry = Registry::with_custom(Registry::r4(), vec![custom, override_name]);
        assert_eq!(
            registry.get("Patient", "eye-colour").unwrap().url,
            "http://example.org/SearchParameter/patient-eye-colour"
        );
        assert_eq!(
            registry
                .get("Patient", "name")
                .unwrap()
                .expression
                .as_deref(),
            Some("Patient.name.family")
        );
        // Other types keep the official parameters.
        assert_eq!(
            registry
                .get("Practitioner", "name")
                .unwrap()
                .expression
                .as_deref(),
            Some("Practitioner.name")
        );
        assert!(Registry::r4().get("Patient", "eye-colour").is_none());
        assert_eq!(
            registry.for_type("Patient").len(),
            Registry::r4().for_type("Patient").len() + 1
        );
    }

    #[test]
    fn invalid_search_parameters_are_refused() {
        let base = json!({
            "resourceType": "SearchParameter",
            "url": "http://example.org/sp",
            "code": "x",
            "base": ["Patient"],
            "type": "token",
            "expression": "Patient.id"
        });
        assert!(SearchParam::from_resource(&base).is_ok());
        for (field, value) in [
            ("code", Value::Null),
            ("url", Value::Null),
            ("type", json!("colour")),
            ("base", json!([])),
            ("expression", Value::Null),
            ("resourceType", json!("Patient")),
        ] {
            let mut resource = base.clone();
            resource[field] = value;
            assert!(
                SearchParam::from_resource(&resource).is_err(),
                "{field} is checked"
            );
        }
        let mut special = base.clone();
        special["type"] = json!("special");
        special["expression"] = Value::Null;
        assert!(SearchParam::from_resource(&special).is_ok());
        let mut composite = base;
        composite["type"] = json!("composite");
        assert!(SearchParam::from_resource(&composite).is_err());
    }
}

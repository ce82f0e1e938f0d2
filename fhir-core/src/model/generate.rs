//! Derives [`ModelData`] from the official StructureDefinitions (`Bundle-types.json` and
//! `Bundle-resources.json` of the R4 package).
//!
//! Rules, taken from how the R4 snapshots are written:
//! - only base definitions count (`derivation` = `specialization`, or none for `Element` and
//!   `Resource`); constraints such as `SimpleQuantity` and logical models are skipped;
//! - an element typed `BackboneElement` or `Element` below the root opens an anonymous type named
//!   by its path (`Patient.contact`, `Timing.repeat`); `contentReference: #Questionnaire.item`
//!   points to such a type;
//! - `http://hl7.org/fhirpath/System.*` codes (the value of `Element.id`, `Extension.url` …) take
//!   the FHIR type from the `structuredefinition-fhir-type` extension; `Resource.id` is an `id`;
//! - the `value` element of a primitive type is not an element: its regex becomes the type's.

use serde_json::Value;

use super::{ElementDef, FHIR_VERSION, ModelData, TypeDef, TypeKind, TypeRef};

const FHIR_TYPE_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";
const REGEX_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/regex";

/// Builds the model from the definition bundles, in the order given.
pub fn generate(bundles: &[&Value]) -> ModelData {
    let mut types = Vec::new();
    let mut backbones = Vec::new();
    for bundle in bundles {
        let entries = bundle["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for entry in entries {
            let definition = &entry["resource"];
            if definition["resourceType"] != "StructureDefinition" {
                continue;
            }
            let derivation = definition["derivation"].as_str();
            let kind = match definition["kind"].as_str() {
                Some("primitive-type") => TypeKind::PrimitiveType,
                Some("complex-type") => TypeKind::ComplexType,
                Some("resource") => TypeKind::Resource,
                _ => continue,
            };
            if derivation == Some("constraint") {
                continue;
            }
            let (type_def, nested) = type_from_definition(definition, kind);
            types.push(type_def);
            backbones.extend(nested);
        }
    }
    types.extend(backbones);
    ModelData {
        fhir_version: FHIR_VERSION.to_owned(),
        types,
    }
}

/// Renders model data the way `r4.json` is checked in.
pub fn render(data: &ModelData) -> String {
    let mut text = serde_json::to_string_pretty(data).expect("model data serialises");
    text.push('\n');
    text
}

fn type_from_definition(definition: &Value, kind: TypeKind) -> (TypeDef, Vec<TypeDef>) {
    let name = definition["type"].as_str().unwrap_or_default().to_owned();
    let base = definition["baseDefinition"]
        .as_str()
        .and_then(|url| url.rsplit('/').next())
        .map(str::to_owned);
    let mut root = TypeDef {
        name: name.clone(),
        kind,
        is_abstract: definition["abstract"].as_bool().unwrap_or(false),
        base,
        regex: None,
        elements: Vec::new(),
    };
    // Backbone types in the order their first element appears.
    let mut backbones: Vec<TypeDef> = Vec::new();
    let elements = definition["snapshot"]["element"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for element in elements {
        let Some(path) = element["path"].as_str() else {
            continue;
        };
        let Some((parent, last)) = path.rsplit_once('.') else {
            continue; // the root element
        };
        if kind == TypeKind::PrimitiveType && last == "value" {
            root.regex = element["type"][0]["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["url"] == REGEX_EXTENSION)
                .and_then(|e| e["valueString"].as_str())
                .map(str::to_owned);
            continue;
        }
        let (element_name, choice) = match last.strip_suffix("[x]") {
            Some(stem) => (stem.to_owned(), true),
            None => (last.to_owned(), false),
        };
        let types = element_types(element, path, kind, parent == name, &element_name);
        let max = element["max"].as_str().unwrap_or("1");
        let element_def = ElementDef {
            name: element_name,
            many: max == "*" || max.parse::<u32>().is_ok_and(|m| m > 1),
            min: element["min"].as_u64().unwrap_or(0) as u32,
            choice,
            summary: element["isSummary"].as_bool().unwrap_or(false),
            modifier: element["isModifier"].as_bool().unwrap_or(false),
            types,
        };
        let opens_backbone = element_def
            .types
            .first()
            .is_some_and(|t| t.code == path && element["contentReference"].is_null());
        if parent == name {
            root.elements.push(element_def);
        } else if let Some(owner) = backbones.iter_mut().find(|b| b.name == parent) {
            owner.elements.push(element_def);
        }
        if opens_backbone {
            backbones.push(TypeDef {
                name: path.to_owned(),
                kind: TypeKind::Backbone,
                is_abstract: false,
                base: element["type"][0]["code"].as_str().map(str::to_owned),
                regex: None,
                elements: Vec::new(),
            });
        }
    }
    (root, backbones)
}

fn element_types(
    element: &Value,
    path: &str,
    kind: TypeKind,
    top_level: bool,
    name: &str,
) -> Vec<TypeRef> {
    if let Some(reference) = element["contentReference"].as_str() {
        return vec![TypeRef {
            code: reference.trim_start_matches('#').to_owned(),
            targets: Vec::new(),
        }];
    }
    let declared = element["type"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    declared
        .iter()
        .map(|type_entry| {
            let raw = type_entry["code"].as_str().unwrap_or_default();
            let code = if kind == TypeKind::Resource && top_level && name == "id" {
                "id".to_owned()
            } else if raw.starts_with("http://hl7.org/fhirpath/System.") {
                type_entry["extension"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["url"] == FHIR_TYPE_EXTENSION)
                    .and_then(|e| e["valueUrl"].as_str())
                    .unwrap_or("string")
                    .to_owned()
            } else if (raw == "BackboneElement" || raw == "Element") && path.contains('.') {
                path.to_owned()
            } else {
                raw.to_owned()
            };
            let targets = type_entry["targetProfile"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|profile| profile.as_str()?.rsplit('/').next())
                .map(str::to_owned)
                .collect();
            TypeRef { code, targets }
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use super::*;

    use crate::generated::package_file;

    /// Regenerates `r4.json` and fails when the checked-in copy differs.
    /// `FHIR_REGENERATE=1 cargo test -p fhir-core model_is_fresh` rewrites it.
    #[test]
    fn model_is_fresh() {
        let types = package_file("Bundle-types.json");
        let resources = package_file("Bundle-resources.json");
        let fresh = render(&generate(&[&resources, &types]));
        crate::generated::check_fresh("src/model/r4.json", &fresh, "model_is_fresh");
    }
}

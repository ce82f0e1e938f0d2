//! The R4 compartment definitions: which search parameters link a resource to a compartment
//! (`Patient`, `Encounter`, `Practitioner`, `RelatedPerson`, `Device`).
//!
//! Generated from `CompartmentDefinition-*.json` of the pinned package into `compartments.json`
//! (checked in; the test `compartments_are_fresh` regenerates it, `FHIR_REGENERATE=1` rewrites).
//!
//! A parameter list may hold the special value `{def}` (for instance the `Encounter` type in the
//! `Encounter` compartment): the resource *is* the compartment owner, so `Encounter/12` is in
//! the compartment of `Encounter/12` itself. Every other entry is the code of a reference
//! search parameter of the resource type.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The generated definitions, embedded at compile time.
const COMPARTMENTS_JSON: &str = include_str!("compartments.json");

/// The compartment codes, in the order of the specification.
pub const COMPARTMENTS: [&str; 5] = [
    "Patient",
    "Encounter",
    "Practitioner",
    "RelatedPerson",
    "Device",
];

/// One compartment as generated: its code and, for each resource type with parameters, the
/// parameter codes.
pub type Compartment = (String, Vec<(String, Vec<String>)>);

/// The serialised form (the content of `compartments.json`).
type CompartmentData = Vec<Compartment>;

/// Loaded definitions: compartment → resource type → parameters.
struct Compartments {
    data: CompartmentData,
    index: HashMap<String, (usize, HashMap<String, usize>)>,
}

fn compartments() -> &'static Compartments {
    static DATA: OnceLock<Compartments> = OnceLock::new();
    DATA.get_or_init(|| {
        let data: CompartmentData =
            serde_json::from_str(COMPARTMENTS_JSON).expect("embedded compartments.json is valid");
        let index = data
            .iter()
            .enumerate()
            .map(|(position, (code, types))| {
                let by_type = types
                    .iter()
                    .enumerate()
                    .map(|(i, (resource_type, _))| (resource_type.clone(), i))
                    .collect();
                (code.clone(), (position, by_type))
            })
            .collect();
        Compartments { data, index }
    })
}

/// The parameters (codes) that put a `resource_type` resource in a `compartment` (`Patient`,
/// `Encounter` …): `None` when the type is not in that compartment at all. `{def}` means the
/// resource is the compartment owner itself.
pub fn compartment_params(compartment: &str, resource_type: &str) -> Option<&'static [String]> {
    let all = compartments();
    let &(position, ref by_type) = all.index.get(compartment)?;
    let index = *by_type.get(resource_type)?;
    Some(all.data[position].1[index].1.as_slice())
}

/// The resource types that can be in `compartment` (those with parameters), in definition
/// order; empty for an unknown compartment.
pub fn compartment_types(compartment: &str) -> Vec<&'static str> {
    compartments()
        .data
        .iter()
        .find(|(code, _)| code == compartment)
        .map(|(_, types)| types.iter().map(|(t, _)| t.as_str()).collect())
        .unwrap_or_default()
}

/// Reads one CompartmentDefinition into its code and the types with parameters.
pub fn from_definition(definition: &Value) -> Compartment {
    let code = definition["code"].as_str().unwrap_or_default().to_owned();
    let types = definition["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let resource_type = entry["code"].as_str()?;
            let params: Vec<String> = entry["param"]
                .as_array()?
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect();
            (!params.is_empty()).then(|| (resource_type.to_owned(), params))
        })
        .collect();
    (code, types)
}

/// Renders the definitions the way `compartments.json` is checked in: one line per resource
/// type.
pub fn render(data: &[Compartment]) -> String {
    let mut text = String::from("[\n");
    for (i, (code, types)) in data.iter().enumerate() {
        text.push_str(&format!("[{},[\n", Value::String(code.clone())));
        for (j, entry) in types.iter().enumerate() {
            text.push_str(&serde_json::to_string(entry).expect("serialises"));
            text.push_str(if j + 1 < types.len() { ",\n" } else { "\n" });
        }
        text.push_str(if i + 1 < data.len() { "]],\n" } else { "]]\n" });
    }
    text.push_str("]\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::params::Registry;

    /// Regenerates `compartments.json` and fails when the checked-in copy differs.
    /// `FHIR_REGENERATE=1 cargo test -p fhir-core compartments_are_fresh` rewrites it.
    #[test]
    fn compartments_are_fresh() {
        let data: CompartmentData = [
            "patient",
            "encounter",
            "practitioner",
            "relatedPerson",
            "device",
        ]
        .iter()
        .map(|name| {
            from_definition(&crate::generated::package_file(&format!(
                "CompartmentDefinition-{name}.json"
            )))
        })
        .collect();
        let fresh = render(&data);
        crate::generated::check_fresh(
            "src/search/compartments.json",
            &fresh,
            "compartments_are_fresh",
        );
    }

    #[test]
    fn compartment_lookups() {
        assert_eq!(
            compartment_params("Patient", "Observation").unwrap(),
            ["subject", "performer"]
        );
        assert_eq!(
            compartment_params("Encounter", "Encounter").unwrap(),
            ["{def}"]
        );
        assert!(compartment_params("Patient", "CodeSystem").is_none());
        assert!(compartment_params("Nope", "Observation").is_none());
        let types = compartment_types("Patient");
        assert!(types.contains(&"Observation"));
        assert!(!types.contains(&"CodeSystem"));
        assert!(compartment_types("Nope").is_empty());
        for compartment in COMPARTMENTS {
            assert!(!compartment_types(compartment).is_empty());
        }
    }

    /// Every parameter named by a compartment exists on its type and is a reference.
    #[test]
    fn compartment_params_are_reference_params() {
        let registry = Registry::r4();
        for compartment in COMPARTMENTS {
            for resource_type in compartment_types(compartment) {
                for code in compartment_params(compartment, resource_type).unwrap() {
                    if code == "{def}" {
                        continue;
                    }
                    let param = registry.get(resource_type, code);
                    assert!(
                        param.is_some(),
                        "{compartment}: {resource_type}.{code} is not a parameter"
                    );
                }
            }
        }
    }
}

//! R4 model metadata: every resource, datatype and backbone element of FHIR R4 (4.0.1), with its
//! elements in definition order, their types, cardinality, choice types and reference targets.
//!
//! The metadata is generated from the official StructureDefinitions pinned in
//! `fhir-core/definitions/` (see [`generate`]) into `src/model/r4.json`, which is checked in and
//! embedded in the binary. It is parsed once, on first use (a few milliseconds).
//! The test `model_is_fresh` regenerates it and fails when the checked-in file is stale.

pub mod generate;

use rustc_hash::FxHashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The FHIR version the model describes.
pub const FHIR_VERSION: &str = "4.0.1";

/// The generated metadata, embedded at compile time.
const R4_MODEL_JSON: &str = include_str!("r4.json");

/// What kind of type a [`TypeDef`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TypeKind {
    /// A primitive datatype (`boolean`, `string`, `dateTime`, `xhtml` …).
    PrimitiveType,
    /// A complex datatype (`HumanName`, `Quantity`, `Extension` …).
    ComplexType,
    /// A resource type (`Patient`, `Bundle` …, and the abstract `Resource` and `DomainResource`).
    Resource,
    /// An anonymous backbone element, named by its path (`Patient.contact`).
    Backbone,
}

/// One element of a type, as it appears in JSON (without the `[x]` of choice elements).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElementDef {
    /// The element name: `birthDate`, or `value` for `value[x]`.
    pub name: String,
    /// The allowed types. One entry unless the element is a choice.
    pub types: Vec<TypeRef>,
    /// Minimum cardinality (0 or 1 in the base model).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min: u32,
    /// `true` when the element repeats (max is `*` or above 1): a JSON array.
    #[serde(default, skip_serializing_if = "is_false")]
    pub many: bool,
    /// `true` for a choice element (`value[x]`); JSON names are `name` + capitalised type code.
    #[serde(default, skip_serializing_if = "is_false")]
    pub choice: bool,
    /// `true` when the element is part of the summary (`_summary=true`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub summary: bool,
    /// `true` when the element is a modifier (`isModifier`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub modifier: bool,
}

/// A type an element may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TypeRef {
    /// The type name: a datatype (`string`, `Reference`), `Resource` for any resource, or a
    /// backbone path (`Patient.contact`).
    pub code: String,
    /// For `Reference` and `canonical`: the resource types it may point to (empty means any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

/// A resource, datatype or backbone element with its elements in definition order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TypeDef {
    /// The type name (`Patient`, `HumanName`, `dateTime`, `Patient.contact`).
    pub name: String,
    /// What kind of type it is.
    pub kind: TypeKind,
    /// `true` for `Resource`, `DomainResource`, `Element`, `BackboneElement`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_abstract: bool,
    /// The base type (`DomainResource` for `Patient`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// For primitive types: the regular expression of the lexical space, from the definitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The elements, in definition order.
    pub elements: Vec<ElementDef>,
}

/// The serialised form of the whole model (the content of `r4.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelData {
    /// The FHIR version of the definitions.
    pub fhir_version: String,
    /// Every type, resources first in definition order, then datatypes, then backbones.
    pub types: Vec<TypeDef>,
}

/// The result of looking a JSON property name up in a type.
#[derive(Debug, Clone, Copy)]
pub struct ElementMatch<'a> {
    /// The element definition.
    pub element: &'a ElementDef,
    /// Its index in the type's element list (definition order).
    pub index: usize,
    /// The type the property name selects: the only type, or for a choice the one named by the
    /// suffix (`valueQuantity` → `Quantity`).
    pub type_ref: &'a TypeRef,
}

/// The loaded R4 model with lookup indexes.
#[derive(Debug)]
pub struct Model {
    types: Vec<TypeDef>,
    by_name: FxHashMap<String, usize>,
    /// Per type: JSON property name → (element index, type index within the element).
    properties: Vec<FxHashMap<String, (usize, usize)>>,
}

impl Model {
    /// The R4 model, parsed on first use from the embedded metadata.
    pub fn r4() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| {
            let data: ModelData =
                serde_json::from_str(R4_MODEL_JSON).expect("embedded r4.json is valid");
            Model::from_data(data)
        })
    }

    /// Builds the lookup indexes over model data.
    pub fn from_data(data: ModelData) -> Model {
        let mut by_name = FxHashMap::with_capacity_and_hasher(data.types.len(), Default::default());
        let mut properties = Vec::with_capacity(data.types.len());
        for (type_index, type_def) in data.types.iter().enumerate() {
            by_name.insert(type_def.name.clone(), type_index);
            let mut names = FxHashMap::default();
            for (element_index, element) in type_def.elements.iter().enumerate() {
                if element.choice {
                    for (choice_index, type_ref) in element.types.iter().enumerate() {
                        let name = format!("{}{}", element.name, capitalise(&type_ref.code));
                        names.insert(name, (element_index, choice_index));
                    }
                } else {
                    names.insert(element.name.clone(), (element_index, 0));
                }
            }
            properties.push(names);
        }
        Model {
            types: data.types,
            by_name,
            properties,
        }
    }

    /// A type by name: a resource, datatype or backbone path.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.by_name.get(name).map(|&i| &self.types[i])
    }

    /// Every type of the model.
    pub fn types(&self) -> impl Iterator<Item = &TypeDef> {
        self.types.iter()
    }

    /// The concrete (non-abstract) resource type with this name.
    pub fn resource_type(&self, name: &str) -> Option<&TypeDef> {
        self.type_def(name)
            .filter(|t| t.kind == TypeKind::Resource && !t.is_abstract)
    }

    /// Names of every concrete resource type, in definition order.
    pub fn resource_type_names(&self) -> impl Iterator<Item = &str> {
        self.types
            .iter()
            .filter(|t| t.kind == TypeKind::Resource && !t.is_abstract)
            .map(|t| t.name.as_str())
    }

    /// `true` when `name` is a primitive datatype.
    pub fn is_primitive(&self, name: &str) -> bool {
        self.type_def(name)
            .is_some_and(|t| t.kind == TypeKind::PrimitiveType)
    }

    /// Looks up a JSON property name (`birthDate`, `valueQuantity`; without a leading `_`)
    /// in the type `type_name`.
    pub fn element(&self, type_name: &str, property: &str) -> Option<ElementMatch<'_>> {
        let type_index = *self.by_name.get(type_name)?;
        let &(index, choice) = self.properties[type_index].get(property)?;
        let element = &self.types[type_index].elements[index];
        Some(ElementMatch {
            element,
            index,
            type_ref: &element.types[choice],
        })
    }
}

/// How a primitive type is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonPrimitive {
    /// `true` / `false`.
    Boolean,
    /// A JSON number (integer, positiveInt, unsignedInt, decimal).
    Number,
    /// A JSON string (every other primitive).
    String,
}

/// The JSON representation of a primitive type.
pub fn json_primitive(type_code: &str) -> JsonPrimitive {
    match type_code {
        "boolean" => JsonPrimitive::Boolean,
        "integer" | "positiveInt" | "unsignedInt" | "decimal" => JsonPrimitive::Number,
        _ => JsonPrimitive::String,
    }
}

/// `valueQuantity` from `value` and `Quantity`: upper-cases the first letter.
pub fn capitalise(code: &str) -> String {
    let mut chars = code.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_elements_resolve_in_definition_order() {
        let model = Model::r4();
        let patient = model.resource_type("Patient").unwrap();
        let names: Vec<&str> = patient.elements.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(&names[..4], &["id", "meta", "implicitRules", "language"]);
        let deceased = model.element("Patient", "deceasedDateTime").unwrap();
        assert!(deceased.element.choice);
        assert_eq!(deceased.type_ref.code, "dateTime");
        let contact = model.element("Patient", "contact").unwrap();
        assert!(contact.element.many);
        assert_eq!(contact.type_ref.code, "Patient.contact");
        assert!(model.element("Patient", "deceased").is_none());
        assert!(model.element("Patient", "unknown").is_none());
    }

    #[test]
    fn content_references_point_to_backbones() {
        let model = Model::r4();
        let item = model.element("Questionnaire.item", "item").unwrap();
        assert_eq!(item.type_ref.code, "Questionnaire.item");
        let id = model.element("Patient", "id").unwrap();
        assert_eq!(id.type_ref.code, "id");
        let url = model.element("Extension", "url").unwrap();
        assert_eq!(url.type_ref.code, "uri");
        assert_eq!(url.element.min, 1);
    }

    #[test]
    fn reference_targets_and_primitive_regexes_are_kept() {
        let model = Model::r4();
        let subject = model.element("Observation", "subject").unwrap();
        assert!(subject.type_ref.targets.iter().any(|t| t == "Patient"));
        assert!(model.type_def("dateTime").unwrap().regex.is_some());
        assert!(model.is_primitive("xhtml"));
        assert_eq!(model.resource_type_names().count(), 146);
    }
}

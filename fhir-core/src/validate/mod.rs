//! Structural validation of a resource against the R4 model.
//!
//! [`validate_resource`] walks a JSON resource once, borrowing it, and reports every problem it
//! finds as an [`Issue`] (severity `error`) with a FHIRPath location:
//!
//! - the top level is an object whose `resourceType` names a concrete resource type;
//! - every property is an element of its type (a choice element needs its type suffix:
//!   `deceasedBoolean`, not `deceased`), and at most one type of a choice is present;
//! - the JSON shape matches the element: objects for datatypes, backbone elements and resources,
//!   booleans, numbers or strings for primitives, arrays exactly for repeating elements;
//! - primitive values are in the lexical space of their type (see [`primitives`]);
//! - `null` only appears in arrays of primitives, where the `_name` array has an object at the
//!   same index (and the other way round); `name` and `_name` arrays have the same length;
//! - `_name` (id and extensions of a primitive) only for primitive elements, holding only `id`
//!   and `extension`;
//! - no empty objects, arrays or strings;
//! - required elements (`min` ≥ 1) are present, in every object (a primitive present only through
//!   its `_name` extensions counts as present);
//! - an Extension has a `url`, and either a `value[x]` or nested extensions, not both (ext-1);
//! - nested resources (`contained`, `Bundle.entry.resource`, `Parameters.parameter.resource` …)
//!   are validated with their own type; a contained resource does not contain resources (dom-2);
//! - nesting is limited to [`MAX_DEPTH`] objects, and at most [`MAX_ISSUES`] issues are reported.
//!
//! Issue codes: `structure` (unknown element, wrong JSON shape, `null`, empty object or array),
//! `value` (bad primitive value), `required` (missing required element or `resourceType`),
//! `invalid` (unknown resource type, ext-1, dom-2), `too-costly` (too many issues).
//!
//! # Locations
//!
//! Locations are FHIRPath expressions starting with the resource type: `Patient.name[0].given[1]`.
//! A repeating element always gets its index, a single one never does. A choice element is named
//! by its JSON name (`Observation.valueQuantity.value`). A problem in a `_name` primitive
//! extension is located at the primitive (`Patient.birthDate`) or inside it
//! (`Patient.birthDate.extension[0].url`). A nested resource is entered with
//! `ofType(Type)`, the FHIRPath type filter: `Patient.contained[0].ofType(Practitioner).name`,
//! `Bundle.entry[2].resource.ofType(Patient).birthDate`. A missing required element is located at
//! the missing element (`Observation.status`; `Observation.value` for a choice). When the
//! resource type itself is missing or unknown, the location is the place of the resource:
//! `Resource` at the top level, `Bundle.entry[2].resource` inside a Bundle.

pub mod primitives;

use serde_json::{Map, Value};

use crate::model::{ElementMatch, Model, TypeDef, TypeKind};
use crate::outcome::Issue;

/// The deepest nesting of JSON objects validated; deeper content gets one issue and is skipped.
pub const MAX_DEPTH: usize = 100;

/// The most issues reported for one resource; then one `too-costly` issue ends the validation.
pub const MAX_ISSUES: usize = 1000;

/// Validates a FHIR R4 JSON resource against the model. An empty result means valid.
///
/// Never panics, whatever the input; the work is linear in the size of the input.
pub fn validate_resource(resource: &Value) -> Vec<Issue> {
    let mut validator = Validator {
        model: Model::r4(),
        issues: Vec::new(),
        path: String::with_capacity(128),
        scratch: String::with_capacity(32),
        stopped: false,
    };
    validator.resource(resource, 0, false);
    validator.issues
}

/// The state of one validation.
struct Validator {
    model: &'static Model,
    issues: Vec<Issue>,
    /// The FHIRPath location of the value being validated; pushed and truncated while walking.
    path: String,
    /// A buffer for building `_name` property names.
    scratch: String,
    /// Set when [`MAX_ISSUES`] is reached.
    stopped: bool,
}

/// A set of element indexes of one type (the largest R4 type has 54 elements; indexes beyond
/// 127 are treated as always present, which only disables checks, never invents issues).
#[derive(Clone, Copy, Default)]
struct ElementSet(u128);

impl ElementSet {
    fn insert(&mut self, index: usize) -> bool {
        if index >= 128 {
            return true;
        }
        let bit = 1u128 << index;
        let fresh = self.0 & bit == 0;
        self.0 |= bit;
        fresh
    }

    fn contains(self, index: usize) -> bool {
        index >= 128 || self.0 & (1u128 << index) != 0
    }
}

impl Validator {
    fn issue(&mut self, code: &'static str, diagnostics: impl Into<String>) {
        if self.stopped {
            return;
        }
        if self.issues.len() >= MAX_ISSUES {
            self.stopped = true;
            self.issues.push(Issue::at(
                "too-costly",
                self.location(),
                format!("more than {MAX_ISSUES} issues; validation stopped"),
            ));
            return;
        }
        let expression = self.location();
        self.issues.push(Issue::at(code, expression, diagnostics));
    }

    fn location(&self) -> String {
        if self.path.is_empty() {
            "Resource".to_owned()
        } else {
            self.path.clone()
        }
    }

    /// Validates a resource at the current location (empty for the top level).
    fn resource(&mut self, value: &Value, depth: usize, contained: bool) {
        let Value::Object(object) = value else {
            self.issue(
                "structure",
                format!(
                    "a resource must be a JSON object, found {}",
                    primitives::json_kind(value)
                ),
            );
            return;
        };
        let resource_type = match object.get("resourceType") {
            Some(Value::String(name)) => name.as_str(),
            Some(other) => {
                self.issue(
                    "structure",
                    format!(
                        "resourceType must be a string, found {}",
                        primitives::json_kind(other)
                    ),
                );
                return;
            }
            None => {
                self.issue("required", "the resource has no resourceType");
                return;
            }
        };
        let Some(type_def) = self.model.resource_type(resource_type) else {
            let abstract_type = self
                .model
                .type_def(resource_type)
                .is_some_and(|t| t.kind == TypeKind::Resource);
            self.issue(
                "invalid",
                if abstract_type {
                    format!("{resource_type} is an abstract resource type")
                } else {
                    format!("unknown resource type \"{}\"", truncated(resource_type))
                },
            );
            return;
        };
        let mark = self.path.len();
        if mark == 0 {
            self.path.push_str(&type_def.name);
        } else {
            self.path.push_str(".ofType(");
            self.path.push_str(&type_def.name);
            self.path.push(')');
        }
        self.object(type_def, object, depth + 1, Some(contained));
        self.path.truncate(mark);
    }

    /// Validates the properties of an object of type `type_def` at the current location.
    /// `resource` is `Some(contained)` for a resource, `None` for a datatype or backbone element.
    fn object(
        &mut self,
        type_def: &'static TypeDef,
        object: &Map<String, Value>,
        depth: usize,
        resource: Option<bool>,
    ) {
        if depth > MAX_DEPTH {
            self.issue(
                "structure",
                format!("nested deeper than {MAX_DEPTH} levels; the content was not validated"),
            );
            return;
        }
        if object.is_empty() {
            self.issue("structure", "empty objects are not allowed");
            return;
        }
        let type_name = type_def.name.as_str();
        let mut present = ElementSet::default();
        let mut choices = ElementSet::default();
        for (key, value) in object {
            if self.stopped {
                return;
            }
            if resource.is_some() && key == "resourceType" {
                continue;
            }
            let (name, is_extension) = match key.strip_prefix('_') {
                Some(name) => (name, true),
                None => (key.as_str(), false),
            };
            let Some(found) = self.model.element(type_name, name) else {
                self.unknown_property(type_def, key, name);
                continue;
            };
            present.insert(found.index);
            let has_value = is_extension && object.contains_key(name);
            if found.element.choice && !has_value && !choices.insert(found.index) {
                self.at(key, |v| {
                    v.issue(
                        "structure",
                        format!(
                            "only one type of {}[x] is allowed (found {key} as well)",
                            found.element.name
                        ),
                    )
                });
            }
            let code = found.type_ref.code.as_str();
            if self.model.is_primitive(code) {
                if is_extension {
                    if !has_value {
                        self.primitive(name, found, None, Some(value), depth);
                    }
                } else {
                    self.scratch.clear();
                    self.scratch.push('_');
                    self.scratch.push_str(name);
                    let extension = object.get(self.scratch.as_str());
                    self.primitive(name, found, Some(value), extension, depth);
                }
            } else if is_extension {
                self.at(key, |v| {
                    v.issue(
                        "structure",
                        format!(
                            "{key}: only primitive elements have a _name form; {name} is a {code}"
                        ),
                    )
                });
            } else {
                if resource == Some(true) && name == "contained" {
                    self.at(key, |v| {
                        v.issue(
                            "invalid",
                            "a contained resource must not contain resources (dom-2)",
                        )
                    });
                }
                self.complex(key, found, value, depth);
            }
        }
        for (index, element) in type_def.elements.iter().enumerate() {
            if element.min > 0 && !present.contains(index) {
                self.at(&element.name, |v| {
                    v.issue(
                        "required",
                        format!(
                            "{type_name}.{}{} is required",
                            element.name,
                            if element.choice { "[x]" } else { "" }
                        ),
                    )
                });
            }
        }
        if type_name == "Extension" {
            self.extension_rule(type_def, present);
        }
    }

    /// ext-1: an extension has nested extensions or a value, not both.
    fn extension_rule(&mut self, type_def: &TypeDef, present: ElementSet) {
        let mut has_value = false;
        let mut has_extensions = false;
        for (index, element) in type_def.elements.iter().enumerate() {
            match element.name.as_str() {
                "value" => has_value = present.contains(index),
                "extension" => has_extensions = present.contains(index),
                _ => {}
            }
        }
        if has_value && has_extensions {
            self.issue(
                "invalid",
                "an extension must have either extensions or value[x], not both (ext-1)",
            );
        } else if !has_value && !has_extensions {
            self.issue(
                "invalid",
                "an extension must have either extensions or value[x] (ext-1)",
            );
        }
    }

    /// Runs `check` with `.name` appended to the location.
    fn at(&mut self, name: &str, check: impl FnOnce(&mut Self)) {
        let mark = self.path.len();
        self.path.push('.');
        self.path.push_str(name);
        check(self);
        self.path.truncate(mark);
    }

    /// Runs `check` with `[index]` appended to the location.
    fn at_index(&mut self, index: usize, check: impl FnOnce(&mut Self)) {
        let mark = self.path.len();
        self.path.push('[');
        push_number(&mut self.path, index);
        self.path.push(']');
        check(self);
        self.path.truncate(mark);
    }

    fn unknown_property(&mut self, type_def: &TypeDef, key: &str, name: &str) {
        let choice = type_def
            .elements
            .iter()
            .find(|e| e.choice && name.starts_with(e.name.as_str()));
        let diagnostics = match choice {
            Some(element) if element.name == name => format!(
                "{key}: a choice element needs its type in the name ({})",
                choice_names(element)
            ),
            Some(element) if name[element.name.len()..].starts_with(char::is_uppercase) => {
                format!(
                    "{key}: not an allowed type for {}[x] ({})",
                    element.name,
                    choice_names(element)
                )
            }
            _ => format!(
                "unknown element \"{}\" in {}",
                truncated(key),
                type_def.name
            ),
        };
        let shown = truncated(key);
        self.at(&shown, |v| v.issue("structure", diagnostics));
    }

    /// Validates a datatype, backbone or resource element (one value or an array).
    fn complex(&mut self, key: &str, found: ElementMatch<'static>, value: &Value, depth: usize) {
        let mark = self.path.len();
        self.path.push('.');
        self.path.push_str(key);
        if found.element.many {
            match value {
                Value::Array(items) if items.is_empty() => {
                    self.issue("structure", "empty arrays are not allowed");
                }
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        if self.stopped {
                            break;
                        }
                        self.at_index(index, |v| v.complex_item(key, found, item, depth));
                    }
                }
                other => self.issue(
                    "structure",
                    format!(
                        "{key} repeats: it must be an array, found {}",
                        primitives::json_kind(other)
                    ),
                ),
            }
        } else if let Value::Array(_) = value {
            self.issue(
                "structure",
                format!("{key} does not repeat: it must not be an array"),
            );
        } else {
            self.complex_item(key, found, value, depth);
        }
        self.path.truncate(mark);
    }

    fn complex_item(
        &mut self,
        key: &str,
        found: ElementMatch<'static>,
        value: &Value,
        depth: usize,
    ) {
        let code = found.type_ref.code.as_str();
        match value {
            Value::Object(object) => {
                if code == "Resource" {
                    self.resource(value, depth, key == "contained");
                } else if let Some(type_def) = self.model.type_def(code) {
                    self.object(type_def, object, depth + 1, None);
                }
            }
            other => {
                let expected = if code == "Resource" { "resource" } else { code };
                self.issue(
                    "structure",
                    format!(
                        "a {expected} must be a JSON object, found {}",
                        primitives::json_kind(other)
                    ),
                );
            }
        }
    }

    /// Validates a primitive element: its value (`name`) and its id and extensions (`_name`),
    /// either of which may be absent.
    fn primitive(
        &mut self,
        name: &str,
        found: ElementMatch<'static>,
        value: Option<&Value>,
        extension: Option<&Value>,
        depth: usize,
    ) {
        let code = found.type_ref.code.as_str();
        let mark = self.path.len();
        self.path.push('.');
        self.path.push_str(name);
        if found.element.many {
            let values = self.primitive_array(name, "", value);
            let extensions = self.primitive_array(name, "_", extension);
            if let (Some(values), Some(extensions)) = (values, extensions)
                && values.len() != extensions.len()
            {
                self.issue(
                    "structure",
                    format!(
                        "{name} has {} values but _{name} has {}: they must have the same length",
                        values.len(),
                        extensions.len()
                    ),
                );
            }
            let length = values
                .map_or(0, Vec::len)
                .max(extensions.map_or(0, Vec::len));
            for index in 0..length {
                if self.stopped {
                    break;
                }
                let value = values.and_then(|v| v.get(index)).filter(|v| !v.is_null());
                let extension = extensions
                    .and_then(|e| e.get(index))
                    .filter(|e| !e.is_null());
                self.at_index(index, |v| match (value, extension) {
                    (None, None) => v.issue(
                        "structure",
                        format!(
                            "null is only allowed in {name} when _{name} has an object at the same index (and the other way round)"
                        ),
                    ),
                    _ => {
                        if let Some(value) = value {
                            v.primitive_value(code, value);
                        }
                        if let Some(extension) = extension {
                            v.primitive_extension(name, code, extension, depth);
                        }
                    }
                });
            }
        } else {
            if let Some(value) = value {
                match value {
                    Value::Array(_) => self.issue(
                        "structure",
                        format!("{name} does not repeat: it must not be an array"),
                    ),
                    Value::Null => self.issue("structure", format!("{name}: null is not allowed")),
                    _ => self.primitive_value(code, value),
                }
            }
            if let Some(extension) = extension {
                match extension {
                    Value::Array(_) => self.issue(
                        "structure",
                        format!("_{name} does not repeat: it must not be an array"),
                    ),
                    _ => self.primitive_extension(name, code, extension, depth),
                }
            }
        }
        self.path.truncate(mark);
    }

    /// The array of a repeating primitive (`prefix` is `_` for the extension array).
    fn primitive_array<'a>(
        &mut self,
        name: &str,
        prefix: &str,
        value: Option<&'a Value>,
    ) -> Option<&'a Vec<Value>> {
        match value? {
            Value::Array(items) if items.is_empty() => {
                self.issue(
                    "structure",
                    format!("{prefix}{name}: empty arrays are not allowed"),
                );
                None
            }
            Value::Array(items) => Some(items),
            other => {
                self.issue(
                    "structure",
                    format!(
                        "{prefix}{name} repeats: it must be an array, found {}",
                        primitives::json_kind(other)
                    ),
                );
                None
            }
        }
    }

    fn primitive_value(&mut self, code: &str, value: &Value) {
        if let Err((issue_code, diagnostics)) = primitives::check(code, value) {
            self.issue(issue_code, diagnostics);
        }
    }

    /// `_name`: an object with only `id` and `extension` (the elements of the primitive type).
    fn primitive_extension(&mut self, name: &str, code: &str, extension: &Value, depth: usize) {
        match extension {
            Value::Object(object) => {
                if let Some(type_def) = self.model.type_def(code) {
                    self.object(type_def, object, depth + 1, None);
                }
            }
            other => self.issue(
                "structure",
                format!(
                    "_{name} must be a JSON object (id and extension), found {}",
                    primitives::json_kind(other)
                ),
            ),
        }
    }
}

/// `deceasedBoolean, deceasedDateTime` for diagnostics.
fn choice_names(element: &crate::model::ElementDef) -> String {
    element
        .types
        .iter()
        .map(|t| format!("{}{}", element.name, crate::model::capitalise(&t.code)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// At most 64 characters of a name from the input, for locations and diagnostics.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Appends a decimal number without going through `format!`.
fn push_number(out: &mut String, mut number: usize) {
    let mut digits = [0u8; 20];
    let mut length = 0;
    loop {
        digits[length] = b'0' + (number % 10) as u8;
        length += 1;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    for &digit in digits[..length].iter().rev() {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests;

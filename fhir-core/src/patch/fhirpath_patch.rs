//! FHIRPath Patch (<http://hl7.org/fhir/R4/fhirpatch.html>): a `Parameters` resource whose
//! `operation` parameters add, insert, delete, replace and move elements found by FHIRPath.
//!
//! [`apply`] works on a copy of the resource, so a patch is applied entirely or not at all.
//!
//! ```
//! use fhir_core::patch::fhirpath_patch::apply;
//! use serde_json::json;
//! let patient = json!({"resourceType": "Patient", "birthDate": "1920-01-01"});
//! let patch = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
//!     {"name": "type", "valueCode": "add"},
//!     {"name": "path", "valueString": "Patient"},
//!     {"name": "name", "valueString": "deceased"},
//!     {"name": "value", "valueBoolean": true}]}]});
//! let patched = apply(&patient, &patch).unwrap();
//! assert_eq!(patched["deceasedBoolean"], json!(true));
//! ```
//!
//! How an operation finds its element: the path is parsed under the default
//! [`Limits`] (paths come from users) and evaluated on the copy with the project's engine; the
//! selected nodes borrow from the copy, and each is located in the JSON tree by pointer identity
//! (`std::ptr::eq`) in a walk of the copy. A location is the object that holds the element, the
//! JSON property (`birthDate`, `valueQuantity`) and the index in the array for repeating
//! elements. A node that is not found in the walk (a System value such as `1 + 1`, a resource
//! returned by `resolve()`) is refused: a patch only changes the resource itself.
//!
//! Decisions, following the specification and its test cases:
//! - `add`, `replace` and `move`/`insert` need their path to select something; `add` and
//!   `replace` exactly one element. `delete` of nothing is a no-op ("Path of the element to delete
//!   (if found)"); a `delete` whose path selects several elements is an error ("Only a single
//!   element can be deleted").
//! - `insert` and `move` take the path of a whole list (`Patient.identifier`): every selected
//!   element must be an item of the same JSON array and the selection the whole array. For
//!   `insert` into a list that is empty (the path selects nothing) and whose path ends in
//!   `.name`, the list is `name` of the single element the rest of the path selects.
//! - The JSON property of a value comes from the definition of the element in the R4 model:
//!   `value[x]` with a `valueQuantity` given becomes `valueQuantity`; a repeating element is an
//!   array. A value is given as `value[x]` (with its `_value[x]` extensions for primitives), as
//!   `resource` for elements that hold resources, or as nested `part`s for anonymous (backbone)
//!   types and complex datatypes. The value's type must be the element's type; primitives are
//!   accepted where their JSON form is the same (`valueString` for a `code` or an `xhtml`
//!   `div`), as the test cases do; Quantity specialisations (`Age` …) are accepted for `Quantity`.
//!   Lexical checks of primitive values are the validator's job on the result.
//! - A primitive is its value and its `_name` sibling (id and extensions): delete, replace, insert
//!   and move carry both, keeping arrays of primitives and their `_name` arrays aligned. `add`
//!   on a primitive adds into its `_name` object (`Patient.birthDate` + `extension`).
//! - `add` to a non-repeating element that already has a value is an error (the specification:
//!   "Add can be used for non-repeating elements as long as they do not already exist").
//! - After the operations, objects and arrays left empty (`name` after its only `text` was
//!   deleted) are removed, recursively, since FHIR JSON has no empty objects or arrays. New
//!   properties are appended to their object: the caller writes the result in definition order
//!   ([`crate::json::to_string`]).
//! - The result is not validated here; the caller validates it like any other resource
//!   ("Servers SHALL return an error if the outcome of the patch operation is not a valid
//!   resource").

use serde_json::{Map, Value};

use crate::fhirpath::{Environment, Expression, Item, Limits};
use crate::model::{ElementDef, Model, TypeKind, capitalise, json_primitive};

/// Why a patch cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The `Parameters` resource is not a valid FHIRPath Patch: a missing or unknown part, an
    /// expression that does not parse, a value whose type does not fit the element.
    #[error("invalid FHIRPath Patch: {0}")]
    Invalid(String),
    /// The patch is well formed but cannot be applied to this resource: a path that selects
    /// nothing or several elements, an index out of range, an element that already exists.
    #[error("FHIRPath Patch cannot be applied: {0}")]
    Unprocessable(String),
}

type Result<T> = std::result::Result<T, PatchError>;

fn invalid<T>(message: impl Into<String>) -> Result<T> {
    Err(PatchError::Invalid(message.into()))
}

fn unprocessable<T>(message: impl Into<String>) -> Result<T> {
    Err(PatchError::Unprocessable(message.into()))
}

/// Applies the FHIRPath Patch `parameters` (a `Parameters` resource) to `resource`, returning the
/// patched copy. The operations are applied in order; when one fails, the error names it (1-based)
/// and nothing is changed.
pub fn apply(resource: &Value, parameters: &Value) -> Result<Value> {
    if parameters.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return invalid("the patch must be a Parameters resource");
    }
    if !resource.is_object() {
        return invalid("the patched resource must be a JSON object");
    }
    let operations = match parameters.get("parameter") {
        None => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return invalid("Parameters.parameter must be an array"),
    };
    let mut result = resource.clone();
    for (number, parameter) in operations.iter().enumerate() {
        let number = number + 1;
        let operation = Operation::parse(parameter).map_err(|e| e.prefixed(number))?;
        operation
            .apply(&mut result)
            .map_err(|e| e.prefixed(number))?;
    }
    prune(&mut result, false);
    Ok(result)
}

impl PatchError {
    fn prefixed(self, number: usize) -> PatchError {
        match self {
            PatchError::Invalid(m) => PatchError::Invalid(format!("operation {number}: {m}")),
            PatchError::Unprocessable(m) => {
                PatchError::Unprocessable(format!("operation {number}: {m}"))
            }
        }
    }
}

/// The kind of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Insert,
    Delete,
    Replace,
    Move,
}

/// One `operation` parameter, read.
struct Operation<'p> {
    kind: Kind,
    path: String,
    expression: Expression,
    name: Option<String>,
    value: Option<&'p Map<String, Value>>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

fn part_string<'p>(part: &'p Map<String, Value>, name: &str) -> Result<&'p str> {
    part.iter()
        .find(|(key, _)| key.starts_with("value"))
        .and_then(|(_, value)| value.as_str())
        .ok_or_else(|| PatchError::Invalid(format!("the part {name} must have a string value")))
}

fn part_integer(part: &Map<String, Value>, name: &str) -> Result<usize> {
    let number = part
        .get("valueInteger")
        .or_else(|| part.get("valueUnsignedInt"))
        .or_else(|| part.get("valuePositiveInt"))
        .and_then(Value::as_i64)
        .ok_or_else(|| PatchError::Invalid(format!("the part {name} must be an integer")))?;
    usize::try_from(number)
        .map_err(|_| PatchError::Invalid(format!("the part {name} must not be negative")))
}

impl<'p> Operation<'p> {
    fn parse(parameter: &'p Value) -> Result<Operation<'p>> {
        let name = parameter.get("name").and_then(Value::as_str);
        if name != Some("operation") {
            return invalid(format!(
                "parameters must be named 'operation', not {}",
                name.map_or("(none)".to_string(), |n| format!("'{n}'"))
            ));
        }
        let parts = match parameter.get("part") {
            Some(Value::Array(parts)) => parts.as_slice(),
            _ => return invalid("an operation needs parts"),
        };
        let mut kind = None;
        let mut path = None;
        let mut name = None;
        let mut value = None;
        let mut index = None;
        let mut source = None;
        let mut destination = None;
        for part in parts {
            let Some(part) = part.as_object() else {
                return invalid("a part must be an object");
            };
            let part_name = part.get("name").and_then(Value::as_str).unwrap_or("");
            let duplicate = match part_name {
                "type" => {
                    let code = part_string(part, "type")?;
                    let parsed = match code {
                        "add" => Kind::Add,
                        "insert" => Kind::Insert,
                        "delete" => Kind::Delete,
                        "replace" => Kind::Replace,
                        "move" => Kind::Move,
                        other => return invalid(format!("unknown operation type '{other}'")),
                    };
                    kind.replace(parsed).is_some()
                }
                "path" => path.replace(part_string(part, "path")?).is_some(),
                "name" => name
                    .replace(part_string(part, "name")?.to_string())
                    .is_some(),
                "value" => value.replace(part).is_some(),
                "index" => index.replace(part_integer(part, "index")?).is_some(),
                "source" => source.replace(part_integer(part, "source")?).is_some(),
                "destination" => destination
                    .replace(part_integer(part, "destination")?)
                    .is_some(),
                other => return invalid(format!("unknown part '{other}'")),
            };
            if duplicate {
                return invalid(format!("the part {part_name} is given twice"));
            }
        }
        let Some(kind) = kind else {
            return invalid("the part type is missing");
        };
        let Some(path) = path else {
            return invalid("the part path is missing");
        };
        let expression = Expression::parse_with(path, &Limits::default())
            .map_err(|e| PatchError::Invalid(format!("path {path}: {e}")))?;
        let required: &[(&str, bool)] = match kind {
            Kind::Add => &[("name", name.is_some()), ("value", value.is_some())],
            Kind::Insert => &[("index", index.is_some()), ("value", value.is_some())],
            Kind::Delete => &[],
            Kind::Replace => &[("value", value.is_some())],
            Kind::Move => &[
                ("source", source.is_some()),
                ("destination", destination.is_some()),
            ],
        };
        if let Some((missing, _)) = required.iter().find(|(_, present)| !present) {
            return invalid(format!("the part {missing} is missing"));
        }
        Ok(Operation {
            kind,
            path: path.to_string(),
            expression,
            name,
            value,
            index,
            source,
            destination,
        })
    }

    fn apply(&self, resource: &mut Value) -> Result<()> {
        match self.kind {
            Kind::Add => self.add(resource),
            Kind::Insert => self.insert(resource),
            Kind::Delete => self.delete(resource),
            Kind::Replace => self.replace(resource),
            Kind::Move => self.move_item(resource),
        }
    }

    /// The locations of what the path selects, with the type of the first node.
    fn select(&self, resource: &Value) -> Result<Vec<Selected>> {
        let env = Environment::new();
        let items = self
            .expression
            .evaluate(resource, &env)
            .map_err(|e| PatchError::Invalid(format!("path {}: {e}", self.path)))?;
        items
            .iter()
            .map(|item| {
                let Item::Node(node) = item else {
                    return invalid(format!(
                        "path {} selects a value that is not an element of the resource",
                        self.path
                    ));
                };
                let (target, in_extension) = match (node.value, node.extension) {
                    (Some(value), _) => (value, false),
                    (None, Some(extension)) => (extension, true),
                    (None, None) => return unprocessable("an empty node"),
                };
                let location = if std::ptr::eq(target, resource) {
                    Some(Location::Root)
                } else {
                    locate(resource, target, in_extension)
                };
                let Some(location) = location else {
                    return invalid(format!(
                        "path {} selects something outside the patched resource",
                        self.path
                    ));
                };
                Ok(Selected {
                    location,
                    type_name: node.type_name,
                    primitive: !matches!(node.value, Some(Value::Object(_))),
                })
            })
            .collect()
    }

    /// The single element the path selects (`add`, `replace`).
    fn select_one(&self, resource: &Value, verb: &str) -> Result<Selected> {
        let mut selected = self.select(resource)?;
        match selected.len() {
            0 => unprocessable(format!("No content found at {} when {verb}", self.path)),
            1 => Ok(selected.remove(0)),
            n => unprocessable(format!(
                "path {} selects {n} elements when {verb}; it must select one",
                self.path
            )),
        }
    }

    fn add(&self, resource: &mut Value) -> Result<()> {
        let target = self.select_one(resource, "adding")?;
        let name = self.name.as_deref().expect("checked");
        let value = self.value.expect("checked");
        let type_name = target.type_name;
        let element = find_element(type_name, name)?;
        let (property, entry) = convert(element, value)?;
        let object = match &target.location {
            Location::Root => resource.as_object_mut().expect("checked"),
            Location::Element(element_location) if target.primitive => {
                extension_object(resource, element_location)?
            }
            Location::Element(element_location) => element_location
                .element_mut(resource)?
                .as_object_mut()
                .ok_or_else(|| PatchError::Unprocessable("an element moved".into()))?,
        };
        let mut entries = entries_of(object, &property);
        let exists = !entries.is_empty()
            || (element.choice
                && element.types.iter().any(|t| {
                    let other = format!("{}{}", element.name, capitalise(&t.code));
                    object.contains_key(&other) || object.contains_key(&format!("_{other}"))
                }));
        if !element.many && exists {
            return unprocessable(format!(
                "{type_name}.{name} at {} already has a value and does not repeat",
                self.path
            ));
        }
        entries.push(entry);
        put(object, &property, entries, element.many);
        Ok(())
    }

    /// The list the path selects, with its element definition (`insert`, `move`).
    fn select_list(
        &self,
        resource: &Value,
    ) -> Result<(ElementLocation, &'static ElementDef, usize)> {
        let selected = self.select(resource)?;
        let Some(first) = selected.first() else {
            return self.empty_list(resource);
        };
        let Location::Element(location) = &first.location else {
            return unprocessable(format!(
                "path {} selects the resource, not a list",
                self.path
            ));
        };
        let list = ElementLocation {
            index: None,
            ..location.clone()
        };
        for (position, item) in selected.iter().enumerate() {
            let same = matches!(&item.location, Location::Element(l)
                if l.parent == list.parent && l.property == list.property && l.index == Some(position));
            if !same {
                return unprocessable(format!(
                    "path {} must select the whole of one list",
                    self.path
                ));
            }
        }
        let parent_type = list.parent_type(resource)?;
        let element = find_property(&parent_type, &list.property)?;
        if !element.many {
            return unprocessable(format!("path {} does not select a list", self.path));
        }
        let length = list.length(resource)?;
        if length != selected.len() {
            return unprocessable(format!(
                "path {} must select the whole of one list",
                self.path
            ));
        }
        Ok((list, element, length))
    }

    /// An empty list: `name` of the single element that the path without its last step selects.
    fn empty_list(
        &self,
        resource: &Value,
    ) -> Result<(ElementLocation, &'static ElementDef, usize)> {
        let no_list = || PatchError::Unprocessable(format!("No content found at {}", self.path));
        let (head, name) = split_last_step(&self.path).ok_or_else(no_list)?;
        let expression = Expression::parse_with(head, &Limits::default())
            .map_err(|e| PatchError::Invalid(format!("path {}: {e}", self.path)))?;
        let parent = Operation {
            kind: self.kind,
            path: head.to_string(),
            expression,
            name: None,
            value: None,
            index: None,
            source: None,
            destination: None,
        }
        .select_one(resource, "looking for the list")
        .map_err(|_| no_list())?;
        if parent.primitive {
            return Err(no_list());
        }
        let element = find_element(parent.type_name, name)?;
        if !element.many {
            return unprocessable(format!("path {} does not select a list", self.path));
        }
        let list = match parent.location {
            Location::Root => ElementLocation {
                parent: vec![],
                property: name.to_string(),
                index: None,
            },
            Location::Element(location) => {
                let mut steps = location.parent.clone();
                steps.push((location.property.clone(), location.index));
                ElementLocation {
                    parent: steps,
                    property: name.to_string(),
                    index: None,
                }
            }
        };
        Ok((list, element, 0))
    }

    fn insert(&self, resource: &mut Value) -> Result<()> {
        let (list, element, length) = self.select_list(resource)?;
        let index = self.index.expect("checked");
        if index > length {
            return unprocessable(format!(
                "index {index} is beyond the end of the list {} ({length} items)",
                self.path
            ));
        }
        let (property, entry) = convert(element, self.value.expect("checked"))?;
        let object = list.object_mut(resource)?;
        let mut entries = entries_of(object, &property);
        entries.insert(index, entry);
        put(object, &property, entries, true);
        Ok(())
    }

    fn move_item(&self, resource: &mut Value) -> Result<()> {
        let (list, _, length) = self.select_list(resource)?;
        let (source, destination) = (
            self.source.expect("checked"),
            self.destination.expect("checked"),
        );
        if source >= length || destination >= length {
            return unprocessable(format!(
                "move from {source} to {destination} in the list {} of {length} items",
                self.path
            ));
        }
        let object = list.object_mut(resource)?;
        let mut entries = entries_of(object, &list.property);
        let entry = entries.remove(source);
        entries.insert(destination, entry);
        put(object, &list.property, entries, true);
        Ok(())
    }

    fn delete(&self, resource: &mut Value) -> Result<()> {
        let mut selected = self.select(resource)?;
        let target = match selected.len() {
            0 => return Ok(()),
            1 => selected.remove(0),
            n => {
                return unprocessable(format!(
                    "path {} selects {n} elements; only one can be deleted",
                    self.path
                ));
            }
        };
        let Location::Element(location) = target.location else {
            return unprocessable("the resource itself cannot be deleted");
        };
        let parent_type = location.parent_type(resource)?;
        let many = find_property(&parent_type, &location.property)
            .map_or_else(|_| location.index.is_some(), |element| element.many);
        let object = location.object_mut(resource)?;
        let mut entries = entries_of(object, &location.property);
        match location.index {
            Some(index) if index < entries.len() => {
                entries.remove(index);
            }
            Some(_) => return unprocessable("the element to delete has moved"),
            None => entries.clear(),
        }
        put(object, &location.property, entries, many);
        Ok(())
    }

    fn replace(&self, resource: &mut Value) -> Result<()> {
        let target = self.select_one(resource, "replacing")?;
        let Location::Element(location) = target.location else {
            return unprocessable("the resource itself cannot be replaced");
        };
        let parent_type = location.parent_type(resource)?;
        let element = find_property(&parent_type, &location.property)?;
        let (property, entry) = convert(element, self.value.expect("checked"))?;
        let object = location.object_mut(resource)?;
        let mut entries = entries_of(object, &location.property);
        match location.index {
            Some(index) if index < entries.len() => entries[index] = entry,
            Some(_) => return unprocessable("the element to replace has moved"),
            None => entries = vec![entry],
        }
        if property != location.property {
            // A choice element given another type: `valueQuantity` becomes `valueString`.
            put(object, &location.property, vec![], element.many);
        }
        put(object, &property, entries, element.many);
        Ok(())
    }
}

/// `Patient.contact.name` → (`Patient.contact`, `name`): a path whose last step is a name.
fn split_last_step(path: &str) -> Option<(&str, &str)> {
    let path = path.trim_end();
    let dot = path.rfind('.')?;
    let (head, name) = (&path[..dot], &path[dot + 1..]);
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (valid && !head.trim().is_empty()).then_some((head, name))
}

/// A node the path selected.
struct Selected {
    location: Location,
    type_name: &'static str,
    /// `true` for primitives (including a primitive that only has extensions).
    primitive: bool,
}

/// Where a node is in the resource.
#[derive(Debug, Clone)]
enum Location {
    /// The resource itself.
    Root,
    /// An element of it.
    Element(ElementLocation),
}

/// An element: the object that holds it (steps from the root: raw JSON key and array index), its
/// JSON property without `_`, and its index when the property is an array.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ElementLocation {
    parent: Vec<(String, Option<usize>)>,
    property: String,
    index: Option<usize>,
}

impl ElementLocation {
    fn object<'v>(&self, resource: &'v Value) -> Option<&'v Map<String, Value>> {
        let mut current = resource;
        for (key, index) in &self.parent {
            current = current.get(key)?;
            if let Some(index) = index {
                current = current.get(index)?;
            }
        }
        current.as_object()
    }

    fn object_mut<'v>(&self, resource: &'v mut Value) -> Result<&'v mut Map<String, Value>> {
        let mut current = resource;
        for (key, index) in &self.parent {
            current = current
                .get_mut(key)
                .ok_or_else(|| PatchError::Unprocessable("an element moved".into()))?;
            if let Some(index) = index {
                current = current
                    .get_mut(index)
                    .ok_or_else(|| PatchError::Unprocessable("an element moved".into()))?;
            }
        }
        current
            .as_object_mut()
            .ok_or_else(|| PatchError::Unprocessable("an element moved".into()))
    }

    /// The element itself.
    fn element_mut<'v>(&self, resource: &'v mut Value) -> Result<&'v mut Value> {
        let moved = || PatchError::Unprocessable("an element moved".into());
        let object = self.object_mut(resource)?;
        let value = object.get_mut(&self.property).ok_or_else(moved)?;
        match self.index {
            Some(index) => value.get_mut(index).ok_or_else(moved),
            None => Ok(value),
        }
    }

    /// The number of items of the list at this location.
    fn length(&self, resource: &Value) -> Result<usize> {
        let object = self
            .object(resource)
            .ok_or_else(|| PatchError::Unprocessable("an element moved".into()))?;
        Ok(entries_of(object, &self.property).len())
    }

    /// The FHIR type of the object that holds the element, from the resource type down the
    /// steps with the model (`_name` objects are of the primitive's type).
    fn parent_type(&self, resource: &Value) -> Result<String> {
        let unknown = || {
            PatchError::Unprocessable(format!(
                "the type of the element {} is not known",
                self.property
            ))
        };
        let model = Model::r4();
        let mut type_name = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or_else(unknown)?
            .to_string();
        let mut current = resource;
        for (key, index) in &self.parent {
            let base = key.strip_prefix('_').unwrap_or(key);
            let found = model.element(&type_name, base).ok_or_else(unknown)?;
            current = current.get(key).ok_or_else(unknown)?;
            if let Some(index) = index {
                current = current.get(index).ok_or_else(unknown)?;
            }
            type_name = if found.type_ref.code == "Resource" {
                current
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .ok_or_else(unknown)?
                    .to_string()
            } else {
                found.type_ref.code.clone()
            };
        }
        Ok(type_name)
    }
}

/// Finds `target` in `root` by identity: a value of a property (`in_extension`: of a `_name`
/// property), or an item of an array property.
fn locate(root: &Value, target: &Value, in_extension: bool) -> Option<Location> {
    fn walk(
        object: &Map<String, Value>,
        target: &Value,
        in_extension: bool,
        steps: &mut Vec<(String, Option<usize>)>,
    ) -> Option<ElementLocation> {
        for (key, value) in object {
            let (base, is_extension) = match key.strip_prefix('_') {
                Some(base) => (base, true),
                None => (key.as_str(), false),
            };
            if is_extension == in_extension {
                let found = |index| ElementLocation {
                    parent: steps.clone(),
                    property: base.to_string(),
                    index,
                };
                if std::ptr::eq(value, target) {
                    return Some(found(None));
                }
                if let Value::Array(items) = value
                    && let Some(index) = items.iter().position(|item| std::ptr::eq(item, target))
                {
                    return Some(found(Some(index)));
                }
            }
            match value {
                Value::Object(child) => {
                    steps.push((key.clone(), None));
                    let found = walk(child, target, in_extension, steps);
                    steps.pop();
                    if found.is_some() {
                        return found;
                    }
                }
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        if let Value::Object(child) = item {
                            steps.push((key.clone(), Some(index)));
                            let found = walk(child, target, in_extension, steps);
                            steps.pop();
                            if found.is_some() {
                                return found;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
    walk(root.as_object()?, target, in_extension, &mut Vec::new()).map(Location::Element)
}

/// The `_name` object of the primitive at `location`, created when missing.
fn extension_object<'v>(
    resource: &'v mut Value,
    location: &ElementLocation,
) -> Result<&'v mut Map<String, Value>> {
    let object = location.object_mut(resource)?;
    let key = format!("_{}", location.property);
    let slot = match location.index {
        None => object
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new())),
        Some(index) => {
            let length = match object.get(&location.property) {
                Some(Value::Array(items)) => items.len(),
                _ => index + 1,
            };
            let array = object.entry(key).or_insert_with(|| Value::Array(vec![]));
            let Value::Array(items) = array else {
                return unprocessable(format!("_{} is not an array", location.property));
            };
            if items.len() < length {
                items.resize(length, Value::Null);
            }
            &mut items[index]
        }
    };
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().ok_or_else(|| {
        PatchError::Unprocessable("a primitive's extensions are not an object".into())
    })
}

/// One item of an element: the JSON value and, for primitives, the `_name` object.
#[derive(Debug, Clone)]
struct Entry {
    value: Option<Value>,
    extension: Option<Value>,
}

/// The items of `property` (and `_property`) of an object, to be written back with [`put`].
fn entries_of(object: &Map<String, Value>, property: &str) -> Vec<Entry> {
    let non_null = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
    let value = object.get(property);
    let extension = object.get(&format!("_{property}"));
    let is_array =
        matches!(value, Some(Value::Array(_))) || matches!(extension, Some(Value::Array(_)));
    if is_array {
        let extensions = extension.and_then(Value::as_array);
        let length = values_len(value).max(extensions.map_or(0, Vec::len));
        return (0..length)
            .map(|i| Entry {
                value: non_null(value.and_then(|v| v.get(i))),
                extension: non_null(extensions.and_then(|e| e.get(i))),
            })
            .filter(|e| e.value.is_some() || e.extension.is_some())
            .collect();
    }
    let entry = Entry {
        value: non_null(value),
        extension: non_null(extension),
    };
    if entry.value.is_some() || entry.extension.is_some() {
        vec![entry]
    } else {
        vec![]
    }
}

fn values_len(value: Option<&Value>) -> usize {
    value.and_then(Value::as_array).map_or(0, Vec::len)
}

/// Writes the items of `property`: an array when the element repeats, `_property` only when an
/// item has extensions; removes both when there is nothing.
fn put(object: &mut Map<String, Value>, property: &str, entries: Vec<Entry>, many: bool) {
    let extension_key = format!("_{property}");
    let any_value = entries.iter().any(|e| e.value.is_some());
    let any_extension = entries.iter().any(|e| e.extension.is_some());
    let (values, extensions): (Vec<Value>, Vec<Value>) = entries
        .into_iter()
        .map(|e| {
            (
                e.value.unwrap_or(Value::Null),
                e.extension.unwrap_or(Value::Null),
            )
        })
        .unzip();
    let mut write = |key: &str, present: bool, mut items: Vec<Value>| {
        if !present {
            object.shift_remove(key);
        } else if many {
            object.insert(key.to_string(), Value::Array(items));
        } else {
            object.insert(key.to_string(), items.swap_remove(0));
        }
    };
    write(property, any_value, values);
    write(&extension_key, any_extension, extensions);
}

/// The element `name` (without a type suffix) of a type.
fn find_element(type_name: &str, name: &str) -> Result<&'static ElementDef> {
    Model::r4()
        .type_def(type_name)
        .and_then(|t| t.elements.iter().find(|e| e.name == name))
        .ok_or_else(|| PatchError::Invalid(format!("{type_name} has no element {name}")))
}

/// The element of a JSON property (`valueQuantity`) of a type.
fn find_property(type_name: &str, property: &str) -> Result<&'static ElementDef> {
    Model::r4()
        .element(type_name, property)
        .map(|found| found.element)
        .ok_or_else(|| PatchError::Invalid(format!("{type_name} has no element {property}")))
}

/// `Quantity` and its specialisations.
fn is_quantity(code: &str) -> bool {
    matches!(
        code,
        "Quantity" | "Age" | "Distance" | "Duration" | "Count" | "SimpleQuantity" | "MoneyQuantity"
    )
}

/// Whether a value of type `given` may be put in an element of type `target`.
fn compatible(given: &str, target: &str) -> bool {
    let model = Model::r4();
    given == target
        || (model.is_primitive(given)
            && model.is_primitive(target)
            && json_primitive(given) == json_primitive(target))
        || (target == "Quantity" && is_quantity(given))
}

/// The JSON property and item for `value` (a part: `value[x]`, `resource` or `part`s) in
/// `element`.
fn convert(element: &ElementDef, part: &Map<String, Value>) -> Result<(String, Entry)> {
    let model = Model::r4();
    let typed = part.iter().find_map(|(key, value)| {
        let property = key.strip_prefix('_').unwrap_or(key);
        let found = model.element("Parameters.parameter", property)?;
        found
            .element
            .choice
            .then_some((property, found.type_ref, value))
    });
    if let Some((property, type_ref, _)) = typed {
        let code = type_ref.code.as_str();
        let entry = Entry {
            value: part.get(property).filter(|v| !v.is_null()).cloned(),
            extension: part
                .get(&format!("_{property}"))
                .filter(|v| !v.is_null())
                .cloned(),
        };
        if element.choice {
            if element.types.iter().any(|t| t.code == code) {
                return Ok((format!("{}{}", element.name, capitalise(code)), entry));
            }
        } else if compatible(code, &element.types[0].code) {
            return Ok((element.name.clone(), entry));
        }
        let allowed: Vec<&str> = element.types.iter().map(|t| t.code.as_str()).collect();
        return invalid(format!(
            "a {code} cannot be put in {} (of type {})",
            element.name,
            allowed.join(" | ")
        ));
    }
    let target = element.types[0].code.as_str();
    if let Some(resource) = part.get("resource") {
        let resource_type = resource.get("resourceType").and_then(Value::as_str);
        let fits = !element.choice
            && (target == "Resource"
                || (target == "DomainResource"
                    && resource_type
                        .is_some_and(|r| r != "Bundle" && r != "Parameters" && r != "Binary"))
                || resource_type == Some(target));
        if !fits {
            return invalid(format!("a resource cannot be put in {}", element.name));
        }
        return Ok((
            element.name.clone(),
            Entry {
                value: Some(resource.clone()),
                extension: None,
            },
        ));
    }
    if let Some(parts) = part.get("part") {
        let Some(parts) = parts.as_array() else {
            return invalid("part must be an array");
        };
        let complex = model
            .type_def(target)
            .is_some_and(|t| matches!(t.kind, TypeKind::Backbone | TypeKind::ComplexType));
        if element.choice || !complex {
            return invalid(format!(
                "the value of {} cannot be given as parts",
                element.name
            ));
        }
        return Ok((
            element.name.clone(),
            Entry {
                value: Some(Value::Object(build_object(target, parts)?)),
                extension: None,
            },
        ));
    }
    invalid(format!("the value for {} is missing", element.name))
}

/// An object of type `type_name` from parts named after its elements.
fn build_object(type_name: &str, parts: &[Value]) -> Result<Map<String, Value>> {
    let mut object = Map::new();
    for part in parts {
        let Some(part) = part.as_object() else {
            return invalid("a part must be an object");
        };
        let Some(name) = part.get("name").and_then(Value::as_str) else {
            return invalid("a part of a value needs a name");
        };
        let element = find_element(type_name, name)?;
        let (property, entry) = convert(element, part)?;
        let mut entries = entries_of(&object, &property);
        if !element.many && !entries.is_empty() {
            return invalid(format!("{type_name}.{name} does not repeat"));
        }
        entries.push(entry);
        put(&mut object, &property, entries, element.many);
    }
    if object.is_empty() {
        return invalid(format!("the value of type {type_name} is empty"));
    }
    Ok(object)
}

/// Removes empty objects and arrays (and nulls) left by the operations, recursively; in arrays
/// of primitives and their `_name` arrays positions are kept aligned (`positional`). Returns
/// whether the value itself is empty.
fn prune(value: &mut Value, positional: bool) -> bool {
    match value {
        Value::Null => true,
        Value::Object(object) => {
            let keys: Vec<String> = object.keys().cloned().collect();
            for key in &keys {
                let empty = object
                    .get_mut(key)
                    .is_some_and(|child| prune(child, key.starts_with('_')));
                if empty {
                    object.shift_remove(key);
                }
            }
            // Arrays of primitives: drop positions with neither a value nor extensions.
            let mut names: Vec<&str> = keys
                .iter()
                .map(|k| k.strip_prefix('_').unwrap_or(k))
                .collect();
            names.dedup();
            for name in names {
                let extension_key = format!("_{name}");
                let array = matches!(object.get(name), Some(Value::Array(_)))
                    || matches!(object.get(&extension_key), Some(Value::Array(_)));
                let holes = object
                    .get(name)
                    .and_then(Value::as_array)
                    .is_some_and(|items| items.iter().any(Value::is_null));
                if array && (holes || object.contains_key(&extension_key)) {
                    let entries = entries_of(object, name);
                    put(object, name, entries, true);
                }
            }
            object.is_empty()
        }
        Value::Array(items) => {
            let positional = positional
                || items
                    .iter()
                    .any(|item| !matches!(item, Value::Object(_) | Value::Array(_)));
            for item in items.iter_mut() {
                if prune(item, false) {
                    *item = Value::Null;
                }
            }
            if !positional {
                items.retain(|item| !item.is_null());
            }
            items.iter().all(Value::is_null)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn operation(parts: Value) -> Value {
        json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]})
    }

    #[test]
    fn replaces_a_choice_with_another_type() {
        let observation = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "valueQuantity": {"value": 1}});
        let patch = operation(json!([
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Observation.value"},
            {"name": "value", "valueString": "high"}
        ]));
        let result = apply(&observation, &patch).unwrap();
        assert_eq!(result["valueString"], json!("high"));
        assert!(result.get("valueQuantity").is_none());
    }

    #[test]
    fn adds_a_choice_by_the_value_type_and_refuses_a_second() {
        let patient = json!({"resourceType": "Patient"});
        let patch = operation(json!([
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "deceased"},
            {"name": "value", "valueBoolean": true}
        ]));
        let result = apply(&patient, &patch).unwrap();
        assert_eq!(result["deceasedBoolean"], json!(true));
        let again = apply(&result, &patch).unwrap_err();
        assert!(matches!(again, PatchError::Unprocessable(_)), "{again}");
        let wrong = operation(json!([
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "deceased"},
            {"name": "value", "valueQuantity": {"value": 1}}
        ]));
        assert!(matches!(
            apply(&patient, &wrong),
            Err(PatchError::Invalid(_))
        ));
    }

    #[test]
    fn keeps_primitive_extensions_aligned() {
        let patient = json!({"resourceType": "Patient", "name": [{
            "given": ["a", "b", "c"],
            "_given": [null, {"extension": [{"url": "u", "valueString": "x"}]}, null]}]});
        let patch = operation(json!([
            {"name": "type", "valueCode": "delete"},
            {"name": "path", "valueString": "Patient.name.given[0]"}
        ]));
        let result = apply(&patient, &patch).unwrap();
        assert_eq!(result["name"][0]["given"], json!(["b", "c"]));
        assert_eq!(
            result["name"][0]["_given"],
            json!([{"extension": [{"url": "u", "valueString": "x"}]}, null])
        );
        let patch = operation(json!([
            {"name": "type", "valueCode": "move"},
            {"name": "path", "valueString": "Patient.name.given"},
            {"name": "source", "valueInteger": 0},
            {"name": "destination", "valueInteger": 1}
        ]));
        let moved = apply(&result, &patch).unwrap();
        assert_eq!(moved["name"][0]["given"], json!(["c", "b"]));
        assert_eq!(
            moved["name"][0]["_given"][1]["extension"][0]["url"],
            json!("u")
        );
    }

    #[test]
    fn deleting_the_only_extension_of_a_primitive_keeps_arrays_aligned() {
        let patient = json!({"resourceType": "Patient", "name": [{
            "given": ["a", "b"],
            "_given": [{"extension": [{"url": "u", "valueString": "x"}]},
                       {"extension": [{"url": "v", "valueString": "y"}]}]}]});
        let patch = operation(json!([
            {"name": "type", "valueCode": "delete"},
            {"name": "path", "valueString": "Patient.name.given[0].extension"}
        ]));
        let result = apply(&patient, &patch).unwrap();
        assert_eq!(result["name"][0]["given"], json!(["a", "b"]));
        assert_eq!(
            result["name"][0]["_given"],
            json!([null, {"extension": [{"url": "v", "valueString": "y"}]}])
        );
    }

    #[test]
    fn replaces_a_list_item_and_checks_the_type() {
        let patient = json!({"resourceType": "Patient",
            "identifier": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let replace = |value: Value| {
            let mut parts = vec![
                json!({"name": "type", "valueCode": "replace"}),
                json!({"name": "path", "valueString": "Patient.identifier[1]"}),
            ];
            parts.push(value);
            apply(&patient, &operation(Value::Array(parts)))
        };
        let result = replace(json!({"name": "value", "part": [
            {"name": "system", "valueUri": "http://example.org"},
            {"name": "value", "valueString": "two"}]}))
        .unwrap();
        assert_eq!(
            result["identifier"],
            json!([{"value": "1"}, {"system": "http://example.org", "value": "two"}, {"value": "3"}])
        );
        let wrong = replace(json!({"name": "value", "valueHumanName": {"family": "x"}}));
        assert!(matches!(wrong, Err(PatchError::Invalid(_))), "{wrong:?}");
        let wrong = replace(json!({"name": "value", "valueString": "x"}));
        assert!(matches!(wrong, Err(PatchError::Invalid(_))), "{wrong:?}");
        let root = operation(json!([{"name": "type", "valueCode": "delete"},
            {"name": "path", "valueString": "Patient"}]));
        assert!(matches!(
            apply(&patient, &root),
            Err(PatchError::Unprocessable(_))
        ));
        let subset = operation(json!([{"name": "type", "valueCode": "move"},
            {"name": "path", "valueString": "Patient.identifier.where(value != '2')"},
            {"name": "source", "valueInteger": 0},
            {"name": "destination", "valueInteger": 1}]));
        assert!(matches!(
            apply(&patient, &subset),
            Err(PatchError::Unprocessable(_))
        ));
    }

    #[test]
    fn patches_a_contained_resource_but_not_another_resource() {
        let observation = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"},
            "contained": [{"resourceType": "Patient", "id": "p", "gender": "male"}],
            "subject": {"reference": "#p"}});
        let patch = operation(json!([{"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Observation.subject.resolve().gender"},
            {"name": "value", "valueCode": "female"}]));
        let result = apply(&observation, &patch).unwrap();
        assert_eq!(result["contained"][0]["gender"], json!("female"));
        let patch = operation(json!([{"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Observation.contained[0]"},
            {"name": "name", "valueString": "birthDate"},
            {"name": "value", "valueDate": "2000-01-01"}]));
        let result = apply(&observation, &patch).unwrap();
        assert_eq!(result["contained"][0]["birthDate"], json!("2000-01-01"));
        // Without a resolver, references out of the resource lead nowhere.
        let mut outside = observation.clone();
        outside["subject"] = json!({"reference": "Patient/1"});
        let patch = operation(json!([{"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Observation.subject.resolve().gender"},
            {"name": "value", "valueCode": "female"}]));
        assert!(matches!(
            apply(&outside, &patch),
            Err(PatchError::Unprocessable(_))
        ));
    }

    #[test]
    fn adds_an_extension_to_a_primitive_and_inserts_into_an_empty_list() {
        let patient = json!({"resourceType": "Patient", "birthDate": "2000-01-01"});
        let patch = json!({"resourceType": "Parameters", "parameter": [
            {"name": "operation", "part": [
                {"name": "type", "valueCode": "add"},
                {"name": "path", "valueString": "Patient.birthDate"},
                {"name": "name", "valueString": "extension"},
                {"name": "value", "part": [
                    {"name": "url", "valueUri": "http://example.org/x"},
                    {"name": "value", "valueCode": "a"}]}]},
            {"name": "operation", "part": [
                {"name": "type", "valueCode": "insert"},
                {"name": "path", "valueString": "Patient.identifier"},
                {"name": "index", "valueInteger": 0},
                {"name": "value", "valueIdentifier": {"value": "1"}}]}
        ]});
        let result = apply(&patient, &patch).unwrap();
        assert_eq!(
            result["_birthDate"],
            json!({"extension": [{"url": "http://example.org/x", "valueCode": "a"}]})
        );
        assert_eq!(result["identifier"], json!([{"value": "1"}]));
    }

    #[test]
    fn refuses_bad_patches_and_leaves_the_resource_alone() {
        let patient =
            json!({"resourceType": "Patient", "name": [{"family": "a"}, {"family": "b"}]});
        let cases = [
            json!([{"name": "type", "valueCode": "explode"},
                   {"name": "path", "valueString": "Patient"}]),
            json!([{"name": "type", "valueCode": "delete"},
                   {"name": "path", "valueString": "Patient.name.family"}]),
            json!([{"name": "type", "valueCode": "replace"},
                   {"name": "path", "valueString": "Patient.name["}]),
            json!([{"name": "type", "valueCode": "replace"},
                   {"name": "path", "valueString": "Patient.name.count()"},
                   {"name": "value", "valueInteger": 1}]),
            json!([{"name": "type", "valueCode": "insert"},
                   {"name": "path", "valueString": "Patient.name"},
                   {"name": "index", "valueInteger": 3},
                   {"name": "value", "valueHumanName": {"family": "c"}}]),
        ];
        for parts in cases {
            assert!(
                apply(&patient, &operation(parts.clone())).is_err(),
                "{parts}"
            );
        }
        let nothing = operation(json!([{"name": "type", "valueCode": "delete"},
            {"name": "path", "valueString": "Patient.birthDate"}]));
        assert_eq!(apply(&patient, &nothing).unwrap(), patient);
    }
}

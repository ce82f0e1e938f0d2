//! Navigation from a node to its children by element name, typed with the R4 model: choice
//! elements, `_name` siblings of primitives, resources inside resources, and the checks of names
//! against the model.

use serde_json::Value;

use super::ast::Expr;
use super::eval::{Collection, Result, error};
use super::item::{Item, Node, model_type_name};
use super::types::parse_type_argument;
use crate::model::{Model, TypeKind, capitalise};

/// The type of a JSON value whose element is not in the model.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.to_string().contains('.') => "decimal",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Object(map) => map
            .get("resourceType")
            .and_then(Value::as_str)
            .map_or("", model_type_name),
        _ => "",
    }
}

/// Functions whose result depends on the order of their input.
pub(crate) const ORDERED_FUNCTIONS: [&str; 5] = ["first", "last", "tail", "skip", "take"];

/// `children()` and `descendants()` have no defined order, so order-dependent functions applied
/// directly to them are an error rather than an arbitrary answer.
pub(crate) fn is_unordered(expr: &Expr) -> bool {
    matches!(expr, Expr::Function { name, .. } if name == "children" || name == "descendants")
}

/// The FHIR type an expression is known to produce without evaluating it: a type name in first
/// position (`Encounter`), or a cast (`x as Period`, `x.ofType(Period)`).
pub(crate) fn static_type(expr: &Expr) -> Option<&'static str> {
    let known = |name: &str| {
        Model::r4()
            .type_def(name)
            .filter(|t| t.kind != TypeKind::PrimitiveType)
            .map(|t| t.name.as_str())
    };
    match expr {
        Expr::Identifier(name) if name.starts_with(|c: char| c.is_ascii_uppercase()) => known(name),
        Expr::TypeTest {
            cast: true,
            type_name,
            ..
        } if type_name.namespace.as_deref() != Some("System") => known(&type_name.name),
        Expr::Function { name, args, .. } if name == "as" || name == "ofType" => {
            let spec = parse_type_argument(args.first()?).ok()?;
            if spec.namespace.as_deref() == Some("System") {
                return None;
            }
            known(&spec.name)
        }
        _ => None,
    }
}

/// Whether a type has an element of a name.
enum ElementStatus {
    /// The element exists, or the type is not known well enough to tell.
    Found,
    /// A choice element named with its type suffix (`valueQuantity`): FHIRPath writes
    /// `value.ofType(Quantity)`, so this is an error wherever it appears.
    ChoiceSuffix(String),
    /// The type has no such element.
    Missing(String),
}

/// `resources_checked`: whether resources are checked for missing names too (for types known
/// from the expression itself, not from the data).
fn element_status(type_name: &str, name: &str, resources_checked: bool) -> ElementStatus {
    let model = Model::r4();
    let Some(type_def) = model.type_def(type_name) else {
        return ElementStatus::Found;
    };
    if let Some(found) = model.element(type_name, name) {
        if found.element.choice {
            return ElementStatus::ChoiceSuffix(format!(
                "{type_name}.{name}: the choice element {} is written {}.ofType({})",
                found.element.name, found.element.name, found.type_ref.code
            ));
        }
        return ElementStatus::Found;
    }
    // Resources are not checked for missing names: elements typed `Resource` hold any resource
    // (dom-2's `contained.contained` meets a Parameters), and some R4 invariants name elements
    // a resource lacks (cid-0's `name` on ChargeItemDefinition).
    if type_def.kind == TypeKind::PrimitiveType
        || (type_def.kind == TypeKind::Resource && !resources_checked)
        || type_def.elements.iter().any(|e| e.name == name)
    {
        return ElementStatus::Found;
    }
    ElementStatus::Missing(format!("{type_name} has no element {name}"))
}

/// An error when `name` is not an element of the statically known type: a path through the
/// wrong type (`Encounter.name`) or a choice element with its suffix.
pub(crate) fn check_element(type_name: &str, name: &str) -> Result<()> {
    match element_status(type_name, name, true) {
        ElementStatus::Found => Ok(()),
        ElementStatus::ChoiceSuffix(message) | ElementStatus::Missing(message) => error(message),
    }
}

/// Navigates every item. Names are checked against the model: an error when no item's type has
/// the element (a misspelt path such as `name.given1`; collections of mixed types, as from
/// `descendants()`, only need one type that has it), or when it is a choice name with suffix.
pub(crate) fn navigate_all<'a>(items: &[Item<'a>], name: &str) -> Result<Collection<'a>> {
    let mut out = Vec::new();
    let mut missing = None;
    let mut found = false;
    for item in items {
        if let Item::Node(node) = item
            && matches!(node.value, Some(Value::Object(_)))
        {
            match element_status(node.type_name, name, false) {
                ElementStatus::Found => found = true,
                ElementStatus::ChoiceSuffix(message) => return error(message),
                ElementStatus::Missing(message) => missing = Some(message),
            }
        } else {
            found = true;
        }
        out.extend(navigate(item, name));
    }
    match missing {
        Some(message) if !found => error(message),
        _ => Ok(out),
    }
}

/// The children of `item` named `name` (choice elements found by any of their types).
pub(crate) fn navigate<'a>(item: &Item<'a>, name: &str) -> Collection<'a> {
    let Item::Node(node) = item else {
        return vec![];
    };
    let Some(Value::Object(map)) = node.value else {
        // A primitive's `id` and `extension` live in its `_name` object.
        if let Some(Value::Object(ext)) = node.extension {
            return children_of(ext.get(name), None, untyped_code(name));
        }
        return vec![];
    };
    let model = Model::r4();
    let mut out = Vec::new();
    if let Some(found) = model.element(node.type_name, name) {
        out = children_of(
            map.get(name),
            map.get(&format!("_{name}")),
            found.type_ref.code.as_str(),
        );
    } else if let Some(element) = model
        .type_def(node.type_name)
        .and_then(|t| t.elements.iter().find(|e| e.choice && e.name == name))
    {
        for type_ref in &element.types {
            let key = format!("{name}{}", capitalise(&type_ref.code));
            if map.contains_key(&key) || map.contains_key(&format!("_{key}")) {
                out.extend(children_of(
                    map.get(&key),
                    map.get(&format!("_{key}")),
                    type_ref.code.as_str(),
                ));
            }
        }
    } else if node.type_name.is_empty()
        || model.type_def(node.type_name).is_none()
        || name == "extension"
        || name == "id"
    {
        out = children_of(
            map.get(name),
            map.get(&format!("_{name}")),
            untyped_code(name),
        );
    }
    out
}

/// The type of a property outside the model: extensions are known to be `Extension`.
fn untyped_code(name: &str) -> &'static str {
    if name == "extension" || name == "modifierExtension" {
        "Extension"
    } else {
        ""
    }
}

/// Items for a JSON property and its `_name` sibling, typed `code` (or by their content).
fn children_of<'a>(
    value: Option<&'a Value>,
    extension: Option<&'a Value>,
    code: &'static str,
) -> Collection<'a> {
    let make = |value: Option<&'a Value>, extension: Option<&'a Value>| {
        let value = value.filter(|v| !v.is_null());
        let extension = extension.filter(|v| !v.is_null());
        if value.is_none() && extension.is_none() {
            return None;
        }
        let type_name = match value {
            // Only elements typed `Resource` (or unknown) hold resources: a backbone may have
            // an element called `resourceType` (ExampleScenario.instance).
            Some(v @ Value::Object(_)) if code.is_empty() || code == "Resource" => {
                let t = json_type(v);
                if t.is_empty() { code } else { t }
            }
            Some(v) if code.is_empty() => json_type(v),
            _ => code,
        };
        Some(Item::Node(Node {
            value,
            extension,
            type_name,
        }))
    };
    match (value, extension) {
        (Some(Value::Array(values)), ext) => {
            let exts = ext.and_then(Value::as_array);
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| make(Some(v), exts.and_then(|e| e.get(i))))
                .collect()
        }
        (None, Some(Value::Array(exts))) => {
            exts.iter().filter_map(|e| make(None, Some(e))).collect()
        }
        (value, ext) => make(value, ext).into_iter().collect(),
    }
}

//! Type tests and casts (`is`, `as`, `ofType`): FHIR types with their inheritance from the model,
//! and the System types.

use super::ast::{Expr, TypeSpecifier};
use super::eval::{Collection, Result, error, singleton};
use super::item::Item;
use crate::model::Model;

/// `true` when `type_name` is `ancestor` or derives from it (`Patient` → `DomainResource`).
pub(crate) fn is_subtype(type_name: &str, ancestor: &str) -> bool {
    let model = Model::r4();
    let mut current = Some(type_name);
    let mut steps = 0;
    while let Some(name) = current {
        if name == ancestor {
            return true;
        }
        steps += 1;
        if steps > 16 {
            break;
        }
        current = model.type_def(name).and_then(|t| t.base.as_deref());
    }
    false
}

/// Resolves a type specifier to a namespace and name; `None` when the type does not exist.
fn resolve_type(spec: &TypeSpecifier) -> Option<(bool, String)> {
    const SYSTEM: [&str; 9] = [
        "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity", "Any",
    ];
    let model = Model::r4();
    match spec.namespace.as_deref() {
        Some("System") => Some((true, spec.name.clone())),
        Some("FHIR") => model
            .type_def(&spec.name)
            .map(|_| (false, spec.name.clone())),
        Some(_) => None,
        None if model.type_def(&spec.name).is_some() => Some((false, spec.name.clone())),
        None if SYSTEM.contains(&spec.name.as_str()) => Some((true, spec.name.clone())),
        None => None,
    }
}

/// `true` when `item` is of the type (`is`); `exact` for `as`/`ofType` on primitives.
pub(crate) fn item_is(item: &Item<'_>, spec: &TypeSpecifier, exact: bool) -> Result<bool> {
    let Some((system, name)) = resolve_type(spec) else {
        return error(format!("unknown type {}", spec.name));
    };
    Ok(match item {
        Item::Node(node) => {
            if system {
                false
            } else if exact && Model::r4().is_primitive(node.type_name) {
                node.type_name == name
            } else {
                is_subtype(node.type_name, &name)
            }
        }
        _ => system && (item.type_name() == name || name == "Any"),
    })
}

pub(crate) fn parse_type_argument(expr: &Expr) -> Result<TypeSpecifier> {
    match expr {
        Expr::Identifier(name) => Ok(TypeSpecifier {
            namespace: None,
            name: name.clone(),
        }),
        Expr::Member(target, name) => match target.as_ref() {
            Expr::Identifier(namespace) => Ok(TypeSpecifier {
                namespace: Some(namespace.clone()),
                name: name.clone(),
            }),
            _ => error("invalid type name"),
        },
        _ => error("invalid type name"),
    }
}

/// The `is` and `as` operators. `as` on several items keeps those of the type, like
/// `ofType()`: the R4 search parameters rely on it (`Observation.component.value as Quantity`),
/// although the specification asks for a single item; `is` requires one.
pub(crate) fn type_operation<'a>(
    items: &[Item<'a>],
    spec: &TypeSpecifier,
    cast: bool,
) -> Result<Collection<'a>> {
    if cast && items.len() > 1 {
        let mut out = Vec::new();
        for item in items {
            if item_is(item, spec, true)? {
                out.push(item.clone());
            }
        }
        return Ok(out);
    }
    let Some(item) = singleton(items)? else {
        return Ok(vec![]);
    };
    let matches = item_is(item, spec, cast)?;
    Ok(if cast {
        if matches { vec![item.clone()] } else { vec![] }
    } else {
        vec![Item::Boolean(matches)]
    })
}

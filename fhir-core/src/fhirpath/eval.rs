//! Evaluation of the syntax tree: navigation, operators, three-valued logic.

use std::cmp::Ordering;

use serde_json::Value;

use super::ast::{BinaryOp, Expr, Literal, TypeSpecifier};
use super::datetime::TemporalKind;
use super::decimal::Decimal;
use super::functions;
use super::item::{Item, Node, model_type_name};
use super::{Environment, FhirPathError};
use crate::model::{Model, TypeKind, capitalise};

/// What `$this`, `$index`, `$total` and the environment are at a point of the evaluation.
#[derive(Clone)]
pub(crate) struct Scope<'a> {
    pub env: &'a Environment<'a>,
    /// The evaluated resource (`%context`).
    pub context: &'a Value,
    pub this: Option<Item<'a>>,
    pub index: Option<usize>,
    pub total: Option<Vec<Item<'a>>>,
}

pub(crate) type Collection<'a> = Vec<Item<'a>>;
pub(crate) type Result<T> = std::result::Result<T, FhirPathError>;

pub(crate) fn error<T>(message: impl Into<String>) -> Result<T> {
    Err(FhirPathError::Evaluation(message.into()))
}

/// Evaluates the whole expression with the resource as context.
pub(crate) fn evaluate<'a>(
    root: &Expr,
    resource: &'a Value,
    env: &'a Environment<'a>,
) -> Result<Collection<'a>> {
    let context = Item::resource(resource);
    let scope = Scope {
        env,
        context: resource,
        this: Some(context.clone()),
        index: None,
        total: None,
    };
    eval(root, &[context], &scope)
}

/// Evaluates `expr` with `focus` as the input collection.
pub(crate) fn eval<'a>(
    expr: &Expr,
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Collection<'a>> {
    match expr {
        Expr::Literal(literal) => Ok(match literal {
            Literal::Empty => vec![],
            Literal::Boolean(b) => vec![Item::Boolean(*b)],
            Literal::Integer(i) => vec![Item::Integer(*i)],
            Literal::Decimal(d) => vec![Item::Decimal(*d)],
            Literal::String(s) => vec![Item::String(s.clone())],
            Literal::Temporal(t) => vec![Item::Temporal(*t)],
            Literal::Quantity(q) => vec![Item::Quantity(q.clone())],
        }),
        Expr::Identifier(name) => {
            // A type name in first position selects the context when it is of that type
            // (`Patient.name`, `DomainResource.text`).
            if name.starts_with(|c: char| c.is_ascii_uppercase())
                && Model::r4()
                    .type_def(name)
                    .is_some_and(|t| t.kind != TypeKind::PrimitiveType)
            {
                return Ok(focus
                    .iter()
                    .filter(|item| matches!(item, Item::Node(n) if is_subtype(n.type_name, name)))
                    .cloned()
                    .collect());
            }
            navigate_all(focus, name)
        }
        Expr::This => Ok(scope.this.iter().cloned().collect()),
        Expr::Index => Ok(scope
            .index
            .map(|i| Item::Integer(i as i64))
            .into_iter()
            .collect()),
        Expr::Total => Ok(scope.total.clone().unwrap_or_default()),
        Expr::Variable(name) => variable(name, scope),
        Expr::Member(target, name) => {
            if let Some(type_name) = static_type(target) {
                check_element(type_name, name)?;
            }
            let items = eval(target, focus, scope)?;
            navigate_all(&items, name)
        }
        Expr::Function { target, name, args } => {
            if ORDERED_FUNCTIONS.contains(&name.as_str())
                && target.as_deref().is_some_and(is_unordered)
            {
                return error(format!("{name}() needs an ordered collection"));
            }
            let input = match target {
                Some(target) => eval(target, focus, scope)?,
                None => focus.to_vec(),
            };
            functions::call(name, input, args, focus, scope)
        }
        Expr::Indexer(target, index) => {
            if is_unordered(target) {
                return error("an indexer needs an ordered collection");
            }
            let items = eval(target, focus, scope)?;
            let index = eval(index, focus, scope)?;
            let Some(index) = singleton_integer(&index)? else {
                return Ok(vec![]);
            };
            Ok(usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .into_iter()
                .collect())
        }
        Expr::Unary { negate, operand } => {
            let items = eval(operand, focus, scope)?;
            if !negate {
                return Ok(items);
            }
            let Some(item) = singleton(&items)? else {
                return Ok(vec![]);
            };
            Ok(vec![match item.primitive() {
                Item::Integer(i) => Item::Integer(-i),
                Item::Decimal(d) => Item::Decimal(d.negate()),
                Item::Quantity(mut q) => {
                    q.value = q.value.negate();
                    Item::Quantity(q)
                }
                other => return error(format!("cannot negate {}", other.type_name())),
            }])
        }
        Expr::Binary(op, lhs, rhs) => binary(*op, lhs, rhs, focus, scope),
        Expr::TypeTest {
            operand,
            cast,
            type_name,
        } => {
            let items = eval(operand, focus, scope)?;
            type_operation(&items, type_name, *cast)
        }
    }
}

fn variable<'a>(name: &str, scope: &Scope<'a>) -> Result<Collection<'a>> {
    let env = scope.env;
    if let Some(value) = env.variables.get(name) {
        return Ok(value.clone());
    }
    let resource = env.resource.unwrap_or(scope.context);
    let text = |s: &str| Ok(vec![Item::String(s.to_string())]);
    match name {
        "context" => Ok(vec![Item::resource(scope.context)]),
        "resource" => Ok(vec![Item::resource(resource)]),
        "rootResource" => Ok(vec![Item::resource(env.root_resource.unwrap_or(resource))]),
        "ucum" => text("http://unitsofmeasure.org"),
        "sct" => text("http://snomed.info/sct"),
        "loinc" => text("http://loinc.org"),
        _ => {
            if let Some(value_set) = name.strip_prefix("vs-") {
                return text(&format!("http://hl7.org/fhir/ValueSet/{value_set}"));
            }
            if let Some(extension) = name.strip_prefix("ext-") {
                return text(&format!(
                    "http://hl7.org/fhir/StructureDefinition/{extension}"
                ));
            }
            error(format!("unknown variable %{name}"))
        }
    }
}

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
const ORDERED_FUNCTIONS: [&str; 5] = ["first", "last", "tail", "skip", "take"];

/// `children()` and `descendants()` have no defined order, so order-dependent functions applied
/// directly to them are an error rather than an arbitrary answer.
fn is_unordered(expr: &Expr) -> bool {
    matches!(expr, Expr::Function { name, .. } if name == "children" || name == "descendants")
}

/// The FHIR type an expression is known to produce without evaluating it: a type name in first
/// position (`Encounter`), or a cast (`x as Period`, `x.ofType(Period)`).
fn static_type(expr: &Expr) -> Option<&'static str> {
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

fn element_status(type_name: &str, name: &str) -> ElementStatus {
    let model = Model::r4();
    let Some(type_def) = model.type_def(type_name) else {
        return ElementStatus::Found;
    };
    if type_def.kind == TypeKind::PrimitiveType {
        return ElementStatus::Found;
    }
    if let Some(found) = model.element(type_name, name) {
        if found.element.choice {
            return ElementStatus::ChoiceSuffix(format!(
                "{type_name}.{name}: the choice element {} is written {}.ofType({})",
                found.element.name, found.element.name, found.type_ref.code
            ));
        }
        return ElementStatus::Found;
    }
    if type_def.elements.iter().any(|e| e.name == name) {
        return ElementStatus::Found;
    }
    ElementStatus::Missing(format!("{type_name} has no element {name}"))
}

/// An error when `name` is not an element of the statically known type: a path through the
/// wrong type (`Encounter.name`) or a choice element with its suffix.
fn check_element(type_name: &str, name: &str) -> Result<()> {
    match element_status(type_name, name) {
        ElementStatus::Found => Ok(()),
        ElementStatus::ChoiceSuffix(message) | ElementStatus::Missing(message) => error(message),
    }
}

/// Navigates every item. Names are checked against the model: an error when no item's type has
/// the element (a misspelt path such as `name.given1`; collections of mixed types, as from
/// `descendants()`, only need one type that has it), or when it is a choice name with suffix.
fn navigate_all<'a>(items: &[Item<'a>], name: &str) -> Result<Collection<'a>> {
    let mut out = Vec::new();
    let mut missing = None;
    let mut found = false;
    for item in items {
        if let Item::Node(node) = item
            && matches!(node.value, Some(Value::Object(_)))
        {
            match element_status(node.type_name, name) {
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
            Some(v @ Value::Object(map))
                if code.is_empty() || code == "Resource" || map.contains_key("resourceType") =>
            {
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

/// The single item of a collection; an error for several.
pub(crate) fn singleton<'a, 'c>(items: &'c [Item<'a>]) -> Result<Option<&'c Item<'a>>> {
    match items {
        [] => Ok(None),
        [item] => Ok(Some(item)),
        _ => error(format!("expected a single item, found {}", items.len())),
    }
}

pub(crate) fn singleton_integer(items: &[Item<'_>]) -> Result<Option<i64>> {
    match singleton(items)?.map(Item::primitive) {
        None => Ok(None),
        Some(Item::Integer(i)) => Ok(Some(i)),
        Some(other) => error(format!("expected an integer, found {}", other.type_name())),
    }
}

/// The boolean value of a collection used as a condition: empty → `None`, a single boolean →
/// its value, any other single item → `true`; several items are an error.
pub(crate) fn to_boolean(items: &[Item<'_>]) -> Result<Option<bool>> {
    match singleton(items)?.map(Item::primitive) {
        None => Ok(None),
        Some(Item::Boolean(b)) => Ok(Some(b)),
        Some(_) => Ok(Some(true)),
    }
}

fn boolean<'a>(value: Option<bool>) -> Collection<'a> {
    value.map(Item::Boolean).into_iter().collect()
}

fn binary<'a>(
    op: BinaryOp,
    lhs: &Expr,
    rhs: &Expr,
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Collection<'a>> {
    use BinaryOp::*;
    let left = eval(lhs, focus, scope)?;
    if matches!(op, And | Or | Implies | Xor) {
        let a = to_boolean(&left)?;
        // Short cuts of the three-valued logic: the right side is not needed.
        match (op, a) {
            (And, Some(false)) => return Ok(boolean(Some(false))),
            (Or, Some(true)) => return Ok(boolean(Some(true))),
            (Implies, Some(false)) => return Ok(boolean(Some(true))),
            _ => {}
        }
        let b = to_boolean(&eval(rhs, focus, scope)?)?;
        return Ok(boolean(match op {
            And => match (a, b) {
                (Some(true), Some(true)) => Some(true),
                (_, Some(false)) => Some(false),
                _ => None,
            },
            Or => match (a, b) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Xor => match (a, b) {
                (Some(x), Some(y)) => Some(x != y),
                _ => None,
            },
            _ => match (a, b) {
                (Some(true), b) => b,
                (None, Some(true)) => Some(true),
                _ => None,
            },
        }));
    }
    let right = eval(rhs, focus, scope)?;
    match op {
        Union => {
            let mut out: Collection<'a> = Vec::new();
            for item in left.into_iter().chain(right) {
                if !out.iter().any(|o| equals(o, &item) == Some(true)) {
                    out.push(item);
                }
            }
            Ok(out)
        }
        Equal | NotEqual => {
            let result = collection_equals(&left, &right);
            Ok(boolean(if op == Equal {
                result
            } else {
                result.map(|b| !b)
            }))
        }
        Equivalent | NotEquivalent => {
            let result = collection_equivalent(&left, &right);
            Ok(boolean(Some(if op == Equivalent {
                result
            } else {
                !result
            })))
        }
        Less | Greater | LessOrEqual | GreaterOrEqual => {
            let (Some(a), Some(b)) = (singleton(&left)?, singleton(&right)?) else {
                return Ok(vec![]);
            };
            let Some(order) = compare(a, b)? else {
                return Ok(vec![]);
            };
            Ok(boolean(Some(match op {
                Less => order == Ordering::Less,
                Greater => order == Ordering::Greater,
                LessOrEqual => order != Ordering::Greater,
                _ => order != Ordering::Less,
            })))
        }
        In | Contains => {
            let (needle, haystack) = if op == In {
                (&left, &right)
            } else {
                (&right, &left)
            };
            let Some(needle) = singleton(needle)? else {
                return Ok(vec![]);
            };
            Ok(boolean(Some(
                haystack.iter().any(|h| equals(h, needle) == Some(true)),
            )))
        }
        Concatenate => {
            let text = |items: &[Item<'a>]| -> Result<String> {
                match singleton(items)?.map(Item::primitive) {
                    None => Ok(String::new()),
                    Some(Item::String(s)) => Ok(s),
                    Some(other) => error(format!("& needs strings, found {}", other.type_name())),
                }
            };
            Ok(vec![Item::String(text(&left)? + &text(&right)?)])
        }
        _ => {
            let (Some(a), Some(b)) = (singleton(&left)?, singleton(&right)?) else {
                return Ok(vec![]);
            };
            arithmetic(op, &a.primitive(), &b.primitive())
        }
    }
}

fn arithmetic<'a>(op: BinaryOp, a: &Item<'a>, b: &Item<'a>) -> Result<Collection<'a>> {
    use BinaryOp::*;
    let result = match (a, b) {
        (Item::Integer(x), Item::Integer(y)) => match op {
            Add => x.checked_add(*y).map(Item::Integer),
            Subtract => x.checked_sub(*y).map(Item::Integer),
            Multiply => x.checked_mul(*y).map(Item::Integer),
            Divide => Decimal::from_i64(*x)
                .divide(Decimal::from_i64(*y))
                .map(Item::Decimal),
            Div => x.checked_div(*y).map(Item::Integer),
            Mod => x.checked_rem(*y).map(Item::Integer),
            _ => None,
        },
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            let (x, y) = (as_decimal(a), as_decimal(b));
            match op {
                Add => x.plus(y),
                Subtract => x.minus(y),
                Multiply => x.times(y),
                Divide => x.divide(y),
                Div => x.div_trunc(y),
                Mod => x.remainder(y),
                _ => None,
            }
            .map(|d| {
                if op == Div {
                    d.to_integer().map_or(Item::Decimal(d), Item::Integer)
                } else {
                    Item::Decimal(d)
                }
            })
        }
        (Item::String(x), Item::String(y)) if op == Add => Some(Item::String(format!("{x}{y}"))),
        (Item::Temporal(t), Item::Quantity(q)) if matches!(op, Add | Subtract) => {
            let Some(unit) = q.date_unit() else {
                return error(format!("cannot add '{}' to a date/time", q.unit));
            };
            let amount = q.value.truncate().to_integer().unwrap_or(0);
            let amount = if op == Subtract { -amount } else { amount };
            if t.kind == TemporalKind::Time && matches!(unit, "year" | "month" | "week" | "day") {
                return error("cannot add a date unit to a time");
            }
            t.shift(amount, unit).map(Item::Temporal)
        }
        (Item::Quantity(x), Item::Quantity(y)) => match op {
            Add | Subtract => {
                let y_value = if x.unit == y.unit {
                    Some(y.value)
                } else {
                    None
                };
                y_value
                    .and_then(|v| {
                        if op == Add {
                            x.value.plus(v)
                        } else {
                            x.value.minus(v)
                        }
                    })
                    .map(|value| {
                        Item::Quantity(super::quantity::Quantity {
                            value,
                            unit: x.unit.clone(),
                        })
                    })
            }
            Multiply => x.multiply(y, false).map(Item::Quantity),
            Divide => x.multiply(y, true).map(Item::Quantity),
            _ => None,
        },
        (Item::Quantity(x), Item::Integer(_) | Item::Decimal(_))
            if matches!(op, Multiply | Divide) =>
        {
            let factor = as_decimal(b);
            let value = if op == Multiply {
                x.value.times(factor)
            } else {
                x.value.divide(factor)
            };
            value.map(|value| {
                Item::Quantity(super::quantity::Quantity {
                    value,
                    unit: x.unit.clone(),
                })
            })
        }
        _ => {
            return error(format!(
                "operator {op:?} cannot combine {} and {}",
                a.type_name(),
                b.type_name()
            ));
        }
    };
    Ok(result.into_iter().collect())
}

pub(crate) fn as_decimal(item: &Item<'_>) -> Decimal {
    match item {
        Item::Integer(i) => Decimal::from_i64(*i),
        Item::Decimal(d) => *d,
        _ => Decimal::from_i64(0),
    }
}

/// Orders two single items; `None` when they are not comparable (precision), an error for
/// types that cannot be ordered against each other.
pub(crate) fn compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>> {
    let (a, b) = (a.primitive(), b.primitive());
    match (&a, &b) {
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            Ok(Some(as_decimal(&a).cmp(&as_decimal(&b))))
        }
        (Item::String(x), Item::String(y)) => Ok(Some(x.cmp(y))),
        (Item::Temporal(x), Item::Temporal(y)) => Ok(x.compare(y)),
        (Item::Temporal(x), Item::String(y)) | (Item::String(y), Item::Temporal(x)) => {
            // A date-valued node compared with a string literal: read the string as a date.
            let parsed = super::datetime::PartialTemporal::parse_date_time(y)
                .or_else(|| super::datetime::PartialTemporal::parse_time(y));
            match parsed {
                Some(p) if matches!(a, Item::Temporal(_)) => Ok(x.compare(&p)),
                Some(p) => Ok(p.compare(x)),
                None => error("cannot compare a date with a string"),
            }
        }
        (Item::Quantity(x), Item::Quantity(y)) => Ok(x.compare(y)),
        _ => error(format!(
            "cannot compare {} with {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

/// `=` on single items: `None` when unknown (date precision, incomparable units).
pub(crate) fn equals(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    let (pa, pb) = (a.primitive(), b.primitive());
    match (&pa, &pb) {
        (Item::Node(x), Item::Node(y)) => Some(x.value == y.value),
        (Item::Node(_), _) | (_, Item::Node(_)) => Some(false),
        (Item::Boolean(x), Item::Boolean(y)) => Some(x == y),
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            Some(as_decimal(&pa) == as_decimal(&pb))
        }
        (Item::String(x), Item::String(y)) => Some(x == y),
        (Item::Temporal(x), Item::Temporal(y)) => {
            if (x.kind == TemporalKind::Time) != (y.kind == TemporalKind::Time) {
                return Some(false);
            }
            x.compare(y).map(|o| o == Ordering::Equal)
        }
        (Item::Quantity(x), Item::Quantity(y)) => x.compare(y).map(|o| o == Ordering::Equal),
        _ => Some(false),
    }
}

fn collection_equals(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut result = Some(true);
    for (x, y) in a.iter().zip(b) {
        match equals(x, y) {
            Some(false) => return Some(false),
            None => result = None,
            Some(true) => {}
        }
    }
    result
}

/// `~` on single items.
pub(crate) fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    let (pa, pb) = (a.primitive(), b.primitive());
    match (&pa, &pb) {
        (Item::String(x), Item::String(y)) => normalise(x) == normalise(y),
        (Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            let (x, y) = (as_decimal(&pa), as_decimal(&pb));
            let scale = x.scale().min(y.scale());
            x.round(scale) == y.round(scale)
        }
        (Item::Temporal(x), Item::Temporal(y)) => x.compare(y) == Some(Ordering::Equal),
        (Item::Node(x), Item::Node(y)) => x.value == y.value,
        (Item::Quantity(x), Item::Quantity(y)) => {
            // Equal at the precision of the less precise value, in base units.
            match (x.canonical(), y.canonical()) {
                (Some((a, ua)), Some((b, ub))) if ua.dimensions == ub.dimensions => {
                    let scale = x.value.scale().min(y.value.scale());
                    a.round(scale) == b.round(scale)
                }
                _ => false,
            }
        }
        _ => equals(&pa, &pb) == Some(true),
    }
}

fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn collection_equivalent(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| b.iter().any(|y| equivalent(x, y)))
        && b.iter().all(|y| a.iter().any(|x| equivalent(x, y)))
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

fn type_operation<'a>(
    items: &[Item<'a>],
    spec: &TypeSpecifier,
    cast: bool,
) -> Result<Collection<'a>> {
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

//! Evaluation of the syntax tree: terms, variables, invocations and the scope of `$this`,
//! `$index` and `$total`. Navigation, operators and type tests have their own modules.

use serde_json::Value;

use super::ast::{Expr, Literal};
use super::functions;
use super::item::Item;
use super::navigation::{
    ORDERED_FUNCTIONS, check_element, is_unordered, navigate_all, static_type,
};
use super::operators::binary;
use super::types::{is_subtype, type_operation};
use super::{Environment, FhirPathError};
use crate::model::{Model, TypeKind};

/// What `$this`, `$index`, `$total` and the environment are at a point of the evaluation.
#[derive(Clone)]
pub(crate) struct Scope<'a> {
    pub env: &'a Environment<'a>,
    /// The item the evaluation started from (`%context`).
    pub context: Item<'a>,
    /// `%resource`: set in the environment, or the context when it is a resource.
    pub resource: Option<&'a Value>,
    pub this: Option<Item<'a>>,
    pub index: Option<usize>,
    pub total: Option<Vec<Item<'a>>>,
}

pub(crate) type Collection<'a> = Vec<Item<'a>>;
pub(crate) type Result<T> = std::result::Result<T, FhirPathError>;

pub(crate) fn error<T>(message: impl Into<String>) -> Result<T> {
    Err(FhirPathError::Evaluation(message.into()))
}

/// Evaluates the whole expression with `context` as `%context` and first focus.
pub(crate) fn evaluate<'a>(
    root: &Expr,
    context: Item<'a>,
    env: &'a Environment<'a>,
) -> Result<Collection<'a>> {
    let context_resource = context
        .as_json()
        .filter(|v| v.get("resourceType").is_some());
    let scope = Scope {
        env,
        context: context.clone(),
        resource: env.resource.or(context_resource),
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
                Item::Integer(i) => match i.checked_neg() {
                    Some(negated) => Item::Integer(negated),
                    None => return Ok(vec![]),
                },
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
    let text = |s: &str| Ok(vec![Item::String(s.to_string())]);
    let resource = |value: Option<&'a Value>| Ok(value.map(Item::resource).into_iter().collect());
    match name {
        "context" => Ok(vec![scope.context.clone()]),
        "resource" => resource(scope.resource),
        "rootResource" => resource(env.root_resource.or(scope.resource)),
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

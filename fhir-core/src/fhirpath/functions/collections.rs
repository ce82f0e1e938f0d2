//! Existence, filtering, subsetting, combining, tree navigation and aggregates.

use std::cmp::Ordering;

use serde_json::Value;

use super::arg;
use crate::fhirpath::ast::Expr;
use crate::fhirpath::eval::{Collection, Result, Scope, error, eval, to_boolean};
use crate::fhirpath::item::Item;
use crate::fhirpath::navigation::navigate;
use crate::fhirpath::operators::{compare, equals};

/// Evaluates `expr` for one item as `$this` (and `$index`).
pub(crate) fn with_this<'a>(
    expr: &Expr,
    item: &Item<'a>,
    index: usize,
    scope: &Scope<'a>,
) -> Result<Collection<'a>> {
    let mut inner = scope.clone();
    inner.this = Some(item.clone());
    inner.index = Some(index);
    eval(expr, std::slice::from_ref(item), &inner)
}

fn contains<'a>(items: &[Item<'a>], item: &Item<'a>) -> bool {
    items.iter().any(|i| equals(i, item) == Some(true))
}

fn distinct<'a>(items: &[Item<'a>]) -> Collection<'a> {
    let mut out: Collection<'a> = Vec::new();
    for item in items {
        if !contains(&out, item) {
            out.push(item.clone());
        }
    }
    out
}

fn bools(items: &[Item<'_>]) -> Result<Vec<bool>> {
    items
        .iter()
        .map(|i| match i.primitive() {
            Item::Boolean(b) => Ok(b),
            other => error(format!("expected booleans, found {}", other.type_name())),
        })
        .collect()
}

fn one<'a>(b: bool) -> Result<Option<Collection<'a>>> {
    Ok(Some(vec![Item::Boolean(b)]))
}

/// The identity of a node: the addresses of its value and of its `_name` sibling.
fn node_identity(node: &crate::fhirpath::item::Node<'_>) -> (usize, usize) {
    let address = |v: Option<&Value>| v.map_or(0, |v| std::ptr::from_ref(v) as usize);
    (address(node.value), address(node.extension))
}

/// The children of every item (object properties in order, arrays flattened).
pub(crate) fn children<'a>(items: &[Item<'a>]) -> Collection<'a> {
    let mut out = Vec::new();
    for item in items {
        if let Item::Node(node) = item
            && let Some(Value::Object(map)) = node.value
        {
            for key in map.keys() {
                // `_name` goes with `name`, unless the primitive only has extensions.
                let name = match key.strip_prefix('_') {
                    Some(name) if !map.contains_key(name) => name,
                    Some(_) => continue,
                    None => key.as_str(),
                };
                if name == "resourceType"
                    && crate::model::Model::r4()
                        .element(node.type_name, name)
                        .is_none()
                {
                    continue;
                }
                out.extend(navigate(item, name));
            }
        }
    }
    out
}

pub(crate) fn call<'a>(
    name: &str,
    input: &[Item<'a>],
    args: &[Expr],
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Option<Collection<'a>>> {
    let int_arg = |i: usize| -> Result<i64> {
        match arg(args, i, focus, scope)?.first().map(Item::primitive) {
            Some(Item::Integer(n)) => Ok(n),
            _ => error(format!("{name}() needs an integer")),
        }
    };
    Ok(Some(match name {
        "empty" => vec![Item::Boolean(input.is_empty())],
        "exists" => {
            if let Some(criteria) = args.first() {
                for (i, item) in input.iter().enumerate() {
                    if to_boolean(&with_this(criteria, item, i, scope)?)? == Some(true) {
                        return one(true);
                    }
                }
                return one(false);
            }
            vec![Item::Boolean(!input.is_empty())]
        }
        "all" => {
            let criteria = args.first().ok_or_else(|| {
                crate::fhirpath::FhirPathError::Evaluation("all() needs criteria".into())
            })?;
            for (i, item) in input.iter().enumerate() {
                if to_boolean(&with_this(criteria, item, i, scope)?)? != Some(true) {
                    return one(false);
                }
            }
            vec![Item::Boolean(true)]
        }
        "allTrue" => vec![Item::Boolean(bools(input)?.iter().all(|b| *b))],
        "anyTrue" => vec![Item::Boolean(bools(input)?.iter().any(|b| *b))],
        "allFalse" => vec![Item::Boolean(bools(input)?.iter().all(|b| !*b))],
        "anyFalse" => vec![Item::Boolean(bools(input)?.iter().any(|b| !*b))],
        "subsetOf" => {
            let other = arg(args, 0, focus, scope)?;
            vec![Item::Boolean(input.iter().all(|i| contains(&other, i)))]
        }
        "supersetOf" => {
            let other = arg(args, 0, focus, scope)?;
            vec![Item::Boolean(other.iter().all(|i| contains(input, i)))]
        }
        "count" => vec![Item::Integer(input.len() as i64)],
        "distinct" => distinct(input),
        "isDistinct" => vec![Item::Boolean(distinct(input).len() == input.len())],
        "where" => {
            let criteria = &args[..1.min(args.len())];
            let Some(criteria) = criteria.first() else {
                return error("where() needs criteria");
            };
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                if to_boolean(&with_this(criteria, item, i, scope)?)? == Some(true) {
                    out.push(item.clone());
                }
            }
            out
        }
        "select" => {
            let Some(projection) = args.first() else {
                return error("select() needs a projection");
            };
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                out.extend(with_this(projection, item, i, scope)?);
            }
            out
        }
        "repeat" => {
            let Some(projection) = args.first() else {
                return error("repeat() needs a projection");
            };
            // Breadth-first with a work list, not recursion: bounded by the data. Nodes already
            // seen (by identity, which is cheap and what stops cycles through resolved
            // references) or equal System values are not added or expanded again.
            let mut out: Collection<'a> = Vec::new();
            let mut seen_nodes = std::collections::HashSet::new();
            let mut pending: Collection<'a> = input.to_vec();
            while !pending.is_empty() {
                let mut next = Vec::new();
                for (i, item) in pending.iter().enumerate() {
                    for child in with_this(projection, item, i, scope)? {
                        let new = match &child {
                            Item::Node(node) => seen_nodes.insert(node_identity(node)),
                            _ => !contains(&out, &child),
                        };
                        if new {
                            out.push(child.clone());
                            next.push(child);
                        }
                    }
                }
                pending = next;
            }
            out
        }
        "aggregate" => {
            let Some(aggregator) = args.first() else {
                return error("aggregate() needs an aggregator");
            };
            let mut total = match args.get(1) {
                Some(init) => eval(init, focus, scope)?,
                None => vec![],
            };
            for (i, item) in input.iter().enumerate() {
                let mut inner = scope.clone();
                inner.this = Some(item.clone());
                inner.index = Some(i);
                inner.total = Some(total.clone());
                total = eval(aggregator, std::slice::from_ref(item), &inner)?;
            }
            total
        }
        "first" => input.first().cloned().into_iter().collect(),
        "last" => input.last().cloned().into_iter().collect(),
        "tail" => input.iter().skip(1).cloned().collect(),
        "skip" => {
            let n = int_arg(0)?;
            input.iter().skip(n.max(0) as usize).cloned().collect()
        }
        "take" => {
            let n = int_arg(0)?;
            input.iter().take(n.max(0) as usize).cloned().collect()
        }
        "single" => match input {
            [] => vec![],
            [item] => vec![item.clone()],
            _ => return error("single() on several items"),
        },
        "intersect" => {
            let other = arg(args, 0, focus, scope)?;
            distinct(
                &input
                    .iter()
                    .filter(|i| contains(&other, i))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        }
        "exclude" => {
            let other = arg(args, 0, focus, scope)?;
            input
                .iter()
                .filter(|i| !contains(&other, i))
                .cloned()
                .collect()
        }
        "union" => {
            let other = arg(args, 0, focus, scope)?;
            let mut all = input.to_vec();
            all.extend(other);
            distinct(&all)
        }
        "combine" => {
            let mut all = input.to_vec();
            all.extend(arg(args, 0, focus, scope)?);
            all
        }
        "not" => match to_boolean(input)? {
            Some(b) => vec![Item::Boolean(!b)],
            None => vec![],
        },
        "children" => children(input),
        "descendants" => {
            // Iterative, level by level: depth is bounded by the data, not the stack.
            let mut out = Vec::new();
            let mut level = children(input);
            while !level.is_empty() {
                let next = children(&level);
                out.extend(level);
                level = next;
            }
            out
        }
        "trace" => input.to_vec(),
        "sort" => {
            // A key written `-key` sorts descending (also for strings, which cannot be negated).
            let keys_exprs: Vec<(&Expr, bool)> = args
                .iter()
                .map(|key| match key {
                    Expr::Unary {
                        negate: true,
                        operand,
                    } => (operand.as_ref(), true),
                    other => (other, false),
                })
                .collect();
            let mut keyed: Vec<(Vec<Collection<'a>>, Item<'a>)> = Vec::new();
            for (i, item) in input.iter().enumerate() {
                let mut keys = Vec::new();
                for (key, _) in &keys_exprs {
                    keys.push(with_this(key, item, i, scope)?);
                }
                keyed.push((keys, item.clone()));
            }
            let mut failure = None;
            let ordering = |a: &Collection<'a>, b: &Collection<'a>| -> Ordering {
                match (a.first(), b.first()) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => compare(x, y).ok().flatten().unwrap_or(Ordering::Equal),
                }
            };
            keyed.sort_by(|(ka, a), (kb, b)| {
                if args.is_empty() {
                    return match compare(a, b) {
                        Ok(order) => order.unwrap_or(Ordering::Equal),
                        Err(e) => {
                            failure = Some(e);
                            Ordering::Equal
                        }
                    };
                }
                for ((x, y), (_, descending)) in ka.iter().zip(kb).zip(&keys_exprs) {
                    let order = ordering(x, y);
                    // Empty keys come first in both directions.
                    let both = !x.is_empty() && !y.is_empty();
                    let order = if *descending && both {
                        order.reverse()
                    } else {
                        order
                    };
                    if order != Ordering::Equal {
                        return order;
                    }
                }
                Ordering::Equal
            });
            if let Some(e) = failure {
                return Err(e);
            }
            keyed.into_iter().map(|(_, item)| item).collect()
        }
        _ => return Ok(None),
    }))
}

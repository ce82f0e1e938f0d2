//! The binary operators: three-valued logic, equality and equivalence, comparison, arithmetic,
//! union and membership.

use std::cmp::Ordering;

use super::ast::{BinaryOp, Expr};
use super::datetime::{PartialTemporal, TemporalKind};
use super::decimal::Decimal;
use super::eval::{Collection, Result, Scope, error, eval, singleton, to_boolean};
use super::item::Item;
use super::quantity::Quantity;

fn boolean<'a>(value: Option<bool>) -> Collection<'a> {
    value.map(Item::Boolean).into_iter().collect()
}

pub(crate) fn binary<'a>(
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
                        Item::Quantity(Quantity {
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
                Item::Quantity(Quantity {
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
            let parsed =
                PartialTemporal::parse_date_time(y).or_else(|| PartialTemporal::parse_time(y));
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

//! Math functions, boundaries and precision.

use super::arg;
use crate::fhirpath::ast::Expr;
use crate::fhirpath::decimal::Decimal;
use crate::fhirpath::eval::{Collection, Result, Scope, error, singleton};
use crate::fhirpath::item::Item;
use crate::fhirpath::operators::as_decimal;

fn float<'a>(value: f64) -> Collection<'a> {
    Decimal::from_f64(value)
        .map(Item::Decimal)
        .into_iter()
        .collect()
}

pub(crate) fn call<'a>(
    name: &str,
    input: &[Item<'a>],
    args: &[Expr],
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Option<Collection<'a>>> {
    const NAMES: [&str; 14] = [
        "abs",
        "ceiling",
        "exp",
        "floor",
        "ln",
        "log",
        "power",
        "round",
        "sqrt",
        "truncate",
        "lowBoundary",
        "highBoundary",
        "precision",
        "comparable",
    ];
    if !NAMES.contains(&name) {
        return Ok(None);
    }
    let Some(item) = singleton(input)?.map(Item::primitive) else {
        return Ok(Some(vec![]));
    };
    let int_arg = |i: usize| -> Result<Option<i64>> {
        if args.len() <= i {
            return Ok(None);
        }
        match singleton(&arg(args, i, focus, scope)?)?.map(Item::primitive) {
            Some(Item::Integer(n)) => Ok(Some(n)),
            None => Ok(None),
            Some(_) => error(format!("{name}() needs an integer")),
        }
    };
    if let Item::Quantity(q) = &item {
        return Ok(Some(match name {
            "abs" => {
                let mut q = q.clone();
                q.value = q.value.abs();
                vec![Item::Quantity(q)]
            }
            "comparable" => {
                let other = arg(args, 0, focus, scope)?;
                match singleton(&other)?.map(Item::primitive) {
                    Some(Item::Quantity(o)) => vec![Item::Boolean(q.comparable(&o))],
                    _ => vec![],
                }
            }
            "lowBoundary" | "highBoundary" => {
                let precision = int_arg(0)?.unwrap_or(8);
                boundary(q.value, name == "highBoundary", precision)
                    .map(|value| {
                        Item::Quantity(crate::fhirpath::quantity::Quantity {
                            value,
                            unit: q.unit.clone(),
                        })
                    })
                    .into_iter()
                    .collect()
            }
            _ => vec![],
        }));
    }
    if let Item::Temporal(t) = &item {
        return Ok(Some(match name {
            "precision" => vec![Item::Integer(t.digit_precision() as i64)],
            "lowBoundary" | "highBoundary" => {
                let default = match t.kind {
                    crate::fhirpath::datetime::TemporalKind::Date => 8,
                    crate::fhirpath::datetime::TemporalKind::DateTime => 17,
                    crate::fhirpath::datetime::TemporalKind::Time => 9,
                };
                let precision = int_arg(0)?.unwrap_or(default);
                t.boundary(name == "highBoundary", precision.max(0) as usize)
                    .map(Item::Temporal)
                    .into_iter()
                    .collect()
            }
            _ => vec![],
        }));
    }
    if !matches!(item, Item::Integer(_) | Item::Decimal(_)) {
        return error(format!("{name}() needs a number"));
    }
    let d = as_decimal(&item);
    let x = d.to_f64();
    Ok(Some(match name {
        "abs" => match item {
            Item::Integer(i) => i.checked_abs().map(Item::Integer).into_iter().collect(),
            _ => vec![Item::Decimal(d.abs())],
        },
        "ceiling" => integer(d.ceiling()),
        "floor" => integer(d.floor()),
        "truncate" => integer(d.truncate()),
        "round" => {
            let digits = int_arg(0)?.unwrap_or(0);
            if digits < 0 {
                return error("round() needs a precision of at least 0");
            }
            vec![Item::Decimal(d.round(digits as u32))]
        }
        "exp" => float(x.exp()),
        "ln" => float(x.ln()),
        "sqrt" => {
            if x < 0.0 {
                vec![]
            } else {
                float(x.sqrt())
            }
        }
        "log" => {
            let base = match singleton(&arg(args, 0, focus, scope)?)?.map(Item::primitive) {
                Some(b @ (Item::Integer(_) | Item::Decimal(_))) => as_decimal(&b).to_f64(),
                _ => return Ok(Some(vec![])),
            };
            float(x.ln() / base.ln())
        }
        "power" => {
            let exponent = match singleton(&arg(args, 0, focus, scope)?)?.map(Item::primitive) {
                Some(e @ (Item::Integer(_) | Item::Decimal(_))) => e,
                _ => return Ok(Some(vec![])),
            };
            if let (Item::Integer(b), Item::Integer(e)) = (&item, &exponent)
                && *e >= 0
            {
                {
                    return Ok(Some(
                        u32::try_from(*e)
                            .ok()
                            .and_then(|e| b.checked_pow(e))
                            .map(Item::Integer)
                            .into_iter()
                            .collect(),
                    ));
                }
            }
            let result = x.powf(as_decimal(&exponent).to_f64());
            if result.is_nan() {
                vec![]
            } else {
                float(result)
            }
        }
        "precision" => vec![Item::Integer(i64::from(d.scale()))],
        "lowBoundary" | "highBoundary" => {
            let precision = int_arg(0)?.unwrap_or(8);
            boundary(d, name == "highBoundary", precision)
                .map(Item::Decimal)
                .into_iter()
                .collect()
        }
        _ => vec![],
    }))
}

/// An integral result as an Integer (`ceiling`, `floor`, `truncate`).
fn integer<'a>(d: Decimal) -> Collection<'a> {
    vec![d.to_integer().map_or(Item::Decimal(d), Item::Integer)]
}

/// The least (`high` false) or greatest value a decimal may stand for given its written
/// digits, with `precision` fractional digits: half a unit of the last written digit either way,
/// floored or ceiled to the precision. A value entirely below the precision (`0.0034` at 1
/// digit) has no known digit there, so its boundary is zero.
fn boundary(d: Decimal, high: bool, precision: i64) -> Option<Decimal> {
    if !(0..=28).contains(&precision) {
        return None;
    }
    let p = precision as u32;
    let unit = Decimal::from_i64(1).divide(Decimal::from_i64(10i64.pow(p.min(18))))?;
    if !d.is_zero() && d.abs() < unit && d.scale() > p {
        return Some(Decimal::from_i64(0).with_scale(p));
    }
    let half = Decimal::parse(&format!("0.{}5", "0".repeat(d.scale() as usize)))?;
    let edge = if high { d.plus(half)? } else { d.minus(half)? };
    let factor = Decimal::from_i64(10i64.pow(p.min(18)));
    let scaled = edge.times(factor)?;
    let cut = if high {
        scaled.ceiling()
    } else {
        scaled.floor()
    };
    Some(cut.divide(factor)?.with_scale(p))
}

//! `iif` and the conversion functions (`toX`, `convertsToX`).

use super::arg;
use crate::fhirpath::ast::Expr;
use crate::fhirpath::datetime::{PartialTemporal, TemporalKind};
use crate::fhirpath::decimal::Decimal;
use crate::fhirpath::eval::{Collection, Result, Scope, error, eval, singleton};
use crate::fhirpath::item::Item;
use crate::fhirpath::quantity::Quantity;

/// Converts one System value to the target type; `None` when it does not convert.
fn convert<'a>(item: &Item<'a>, target: &str) -> Option<Item<'a>> {
    let item = item.primitive();
    match (target, &item) {
        ("Boolean", Item::Boolean(_)) => Some(item),
        ("Boolean", Item::Integer(i)) if *i == 0 || *i == 1 => Some(Item::Boolean(*i == 1)),
        ("Boolean", Item::Decimal(d)) => match d.to_integer() {
            Some(0) => Some(Item::Boolean(false)),
            Some(1) => Some(Item::Boolean(true)),
            _ => None,
        },
        ("Boolean", Item::String(s)) => match s.to_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Item::Boolean(true)),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Some(Item::Boolean(false)),
            _ => None,
        },
        ("Integer", Item::Integer(_)) => Some(item),
        ("Integer", Item::Boolean(b)) => Some(Item::Integer(i64::from(*b))),
        ("Integer", Item::String(s)) => {
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok().map(Item::Integer)
        }
        ("Decimal", Item::Integer(i)) => Some(Item::Decimal(Decimal::from_i64(*i))),
        ("Decimal", Item::Decimal(_)) => Some(item),
        ("Decimal", Item::Boolean(b)) => Some(Item::Decimal(Decimal::from_i64(i64::from(*b)))),
        ("Decimal", Item::String(s)) => {
            if s.contains(['e', 'E']) {
                return None;
            }
            Decimal::parse(s).map(Item::Decimal)
        }
        ("String", Item::Node(_)) => None,
        ("String", Item::String(_)) => Some(item),
        ("String", Item::Boolean(b)) => Some(Item::String(b.to_string())),
        ("String", Item::Integer(i)) => Some(Item::String(i.to_string())),
        ("String", Item::Decimal(d)) => Some(Item::String(d.to_string())),
        ("String", Item::Temporal(t)) => Some(Item::String(t.to_string())),
        ("String", Item::Quantity(q)) => Some(Item::String(q.to_string())),
        ("Date", Item::Temporal(t)) if t.kind != TemporalKind::Time => {
            let mut t = *t;
            t.kind = TemporalKind::Date;
            t.precision = t.precision.min(3);
            t.offset = None;
            Some(Item::Temporal(t))
        }
        ("Date", Item::String(s)) => PartialTemporal::parse_date_time(s).map(|mut t| {
            t.kind = TemporalKind::Date;
            t.precision = t.precision.min(3);
            t.offset = None;
            Item::Temporal(t)
        }),
        ("DateTime", Item::Temporal(t)) if t.kind != TemporalKind::Time => {
            let mut t = *t;
            t.kind = TemporalKind::DateTime;
            Some(Item::Temporal(t))
        }
        ("DateTime", Item::String(s)) => PartialTemporal::parse_date_time(s).map(|mut t| {
            t.kind = TemporalKind::DateTime;
            Item::Temporal(t)
        }),
        ("Time", Item::Temporal(t)) if t.kind == TemporalKind::Time => Some(item.clone()),
        ("Time", Item::String(s)) => PartialTemporal::parse_time(s).map(Item::Temporal),
        ("Quantity", Item::Quantity(_)) => Some(item),
        ("Quantity", Item::Integer(_) | Item::Decimal(_)) => Some(Item::Quantity(Quantity::new(
            crate::fhirpath::operators::as_decimal(&item),
            "1",
        ))),
        ("Quantity", Item::Boolean(b)) => Some(Item::Quantity(Quantity::new(
            Decimal::parse(if *b { "1.0" } else { "0.0" })?,
            "1",
        ))),
        ("Quantity", Item::String(s)) => parse_quantity(s).map(Item::Quantity),
        _ => None,
    }
}

/// Reads `5 'mg'`, `4 days` or `1` (unit `1`); other units must be quoted.
fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let (number, unit) = match s.find(' ') {
        Some(at) => (&s[..at], s[at + 1..].trim()),
        None => (s, ""),
    };
    if number.starts_with('+') || number.ends_with('.') {
        return None;
    }
    let value = Decimal::parse(number)?;
    if unit.is_empty() {
        return Some(Quantity::new(value, "1"));
    }
    if let Some(quoted) = unit.strip_prefix('\'').and_then(|u| u.strip_suffix('\'')) {
        return Some(Quantity::new(value, quoted));
    }
    Quantity::calendar_unit(unit).map(|u| Quantity::new(value, u))
}

pub(crate) fn call<'a>(
    name: &str,
    input: &[Item<'a>],
    args: &[Expr],
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Option<Collection<'a>>> {
    if name == "iif" {
        if input.len() > 1 {
            return error("iif() on several items");
        }
        let Some(criterion) = args.first() else {
            return error("iif() needs a criterion");
        };
        // The criterion sees the input as $this.
        let mut inner = scope.clone();
        if let Some(item) = input.first() {
            inner.this = Some(item.clone());
        }
        let condition = eval(
            criterion,
            input.first().map_or(focus, std::slice::from_ref),
            &inner,
        )?;
        let value = match singleton(&condition)?.map(Item::primitive) {
            None => None,
            Some(Item::Boolean(b)) => Some(b),
            Some(_) => return error("iif() criterion is not a boolean"),
        };
        let branch_focus = input.first().map_or(focus, std::slice::from_ref);
        return Ok(Some(if value == Some(true) {
            arg(args, 1, branch_focus, &inner)?
        } else if args.len() > 2 {
            arg(args, 2, branch_focus, &inner)?
        } else {
            vec![]
        }));
    }
    let (converts, target) = if let Some(t) = name.strip_prefix("convertsTo") {
        (true, t)
    } else if let Some(t) = name.strip_prefix("to") {
        (false, t)
    } else {
        return Ok(None);
    };
    if !matches!(
        target,
        "Boolean" | "Integer" | "Decimal" | "String" | "Date" | "DateTime" | "Time" | "Quantity"
    ) {
        return Ok(None);
    }
    let Some(item) = singleton(input)? else {
        return Ok(Some(vec![]));
    };
    let mut converted = convert(item, target);
    if target == "Quantity" && !args.is_empty() {
        // toQuantity(unit): only the same unit is supported without a UCUM library.
        let unit = arg(args, 0, focus, scope)?;
        if let (Some(Item::Quantity(q)), Some(Item::String(u))) =
            (&converted, unit.first().map(Item::primitive))
            && q.unit != u
        {
            converted = None;
        }
    }
    Ok(Some(if converts {
        vec![Item::Boolean(converted.is_some())]
    } else {
        converted.into_iter().collect()
    }))
}

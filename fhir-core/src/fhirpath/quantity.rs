//! Quantities with UCUM units, for the simple cases: the common metric prefixes of metre, gram,
//! litre and second, the UCUM time units and customary inch/foot/pound, combined with `.`, `/`
//! and exponents. Calendar durations (`4 days`) equal their UCUM counterparts from weeks down;
//! `year` and `month` are only comparable to themselves, because `'a'` and `'mo'` are
//! average lengths rather than calendar ones.

use std::collections::BTreeMap;
use std::fmt;

use super::decimal::Decimal;

/// A value with a unit (UCUM code or calendar keyword).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// The numeric value.
    pub value: Decimal,
    /// The unit: a UCUM code, or a calendar keyword in singular form (`day`).
    pub unit: String,
}

/// A unit reduced to base units: a factor and the exponent of each base unit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Canonical {
    pub factor: Decimal,
    pub dimensions: BTreeMap<&'static str, i32>,
}

const CALENDAR: [(&str, &str); 16] = [
    ("year", "year"),
    ("years", "year"),
    ("month", "month"),
    ("months", "month"),
    ("week", "week"),
    ("weeks", "week"),
    ("day", "day"),
    ("days", "day"),
    ("hour", "hour"),
    ("hours", "hour"),
    ("minute", "minute"),
    ("minutes", "minute"),
    ("second", "second"),
    ("seconds", "second"),
    ("millisecond", "millisecond"),
    ("milliseconds", "millisecond"),
];

fn dec(text: &str) -> Decimal {
    Decimal::parse(text).expect("valid constant")
}

impl Quantity {
    /// A quantity; calendar keywords are stored in singular form.
    pub fn new(value: Decimal, unit: &str) -> Quantity {
        let unit = Quantity::calendar_unit(unit).unwrap_or(unit).to_string();
        Quantity { value, unit }
    }

    /// The singular calendar keyword of `word` (`days` → `day`).
    pub fn calendar_unit(word: &str) -> Option<&'static str> {
        CALENDAR.iter().find(|(w, _)| *w == word).map(|(_, u)| *u)
    }

    /// `true` when the unit is a calendar keyword.
    pub fn is_calendar(&self) -> bool {
        Quantity::calendar_unit(&self.unit).is_some()
    }

    /// The calendar unit to add to a date: calendar keywords, and the UCUM units of fixed
    /// length (`'d'`, `'wk'`, `'h'`, …). `'a'` and `'mo'` have no calendar meaning.
    pub fn date_unit(&self) -> Option<&'static str> {
        if let Some(unit) = Quantity::calendar_unit(&self.unit) {
            return Some(unit);
        }
        Some(match self.unit.as_str() {
            "wk" => "week",
            "d" => "day",
            "h" => "hour",
            "min" => "minute",
            "s" => "second",
            "ms" => "millisecond",
            _ => return None,
        })
    }

    pub(crate) fn canonical(&self) -> Option<(Decimal, Canonical)> {
        let canonical = canonical_unit(&self.unit)?;
        Some((self.value.times(canonical.factor)?, canonical))
    }

    /// Compares by value in base units; `None` when the units are not comparable.
    pub fn compare(&self, other: &Quantity) -> Option<std::cmp::Ordering> {
        if self.unit == other.unit {
            return Some(self.value.cmp(&other.value));
        }
        let (a, unit_a) = self.canonical()?;
        let (b, unit_b) = other.canonical()?;
        (unit_a.dimensions == unit_b.dimensions).then(|| a.cmp(&b))
    }

    /// `true` when the two units measure the same dimension.
    pub fn comparable(&self, other: &Quantity) -> bool {
        self.compare(other).is_some()
    }

    /// Product or quotient, in base units.
    pub fn multiply(&self, other: &Quantity, divide: bool) -> Option<Quantity> {
        let (a, unit_a) = self.canonical()?;
        let (b, unit_b) = other.canonical()?;
        let mut dimensions = unit_a.dimensions.clone();
        for (name, exponent) in unit_b.dimensions {
            *dimensions.entry(name).or_insert(0) += if divide { -exponent } else { exponent };
        }
        dimensions.retain(|_, e| *e != 0);
        let value = if divide { a.divide(b)? } else { a.times(b)? };
        Some(Quantity {
            value,
            unit: unit_text(&dimensions),
        })
    }
}

fn unit_text(dimensions: &BTreeMap<&'static str, i32>) -> String {
    let part = |positive: bool| {
        dimensions
            .iter()
            .filter(|(_, e)| (**e > 0) == positive)
            .map(|(n, e)| {
                let e = e.abs();
                if e == 1 {
                    n.to_string()
                } else {
                    format!("{n}{e}")
                }
            })
            .collect::<Vec<_>>()
            .join(".")
    };
    let (numerator, denominator) = (part(true), part(false));
    match (numerator.is_empty(), denominator.is_empty()) {
        (true, true) => "1".to_string(),
        (false, true) => numerator,
        (true, false) => format!("1/{denominator}"),
        (false, false) => format!("{numerator}/{denominator}"),
    }
}

/// One UCUM atom (with prefix) in base units.
fn atom(symbol: &str) -> Option<(Decimal, &'static str, i32)> {
    let fixed = match symbol {
        "1" => Some(("1", "", 0)),
        "%" => Some(("0.01", "", 0)),
        "[in_i]" => Some(("0.0254", "m", 1)),
        "[ft_i]" => Some(("0.3048", "m", 1)),
        "[lb_av]" => Some(("453.59237", "g", 1)),
        "min" => Some(("60", "s", 1)),
        "h" => Some(("3600", "s", 1)),
        "d" => Some(("86400", "s", 1)),
        "wk" => Some(("604800", "s", 1)),
        "mo" => Some(("2629800", "s", 1)),
        "a" => Some(("31557600", "s", 1)),
        "week" => Some(("604800", "s", 1)),
        "day" => Some(("86400", "s", 1)),
        "hour" => Some(("3600", "s", 1)),
        "minute" => Some(("60", "s", 1)),
        "second" => Some(("1", "s", 1)),
        "millisecond" => Some(("0.001", "s", 1)),
        "year" => Some(("1", "year", 1)),
        "month" => Some(("1", "month", 1)),
        "L" | "l" => Some(("0.001", "m", 3)),
        _ => None,
    };
    if let Some((factor, base, exponent)) = fixed {
        return Some((dec(factor), base, exponent));
    }
    let bases: [(&str, &'static str, i32, &str); 4] = [
        ("m", "m", 1, "1"),
        ("g", "g", 1, "1"),
        ("s", "s", 1, "1"),
        ("L", "m", 3, "0.001"),
    ];
    let prefixes = [
        ("", "1"),
        ("k", "1000"),
        ("h", "100"),
        ("da", "10"),
        ("d", "0.1"),
        ("c", "0.01"),
        ("m", "0.001"),
        ("u", "0.000001"),
        ("n", "0.000000001"),
        ("p", "0.000000000001"),
    ];
    for (base_symbol, base, exponent, base_factor) in bases {
        let Some(prefix) = symbol.strip_suffix(base_symbol) else {
            continue;
        };
        let Some((_, prefix_factor)) = prefixes.iter().find(|(p, _)| *p == prefix) else {
            continue;
        };
        // The prefix scales the unit once (a millilitre is a thousandth of a litre).
        let factor = dec(prefix_factor).times(dec(base_factor))?;
        return Some((factor, base, exponent));
    }
    None
}

/// Parses a UCUM expression of atoms joined by `.` and `/`, each with an optional integer
/// exponent (`m2`, `g/m`, `kg.m/s2`).
pub(crate) fn canonical_unit(unit: &str) -> Option<Canonical> {
    let mut factor = dec("1");
    let mut dimensions = BTreeMap::new();
    let mut divide = false;
    let mut rest = unit;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest.find(['.', '/']).unwrap_or(rest.len());
        let term = &rest[..end];
        let digits_at = term
            .rfind(|c: char| !c.is_ascii_digit() && c != '-')
            .map_or(0, |i| i + 1);
        let (symbol, exponent) = if digits_at > 0 && digits_at < term.len() {
            (&term[..digits_at], term[digits_at..].parse::<i32>().ok()?)
        } else {
            (term, 1)
        };
        // Real units have small exponents; a bound keeps hostile ones (`m999999999`) cheap.
        if !(-9..=9).contains(&exponent) {
            return None;
        }
        let (atom_factor, base, base_exponent) = atom(symbol)?;
        let sign = if divide { -1 } else { 1 };
        for _ in 0..exponent.abs() {
            factor = if divide == (exponent > 0) {
                factor.divide(atom_factor)?
            } else {
                factor.times(atom_factor)?
            };
        }
        if !base.is_empty() {
            *dimensions.entry(base).or_insert(0) += sign * exponent * base_exponent;
        }
        if end < rest.len() {
            divide = &rest[end..=end] == "/";
            rest = &rest[end + 1..];
        } else {
            rest = "";
        }
    }
    dimensions.retain(|_, e| *e != 0);
    Some(Canonical { factor, dimensions })
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_calendar() {
            write!(f, "{} {}", self.value, self.unit)
        } else {
            write!(f, "{} '{}'", self.value, self.unit)
        }
    }
}

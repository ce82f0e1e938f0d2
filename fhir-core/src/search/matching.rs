//! Exact matching of search values against extracted values.
//!
//! [`matches()`] decides whether the values a resource gives for a parameter ([`IndexValue`]s)
//! satisfy one parsed [`SearchValue`]; [`matches_condition`] applies the OR of a condition's
//! values (and the AND that `:not` implies).
//!
//! Decisions beyond the specification's text:
//! - **string**: the default match is "the normalised value starts with the normalised search
//!   text" ([`crate::search::normalize_string`]: lower case, accents removed, whitespace
//!   collapsed); `:exact` compares the texts as they are; `:contains` is a normalised substring
//!   match.
//! - **token**: codes and systems compare case-sensitively (the specification allows code
//!   systems to say otherwise; none is special-cased). `:text` matches when a normalised text
//!   (`Coding.display`, `CodeableConcept.text`, `Identifier.type.text`) starts with the
//!   normalised search text, or has a word that starts with it. `:not` matches a resource when
//!   none of its values match (so also one without any value). String and uri values count as
//!   codes without a system.
//! - **reference**: `id` matches any type; `Type/id` needs that type; an absolute URL matches the
//!   same URL, or a relative reference with the type and id at the end of the URL (the server's
//!   own base is not checked); the `|version` of a canonical is not checked (the index keeps
//!   none); an indexed reference without a type does not match a search that names one.
//! - **number** and **quantity**: exact decimal arithmetic on the texts. The search value has the
//!   implicit range of its precision (`100` is `[99.5, 100.5)`, `100.00` is
//!   `[99.995, 100.005)`, `1e2` is `[50, 150)`: half a unit of the last written digit); the
//!   target is the exact value it gives. `eq`/`ne`: within the range or not; `gt`, `lt`, `ge`,
//!   `le`: compare with the exact value; `sa`: at or above the range's end; `eb`: below its
//!   start; `ap`: within the range widened by 10 % of the value (computed in `f64`).
//!   Quantities compare values only when the system and code agree; without a system the code
//!   may match `Quantity.code` or `Quantity.unit`; there is no unit conversion (no UCUM).
//! - **date**: the search range `[s, e)` against the target range `[ts, te)`: `eq` target
//!   within the search range; `ne` not; `gt` `te > e`; `lt` `ts < s`; `ge` `gt` or `eq`; `le`
//!   `lt` or `eq`; `sa` `ts >= e`; `eb` `te <= s`; `ap` the ranges overlap once the search
//!   range is widened on both sides by 10 % of the time between now and the search value (at
//!   least a day).
//! - **uri**: exact; `:below` the indexed uri starts with the search uri; `:above` the search
//!   uri starts with the indexed uri (plain prefixes, not path-segment aware).
//! - **near**: great-circle (haversine) distance at most the given distance.

use std::cmp::Ordering;

use crate::search::query::{Modifier, Prefix, SearchValue};
use crate::search::{IndexValue, ParamType};

#[cfg(test)]
mod tests;

/// See [`crate::search::normalize_string`]: lower case, accents and other combining marks
/// removed (with a compact folding of Latin-1 Supplement and Latin Extended-A/B: `é`→`e`,
/// `ß`→`ss`, `æ`→`ae`, `ø`→`o` …), whitespace runs collapsed to one space, trimmed.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if is_combining(c) {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        match fold(c) {
            Some(folded) => out.push_str(folded),
            None => out.extend(c.to_lowercase().filter(|c| !is_combining(*c))),
        }
    }
    out
}

/// Combining marks (diacritics written as separate characters).
fn is_combining(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Latin Extended-A (U+0100–U+017F), one base letter per code point; `#` marks the ligatures
/// handled apart (Ĳ ĳ Œ œ).
const LATIN_EXTENDED_A: &[u8; 128] = b"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii##jjkkkllllllllllnnnnnnnnnoooooo##rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/// The lower-case, accent-free spelling of a Latin letter with a diacritic or a ligature.
fn fold(c: char) -> Option<&'static str> {
    const LETTERS: [&str; 26] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    let letter = |b: u8| LETTERS.get(usize::from(b.checked_sub(b'a')?)).copied();
    Some(match c {
        'À'..='Å' | 'à'..='å' => "a",
        'Æ' | 'æ' => "ae",
        'Ç' | 'ç' => "c",
        'È'..='Ë' | 'è'..='ë' => "e",
        'Ì'..='Ï' | 'ì'..='ï' => "i",
        'Ð' | 'ð' => "d",
        'Ñ' | 'ñ' => "n",
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' => "o",
        'Ù'..='Ü' | 'ù'..='ü' => "u",
        'Ý' | 'ý' | 'ÿ' => "y",
        'Þ' | 'þ' => "th",
        'ß' | 'ẞ' => "ss",
        'Ĳ' | 'ĳ' => "ij",
        'Œ' | 'œ' => "oe",
        '\u{0100}'..='\u{017F}' => return letter(LATIN_EXTENDED_A[c as usize - 0x100]),
        'ƀ' | 'Ɓ' | 'Ƃ' | 'ƃ' | 'Ƀ' => "b",
        'Ƈ' | 'ƈ' | 'Ȼ' | 'ȼ' => "c",
        'Ɖ' | 'Ɗ' | 'Ƌ' | 'ƌ' | 'ȡ' => "d",
        'Ǆ' | 'ǅ' | 'ǆ' | 'Ǳ' | 'ǲ' | 'ǳ' => "dz",
        'Ǝ' | 'ǝ' | 'Ɛ' | 'Ɇ' | 'ɇ' => "e",
        'Ƒ' | 'ƒ' => "f",
        'Ɠ' | 'Ǥ' | 'ǥ' | 'Ǧ' | 'ǧ' | 'Ǵ' | 'ǵ' => "g",
        'Ȟ' | 'ȟ' => "h",
        'Ɨ' | 'Ǐ' | 'ǐ' => "i",
        'ǰ' | 'ȷ' | 'Ɉ' | 'ɉ' => "j",
        'Ƙ' | 'ƙ' | 'Ǩ' | 'ǩ' => "k",
        'ƚ' | 'ȴ' | 'Ƚ' => "l",
        'Ǉ' | 'ǈ' | 'ǉ' => "lj",
        'Ɲ' | 'ƞ' | 'Ƞ' | 'ȵ' | 'Ǹ' | 'ǹ' => "n",
        'Ǌ' | 'ǋ' | 'ǌ' => "nj",
        'Ɵ' | 'Ơ' | 'ơ' | 'Ǒ' | 'ǒ' | 'Ǫ' | 'ǫ' | 'Ǭ' | 'ǭ' | 'Ǿ' | 'ǿ' => "o",
        '\u{022A}'..='\u{0231}' | '\u{020C}'..='\u{020F}' => "o",
        'Ƥ' | 'ƥ' => "p",
        'Ɋ' | 'ɋ' => "q",
        '\u{0210}'..='\u{0213}' | 'Ɍ' | 'ɍ' => "r",
        'Ș' | 'ș' | 'ȿ' => "s",
        'ƫ' | 'Ƭ' | 'ƭ' | 'Ʈ' | 'Ț' | 'ț' | 'ȶ' | 'Ⱦ' => "t",
        'Ư' | 'ư' | '\u{01D3}'..='\u{01DC}' | '\u{0214}'..='\u{0217}' | 'Ʉ' => "u",
        'Ʋ' => "v",
        'Ƴ' | 'ƴ' | 'Ȳ' | 'ȳ' | 'Ɏ' | 'ɏ' => "y",
        'Ƶ' | 'ƶ' | 'Ȥ' | 'ȥ' | 'ɀ' => "z",
        'Ǎ'
        | 'ǎ'
        | '\u{01DE}'..='\u{01E1}'
        | 'Ǻ'
        | 'ǻ'
        | '\u{0200}'..='\u{0203}'
        | 'Ȧ'
        | 'ȧ'
        | 'Ⱥ' => "a",
        'Ǣ' | 'ǣ' | 'Ǽ' | 'ǽ' => "ae",
        '\u{0204}'..='\u{0207}' | 'Ȩ' | 'ȩ' => "e",
        '\u{0208}'..='\u{020B}' => "i",
        _ => return None,
    })
}

/// Whether a resource whose parameter has the extracted values `indexed` satisfies one search
/// value (see the module documentation for the exact rules).
///
/// `:not` is applied here for one value: the resource matches when none of its values match.
/// For several values of one `:not` condition use [`matches_condition`].
pub fn matches(
    path_leaf_type: ParamType,
    modifier: Option<&Modifier>,
    value: &SearchValue,
    indexed: &[IndexValue],
) -> bool {
    matches_at(
        path_leaf_type,
        modifier,
        value,
        indexed,
        crate::time::now_millis(),
    )
}

/// Whether a resource satisfies a condition's values: one of them ([`matches()`]), or, for
/// `:not`, none of them (`code:not=a,b` excludes both `a` and `b`).
pub fn matches_condition(
    path_leaf_type: ParamType,
    modifier: Option<&Modifier>,
    values: &[SearchValue],
    indexed: &[IndexValue],
) -> bool {
    let now = crate::time::now_millis();
    if modifier == Some(&Modifier::Not) {
        return values
            .iter()
            .all(|value| matches_at(path_leaf_type, modifier, value, indexed, now));
    }
    values
        .iter()
        .any(|value| matches_at(path_leaf_type, modifier, value, indexed, now))
}

/// [`matches`] with the current time given (for `ap` on dates).
pub(crate) fn matches_at(
    path_leaf_type: ParamType,
    modifier: Option<&Modifier>,
    value: &SearchValue,
    indexed: &[IndexValue],
    now: i64,
) -> bool {
    // The variant of the value carries its type; the leaf type is for callers' symmetry.
    let _ = path_leaf_type;
    match value {
        SearchValue::Missing(missing) => indexed.is_empty() == *missing,
        _ if modifier == Some(&Modifier::Not) => !indexed
            .iter()
            .any(|item| matches_one(None, value, item, now)),
        _ => indexed
            .iter()
            .any(|item| matches_one(modifier, value, item, now)),
    }
}

/// One search value against one extracted value.
fn matches_one(
    modifier: Option<&Modifier>,
    value: &SearchValue,
    item: &IndexValue,
    now: i64,
) -> bool {
    match value {
        SearchValue::Missing(_) => false,
        SearchValue::String(search) => {
            let IndexValue::String(text) = item else {
                return false;
            };
            match modifier {
                Some(Modifier::Exact) => text == search,
                Some(Modifier::Contains) => normalize(text).contains(&normalize(search)),
                _ => normalize(text).starts_with(&normalize(search)),
            }
        }
        SearchValue::Token {
            system,
            code,
            value,
        } => match modifier {
            Some(Modifier::Text) => {
                let (IndexValue::Token { text, .. }, Some(search)) = (item, code) else {
                    return false;
                };
                let search = normalize(search);
                text.iter().any(|t| text_matches(&normalize(t), &search))
            }
            Some(Modifier::OfType) => {
                let IndexValue::Token {
                    code: item_value,
                    of_type,
                    ..
                } = item
                else {
                    return false;
                };
                item_value.is_some() && item_value == value && {
                    of_type.iter().any(|(item_system, item_code)| {
                        system_matches(system.as_ref(), item_system.as_deref()) && item_code == code
                    })
                }
            }
            Some(Modifier::In | Modifier::NotIn | Modifier::Above | Modifier::Below) => false,
            _ => {
                let (item_system, item_code) = match item {
                    IndexValue::Token { system, code, .. } => (system.as_deref(), code.as_deref()),
                    IndexValue::String(text) | IndexValue::Uri(text) => (None, Some(text.as_str())),
                    _ => return false,
                };
                system_matches(system.as_ref(), item_system)
                    && code.as_deref().is_none_or(|code| item_code == Some(code))
            }
        },
        SearchValue::Reference {
            resource_type,
            id,
            url,
            identifier,
            ..
        } => {
            if let Some((system, search_value)) = identifier {
                let IndexValue::Reference {
                    identifier: Some((item_system, item_value)),
                    ..
                } = item
                else {
                    return false;
                };
                return system_matches(system.as_ref(), item_system.as_deref())
                    && search_value
                        .as_ref()
                        .is_none_or(|v| item_value.as_ref() == Some(v));
            }
            let (item_type, item_id, item_url) = match item {
                IndexValue::Reference {
                    resource_type,
                    id,
                    url,
                    ..
                } => (resource_type.as_deref(), id.as_deref(), url.as_deref()),
                IndexValue::Uri(uri) => (None, None, Some(uri.as_str())),
                _ => return false,
            };
            let same_target = || {
                id.is_some()
                    && item_id == id.as_deref()
                    && resource_type
                        .as_deref()
                        .is_none_or(|t| item_type == Some(t))
            };
            match url {
                Some(url) => {
                    item_url == Some(url.as_str())
                        || (item_url.is_none() && resource_type.is_some() && same_target())
                }
                None => same_target(),
            }
        }
        SearchValue::Uri(search) => {
            let text = match item {
                IndexValue::Uri(text) | IndexValue::String(text) => text.as_str(),
                IndexValue::Reference { url: Some(url), .. } => url.as_str(),
                _ => return false,
            };
            match modifier {
                Some(Modifier::Above) => search.starts_with(text),
                Some(Modifier::Below) => text.starts_with(search.as_str()),
                _ => text == search,
            }
        }
        SearchValue::Date { prefix, start, end } => {
            let IndexValue::Date {
                start: target_start,
                end: target_end,
            } = item
            else {
                return false;
            };
            date_matches(*prefix, (*start, *end), (*target_start, *target_end), now)
        }
        SearchValue::Number { prefix, value } => {
            let IndexValue::Number(target) = item else {
                return false;
            };
            number_matches(*prefix, value, target)
        }
        SearchValue::Quantity {
            prefix,
            value,
            system,
            code,
        } => {
            let IndexValue::Quantity {
                value: target,
                system: item_system,
                code: item_code,
                unit: item_unit,
            } = item
            else {
                return false;
            };
            let units = match (system, code) {
                (Some(system), code) => {
                    item_system.as_ref() == Some(system)
                        && code.as_ref().is_none_or(|c| item_code.as_ref() == Some(c))
                }
                (None, Some(code)) => {
                    item_code.as_ref() == Some(code) || item_unit.as_ref() == Some(code)
                }
                (None, None) => true,
            };
            units && number_matches(*prefix, value, target)
        }
        SearchValue::Composite(parts) => {
            let IndexValue::Composite(components) = item else {
                return false;
            };
            components.len() == parts.len()
                && parts
                    .iter()
                    .zip(components)
                    .all(|(part, values)| values.iter().any(|v| matches_one(None, part, v, now)))
        }
        SearchValue::Near {
            latitude,
            longitude,
            distance_km,
        } => {
            let IndexValue::Position {
                latitude: item_latitude,
                longitude: item_longitude,
            } = item
            else {
                return false;
            };
            haversine_km((*latitude, *longitude), (*item_latitude, *item_longitude)) <= *distance_km
        }
    }
}

/// The system part of a token: `None` any system, `Some(None)` no system, `Some(Some(s))` `s`.
fn system_matches(search: Option<&Option<String>>, item: Option<&str>) -> bool {
    match search {
        None => true,
        Some(None) => item.is_none(),
        Some(Some(system)) => item == Some(system.as_str()),
    }
}

/// `:text`: the normalised text starts with the search text, or one of its words does.
fn text_matches(text: &str, search: &str) -> bool {
    if search.is_empty() {
        return false;
    }
    let mut previous_alphanumeric = false;
    for (i, c) in text.char_indices() {
        if !previous_alphanumeric && text[i..].starts_with(search) {
            return true;
        }
        previous_alphanumeric = c.is_alphanumeric();
    }
    false
}

/// The date prefixes: the search range `[s, e)` against the target range `[ts, te)`.
fn date_matches(prefix: Prefix, (s, e): (i64, i64), (ts, te): (i64, i64), now: i64) -> bool {
    let eq = s <= ts && te <= e;
    match prefix {
        Prefix::Eq => eq,
        Prefix::Ne => !eq,
        Prefix::Gt => te > e,
        Prefix::Lt => ts < s,
        Prefix::Ge => te > e || eq,
        Prefix::Le => ts < s || eq,
        Prefix::Sa => ts >= e,
        Prefix::Eb => te <= s,
        Prefix::Ap => {
            const DAY: i64 = 86_400_000;
            let gap = (i128::from(now) - i128::from(s)).unsigned_abs() / 10;
            let margin = i64::try_from(gap).unwrap_or(i64::MAX).max(DAY);
            ts < e.saturating_add(margin) && te > s.saturating_sub(margin)
        }
    }
}

/// The number prefixes, the search value with its implicit range, the target exact.
fn number_matches(prefix: Prefix, search: &str, target: &str) -> bool {
    let (Some(value), Some(target)) = (Decimal::parse(search), Decimal::parse(target)) else {
        return false;
    };
    let (low, high) = value.range();
    let eq = low.compare(&target) != Ordering::Greater && target.compare(&high) == Ordering::Less;
    match prefix {
        Prefix::Eq => eq,
        Prefix::Ne => !eq,
        Prefix::Gt => target.compare(&value) == Ordering::Greater,
        Prefix::Lt => target.compare(&value) == Ordering::Less,
        Prefix::Ge => target.compare(&value) != Ordering::Less,
        Prefix::Le => target.compare(&value) != Ordering::Greater,
        Prefix::Sa => target.compare(&high) != Ordering::Less,
        Prefix::Eb => target.compare(&low) == Ordering::Less,
        Prefix::Ap => {
            let (Some(v), Some(l), Some(h), Some(t)) =
                (value.to_f64(), low.to_f64(), high.to_f64(), target.to_f64())
            else {
                return false;
            };
            let margin = v.abs() / 10.0;
            l - margin <= t && t < h + margin
        }
    }
}

/// An exact decimal: `(-1)^negative × digits × 10^exponent`, `digits` without leading zeros
/// (empty for zero).
#[derive(Debug, Clone)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// Parses a decimal with an optional exponent (`-1.50`, `1e2`); the written digits are kept
    /// (trailing zeros give the precision).
    fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
            None => (text, 0),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if integer.is_empty()
            || !integer.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || exponent.abs() > 1_000_000
        {
            return None;
        }
        let digits: Vec<u8> = integer
            .bytes()
            .chain(fraction.bytes())
            .map(|b| b - b'0')
            .skip_while(|d| *d == 0)
            .collect();
        Some(Decimal {
            negative: negative && !digits.is_empty(),
            digits,
            exponent: exponent - fraction.len() as i64,
        })
    }

    /// `[value - h, value + h)` with `h` half a unit of the last written digit.
    fn range(&self) -> (Decimal, Decimal) {
        let exponent = self.exponent - 1;
        let mut plus = self.digits.clone();
        plus.push(5);
        let minus = if self.digits.is_empty() {
            None
        } else {
            let mut minus = self.digits.clone();
            // Decrement; the value is above zero, so there is a non-zero digit.
            for d in minus.iter_mut().rev() {
                if *d == 0 {
                    *d = 9;
                } else {
                    *d -= 1;
                    break;
                }
            }
            let mut minus: Vec<u8> = minus.into_iter().skip_while(|d| *d == 0).collect();
            minus.push(5);
            Some(minus)
        };
        let make = |negative: bool, digits: Vec<u8>| Decimal {
            negative,
            digits,
            exponent,
        };
        match (self.negative, minus) {
            (_, None) => (make(true, vec![5]), make(false, vec![5])),
            (false, Some(minus)) => (make(false, minus), make(false, plus)),
            (true, Some(minus)) => (make(true, plus), make(true, minus)),
        }
    }

    /// Digits without trailing zeros and the exponent of the first digit.
    fn canonical(&self) -> (&[u8], i64) {
        let end = self
            .digits
            .iter()
            .rposition(|d| *d != 0)
            .map_or(0, |i| i + 1);
        (
            &self.digits[..end],
            self.exponent + self.digits.len() as i64,
        )
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        let (a, a_magnitude) = self.canonical();
        let (b, b_magnitude) = other.canonical();
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        a_magnitude.cmp(&b_magnitude).then_with(|| a.cmp(b))
    }

    fn to_f64(&self) -> Option<f64> {
        let digits: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}0{digits}e{}", self.exponent).parse().ok()
    }
}

impl Decimal {
    /// Compares the values (`1.0` and `1` are equal).
    fn compare(&self, other: &Decimal) -> Ordering {
        let zero = |d: &Decimal| d.digits.iter().all(|x| *x == 0);
        let negative = |d: &Decimal| d.negative && !zero(d);
        match (negative(self), negative(other)) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

/// The great-circle distance in kilometres (mean Earth radius 6,371.0088 km).
fn haversine_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * 6_371.008_8 * a.sqrt().min(1.0).asin()
}

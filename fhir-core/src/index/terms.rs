//! How extracted values become terms of the index.
//!
//! Every exact term lives in one raw-tokenized field as `code \x1f marker \x1f payload`, so that
//! one term dictionary serves every parameter of every type: equality is a term query, a prefix
//! or an ordered range is a range over the dictionary. Numbers and instants are written as
//! order-preserving hex so that byte order is numeric order.

use crate::search::{IndexValue, normalize_string};

/// Separates the parts of a term.
pub const SEP: char = '\u{1f}';

/// The markers of the kinds of term.
pub mod marker {
    /// The parameter has at least one value (`:missing`).
    pub const PRESENT: &str = "p";
    /// A normalised string (prefix search).
    pub const STRING: &str = "s";
    /// A string as written (`:exact`).
    pub const EXACT: &str = "e";
    /// A token code, any system.
    pub const CODE: &str = "k";
    /// A token `system|code`.
    pub const SYSTEM_CODE: &str = "ks";
    /// A token system (`system|`).
    pub const SYSTEM: &str = "ky";
    /// A token code without a system (`|code`).
    pub const NO_SYSTEM_CODE: &str = "kn";
    /// A reference `Type/id`.
    pub const REF_TYPED: &str = "r";
    /// A reference id, any type.
    pub const REF_ID: &str = "ri";
    /// A reference URL (absolute, canonical, urn).
    pub const REF_URL: &str = "ru";
    /// `Reference.identifier` `system|value`.
    pub const REF_IDENT_SYSTEM_VALUE: &str = "is";
    /// `Reference.identifier` value, any system.
    pub const REF_IDENT_VALUE: &str = "iv";
    /// The start of a date range.
    pub const DATE_START: &str = "ds";
    /// The end of a date range.
    pub const DATE_END: &str = "de";
    /// A uri.
    pub const URI: &str = "u";
}

/// A term for a parameter.
pub fn term(code: &str, marker: &str, payload: &str) -> String {
    let mut text = String::with_capacity(code.len() + marker.len() + payload.len() + 2);
    text.push_str(code);
    text.push(SEP);
    text.push_str(marker);
    text.push(SEP);
    text.push_str(payload);
    text
}

/// An i64 as 16 hex digits whose byte order is numeric order.
pub fn sortable_i64(value: i64) -> String {
    format!("{:016x}", (value as u64) ^ (1 << 63))
}

/// Appends the terms of one value of parameter `code`.
pub fn value_terms(code: &str, value: &IndexValue, out: &mut Vec<String>) {
    use marker::*;
    match value {
        IndexValue::String(text) => {
            out.push(term(code, STRING, &normalize_string(text)));
            out.push(term(code, EXACT, text));
        }
        IndexValue::Token {
            system,
            code: token_code,
            ..
        } => {
            if let Some(c) = token_code {
                out.push(term(code, CODE, c));
                match system {
                    Some(s) => out.push(term(code, SYSTEM_CODE, &format!("{s}|{c}"))),
                    None => out.push(term(code, NO_SYSTEM_CODE, c)),
                }
            }
            if let Some(s) = system {
                out.push(term(code, SYSTEM, s));
            }
        }
        IndexValue::Reference {
            resource_type,
            id,
            url,
            identifier,
        } => {
            if let Some(id) = id {
                out.push(term(code, REF_ID, id));
                if let Some(t) = resource_type {
                    out.push(term(code, REF_TYPED, &format!("{t}/{id}")));
                }
            }
            if let Some(url) = url {
                out.push(term(code, REF_URL, url));
            }
            if let Some((system, Some(value))) = identifier {
                out.push(term(code, REF_IDENT_VALUE, value));
                if let Some(system) = system {
                    out.push(term(
                        code,
                        REF_IDENT_SYSTEM_VALUE,
                        &format!("{system}|{value}"),
                    ));
                }
            }
        }
        IndexValue::Date { start, end } => {
            out.push(term(code, DATE_START, &sortable_i64(*start)));
            out.push(term(code, DATE_END, &sortable_i64(*end)));
        }
        IndexValue::Uri(uri) => out.push(term(code, URI, uri)),
        // Numbers, quantities, composites and positions are narrowed by presence and decided by
        // exact matching against the resource.
        IndexValue::Number(_)
        | IndexValue::Quantity { .. }
        | IndexValue::Composite(_)
        | IndexValue::Position { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_integers_keep_their_order() {
        let values = [i64::MIN, -5_000, -1, 0, 1, 42, i64::MAX];
        let encoded: Vec<String> = values.iter().map(|v| sortable_i64(*v)).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
    }
}

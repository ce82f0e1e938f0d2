//! Checks of primitive values: the JSON type, the lexical space of the spec's regular expressions,
//! and what the regular expressions miss (integer ranges, calendar days, base64 padding, XHTML
//! safety, string length).
//!
//! The regular expressions come from the R4 definitions (the model keeps them per primitive type).
//! They are written in XML Schema syntax, where `\s` is only space, tab, line feed and carriage
//! return; they are translated to that meaning, anchored (`^(?:…)$`) and compiled once.
//!
//! A few types are checked by code instead of their regex, with the same or a stricter result
//! and less work: `string` and `markdown` (the regex accepts any non-empty text), `uri`, `url`
//! and `canonical` (no whitespace), and `base64Binary` (alphabet, length and padding).

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::model::{JsonPrimitive, Model, TypeKind, json_primitive};

/// The longest string value allowed, in characters: FHIR strings SHALL NOT exceed 1 MB.
/// `base64Binary` and `xhtml` are not limited.
pub const MAX_STRING_CHARS: usize = 1024 * 1024;

/// Whitespace as the specification's regexes and XML mean it (not the Unicode White_Space set:
/// a string of no-break spaces has content).
const XML_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// Longest part of a value quoted in a diagnostic.
const QUOTE_CHARS: usize = 64;

/// A problem found in a primitive value: the `IssueType` code and an explanation.
pub type Problem = (&'static str, String);

/// Checks one primitive value (never `null`, which the caller handles) against its type.
///
/// Returns the issue code (`structure` for a wrong JSON type, `value` for a bad value) and the
/// diagnostics.
pub fn check(type_code: &str, value: &Value) -> Result<(), Problem> {
    match (json_primitive(type_code), value) {
        (JsonPrimitive::Boolean, Value::Bool(_)) => Ok(()),
        (JsonPrimitive::Number, Value::Number(number)) => check_number(type_code, number.as_str()),
        (JsonPrimitive::String, Value::String(text)) => check_string(type_code, text),
        (expected, found) => {
            let expected = match expected {
                JsonPrimitive::Boolean => "a JSON boolean",
                JsonPrimitive::Number => "a JSON number",
                JsonPrimitive::String => "a JSON string",
            };
            Err((
                "structure",
                format!(
                    "a {type_code} must be {expected}, found {}",
                    json_kind(found)
                ),
            ))
        }
    }
}

/// The JSON kind of a value, for diagnostics.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The compiled, anchored regular expressions of the primitive types, by type name.
fn regexes() -> &'static HashMap<&'static str, Regex> {
    static REGEXES: OnceLock<HashMap<&'static str, Regex>> = OnceLock::new();
    REGEXES.get_or_init(|| {
        Model::r4()
            .types()
            .filter(|t| t.kind == TypeKind::PrimitiveType)
            .filter_map(|t| {
                let pattern = t.regex.as_deref()?;
                let regex = Regex::new(&format!("^(?:{})$", xsd_to_rust(pattern))).ok()?;
                Some((t.name.as_str(), regex))
            })
            .collect()
    })
}

/// Rewrites XML Schema `\s` and `\S` (ASCII whitespace only) for the `regex` crate, where they
/// would mean Unicode whitespace. Inside a character class the replacement is a nested class,
/// which the crate supports.
fn xsd_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push_str(r"[ \t\n\r]"),
            Some('S') => out.push_str(r"[^ \t\n\r]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push_str(r"\\"),
        }
    }
    out
}

/// Matches a value against the regex of its type; types without a regex match anything.
fn matches_regex(type_code: &str, text: &str) -> bool {
    regexes()
        .get(type_code)
        .is_none_or(|regex| regex.is_match(text))
}

fn invalid(type_code: &str, text: &str, why: &str) -> Problem {
    (
        "value",
        format!("\"{}\" is not a valid {type_code}{why}", quote(text)),
    )
}

/// The start of a value, cut at a character boundary, for diagnostics.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn check_number(type_code: &str, text: &str) -> Result<(), Problem> {
    if !matches_regex(type_code, text) {
        return Err(invalid(type_code, text, ""));
    }
    match type_code {
        "integer" | "positiveInt" | "unsignedInt" => match text.parse::<i32>() {
            Ok(_) => Ok(()),
            Err(_) => Err(invalid(
                type_code,
                text,
                ": out of range (at most 2147483647 in absolute value)",
            )),
        },
        _ => Ok(()),
    }
}

fn check_string(type_code: &str, text: &str) -> Result<(), Problem> {
    if text.is_empty() {
        return Err((
            "value",
            format!("a {type_code} must not be an empty string (omit the element instead)"),
        ));
    }
    // datatypes.html#string: no code points below 32 except tab, CR and LF (PostgreSQL's JSONB
    // would refuse \u0000 too).
    if let Some(bad) = text
        .chars()
        .find(|c| (*c as u32) < 32 && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Err((
            "value",
            format!(
                "a {type_code} must not contain the control character U+{:04X}",
                bad as u32
            ),
        ));
    }
    if type_code == "xhtml" {
        return check_xhtml(text);
    }
    if text.trim_matches(XML_WHITESPACE).is_empty() {
        return Err((
            "value",
            format!("a {type_code} must contain non-whitespace content"),
        ));
    }
    if type_code != "base64Binary"
        && text.len() > MAX_STRING_CHARS
        && text.chars().count() > MAX_STRING_CHARS
    {
        return Err((
            "value",
            format!("a {type_code} must not be longer than {MAX_STRING_CHARS} characters"),
        ));
    }
    match type_code {
        "string" | "markdown" => Ok(()),
        "uri" | "url" | "canonical" => {
            if text.contains(XML_WHITESPACE) {
                Err(invalid(type_code, text, ": whitespace is not allowed"))
            } else {
                Ok(())
            }
        }
        "base64Binary" => check_base64(text),
        "date" | "dateTime" | "instant" => {
            if !matches_regex(type_code, text) {
                return Err(invalid(type_code, text, ""));
            }
            check_calendar_day(type_code, text)
        }
        _ => {
            if matches_regex(type_code, text) {
                Ok(())
            } else {
                Err(invalid(type_code, text, ""))
            }
        }
    }
}

/// After the regex matched: the day exists in its month (no 30 February, 29 February only in
/// leap years).
fn check_calendar_day(type_code: &str, text: &str) -> Result<(), Problem> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 {
        return Ok(());
    }
    let number = |range: std::ops::Range<usize>| -> u32 {
        bytes[range]
            .iter()
            .fold(0, |n, b| n * 10 + u32::from(b.wrapping_sub(b'0')))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day > days {
        Err(invalid(
            type_code,
            text,
            ": the day does not exist in that month",
        ))
    } else {
        Ok(())
    }
}

/// Standard base64: whitespace ignored, then the alphabet, a length multiple of 4, and at most
/// two `=` of padding at the end.
fn check_base64(text: &str) -> Result<(), Problem> {
    let mut length = 0usize;
    let mut padding = 0usize;
    for byte in text.bytes() {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b'=' => padding += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if padding == 0 => {}
            _ => {
                return Err(invalid(
                    "base64Binary",
                    text,
                    ": only A-Z, a-z, 0-9, +, / and final = padding are allowed",
                ));
            }
        }
        length += 1;
    }
    if length == 0 || !length.is_multiple_of(4) || padding > 2 {
        return Err(invalid(
            "base64Binary",
            text,
            ": the length must be a multiple of 4 with at most two = of padding",
        ));
    }
    Ok(())
}

/// Elements the narrative must not contain (FHIR narrative rules: no head or body, scripts,
/// forms, base/link, frames, iframes, objects).
const FORBIDDEN_ELEMENTS: &[&str] = &[
    "applet", "base", "body", "button", "embed", "form", "frame", "frameset", "head", "html",
    "iframe", "input", "link", "meta", "object", "script", "select", "textarea",
];

/// The narrative: a `<div>` element, without forbidden elements, event-handler attributes
/// (`onclick=`…) or `javascript:` links. It is not parsed as XML here.
fn check_xhtml(text: &str) -> Result<(), Problem> {
    let trimmed = text.trim();
    let starts_with_div = trimmed
        .strip_prefix("<div")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c == '>' || c == '/' || c.is_ascii_whitespace());
    if !starts_with_div || !(trimmed.ends_with("</div>") || trimmed.ends_with("/>")) {
        return Err((
            "value",
            "the narrative must be a single XHTML <div> element".to_owned(),
        ));
    }
    let unsafe_content = |what: String| -> Problem {
        (
            "value",
            format!("the narrative must not contain {what} (FHIR narrative rules)"),
        )
    };
    let bytes = trimmed.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        i += 1;
        if trimmed[i..].starts_with("!--") {
            i = trimmed[i..]
                .find("-->")
                .map_or(bytes.len(), |end| i + end + 3);
            continue;
        }
        if matches!(bytes.get(i), Some(b'!' | b'?' | b'/')) {
            i = trimmed[i..]
                .find('>')
                .map_or(bytes.len(), |end| i + end + 1);
            continue;
        }
        // A start tag: its name, then its attributes.
        let name_end = name_end(bytes, i);
        let name = local_name(&trimmed[i..name_end]);
        if FORBIDDEN_ELEMENTS
            .iter()
            .any(|forbidden| name.eq_ignore_ascii_case(forbidden))
        {
            return Err(unsafe_content(format!(
                "a <{}> element",
                name.to_ascii_lowercase()
            )));
        }
        i = name_end;
        loop {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i) {
                None => break,
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b'/') => {
                    i += 1;
                    continue;
                }
                Some(_) => {}
            }
            let attribute_end = name_end_or(bytes, i);
            if attribute_end == i {
                // A stray character such as a quote: skip it.
                i += 1;
                continue;
            }
            let attribute = local_name(&trimmed[i..attribute_end]);
            if attribute.len() > 2 && attribute.as_bytes()[..2].eq_ignore_ascii_case(b"on") {
                return Err(unsafe_content(format!(
                    "event handler attributes ({})",
                    attribute.to_ascii_lowercase()
                )));
            }
            i = attribute_end;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes.get(i) != Some(&b'=') {
                continue;
            }
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value_start;
            let value_end;
            match bytes.get(i) {
                Some(&quote @ (b'"' | b'\'')) => {
                    value_start = i + 1;
                    value_end = trimmed[value_start..]
                        .find(quote as char)
                        .map_or(bytes.len(), |end| value_start + end);
                    i = (value_end + 1).min(bytes.len());
                }
                _ => {
                    value_start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value_end = i;
                }
            }
            let value = trimmed[value_start..value_end].trim_start();
            if value.len() >= 11 && value.as_bytes()[..11].eq_ignore_ascii_case(b"javascript:") {
                return Err(unsafe_content("javascript: links".to_owned()));
            }
        }
    }
    Ok(())
}

/// The end of an XML name starting at `start` (letters, digits, `:`, `_`, `-`, `.`).
fn name_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b':' | b'_' | b'-' | b'.'))
    {
        end += 1;
    }
    end
}

/// Like [`name_end`], for attribute names, which may hold any non-delimiter byte.
fn name_end_or(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len()
        && !bytes[end].is_ascii_whitespace()
        && !matches!(bytes[end], b'=' | b'>' | b'/' | b'"' | b'\'' | b'<')
    {
        end += 1;
    }
    end
}

/// `script` from `h:script`.
fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(code: &str, value: Value) {
        assert_eq!(check(code, &value), Ok(()), "{code} {value}");
    }

    fn bad(code: &str, value: Value) -> Problem {
        match check(code, &value) {
            Ok(()) => panic!("{code} {value} should be invalid"),
            Err(problem) => problem,
        }
    }

    fn number(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn every_spec_regex_compiles() {
        let with_regex = Model::r4()
            .types()
            .filter(|t| t.kind == TypeKind::PrimitiveType && t.regex.is_some())
            .count();
        assert_eq!(regexes().len(), with_regex);
        assert!(with_regex >= 19);
    }

    #[test]
    fn json_types_are_checked() {
        assert_eq!(bad("boolean", json!("true")).0, "structure");
        assert_eq!(bad("integer", json!("1")).0, "structure");
        assert_eq!(bad("string", json!(1)).0, "structure");
        assert_eq!(bad("date", json!({})).0, "structure");
        ok("boolean", json!(false));
    }

    #[test]
    fn integers_have_ranges() {
        ok("integer", number("-2147483648"));
        ok("integer", number("2147483647"));
        assert_eq!(bad("integer", number("2147483648")).0, "value");
        assert_eq!(bad("integer", number("1.0")).0, "value");
        assert_eq!(bad("integer", number("1e3")).0, "value");
        ok("positiveInt", number("1"));
        bad("positiveInt", number("0"));
        bad("positiveInt", number("-1"));
        ok("unsignedInt", number("0"));
        bad("unsignedInt", number("-1"));
        bad("unsignedInt", number("3000000000"));
    }

    #[test]
    fn decimals_follow_the_regex() {
        ok("decimal", number("1.50"));
        ok("decimal", number("-0.001"));
        ok("decimal", number("1e-3"));
        // Every JSON number is a decimal: the grammar is the same as the regex.
    }

    #[test]
    fn dates_have_real_days() {
        ok("date", json!("2020"));
        ok("date", json!("2020-02"));
        ok("date", json!("2020-02-29"));
        bad("date", json!("2019-02-29"));
        bad("date", json!("2020-02-30"));
        bad("date", json!("1900-02-29"));
        ok("date", json!("2000-02-29"));
        bad("date", json!("2020-04-31"));
        bad("date", json!("2020-13"));
        ok("dateTime", json!("2020-01-31T10:00:00+01:00"));
        bad("dateTime", json!("2020-01-31T10:00:00"));
        bad("dateTime", json!("2021-06-31T10:00:00Z"));
        ok("instant", json!("2020-01-31T10:00:00.123Z"));
        bad("instant", json!("2020-01-31"));
        ok("time", json!("23:59:60"));
        bad("time", json!("24:00:00"));
    }

    #[test]
    fn strings_ids_codes_and_uris() {
        assert_eq!(bad("string", json!("a\u{0}b")).0, "value");
        assert_eq!(bad("code", json!("a\u{1b}")).0, "value");
        assert!(check("string", &json!("tab\tand\r\nnewline")).is_ok());
        let (code, message) = bad("string", json!(""));
        assert_eq!(code, "value");
        assert!(message.contains("empty"));
        bad("string", json!("  \n "));
        ok("code", json!("\u{a0}"));
        ok("string", json!(" padded \u{a0}text "));
        ok("markdown", json!("# Title\n\n* item"));
        ok("id", json!("a-B.9"));
        bad("id", json!("a_b"));
        bad("id", json!("x".repeat(65)));
        ok("id", json!("x".repeat(64)));
        ok("code", json!("two words"));
        bad("code", json!(" leading"));
        bad("code", json!("trailing "));
        bad("code", json!("two  spaces"));
        ok("uri", json!("urn:uuid:1"));
        bad("uri", json!("http://x y"));
        ok("oid", json!("urn:oid:1.2.3"));
        bad("oid", json!("urn:oid:1.02"));
        ok(
            "uuid",
            json!("urn:uuid:c757873d-ec9a-4326-a141-556f43239520"),
        );
        bad("uuid", json!("urn:uuid:C757873D"));
        let long = "x".repeat(MAX_STRING_CHARS + 1);
        bad("string", json!(long));
    }

    #[test]
    fn base64_is_checked() {
        ok("base64Binary", json!("aGVsbG8="));
        ok("base64Binary", json!("aGVs\nbG8h"));
        bad("base64Binary", json!("aGVsbG8"));
        bad("base64Binary", json!("aG=sbG8="));
        bad("base64Binary", json!("a==="));
        bad("base64Binary", json!("aGVs*G8h"));
    }

    #[test]
    fn xhtml_is_a_safe_div() {
        ok(
            "xhtml",
            json!(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Hi <a href=\"#x\">x</a></p></div>"
            ),
        );
        ok("xhtml", json!("<div>values only = 3, a < b</div>"));
        bad("xhtml", json!("<p>not a div</p>"));
        bad("xhtml", json!("<divx></divx>"));
        let (_, message) = bad("xhtml", json!("<div><script>alert(1)</script></div>"));
        assert!(message.contains("<script>"));
        bad("xhtml", json!("<div><SCRIPT src='x'/></div>"));
        let (_, message) = bad(
            "xhtml",
            json!("<div><img src='x' onerror='alert(1)'/></div>"),
        );
        assert!(message.contains("onerror"));
        bad(
            "xhtml",
            json!("<div><a href=\" JavaScript:alert(1)\">x</a></div>"),
        );
        bad("xhtml", json!("<div><iframe/></div>"));
        ok(
            "xhtml",
            json!("<div><!-- <script> --><p title=\"a > onclick=\">x</p></div>"),
        );
    }
}

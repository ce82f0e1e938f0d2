//! JSON in and out: parsing with limits, and output in definition order.
//!
//! [`parse`] reads a resource with `serde_json` (numbers keep their lexical form, so `1.50` stays
//! `1.50`; nesting is limited to 128 levels, so hostile input cannot overflow the stack).
//!
//! [`to_string`] and [`to_string_pretty`] write a resource with `resourceType` first, then its
//! properties in the order of the model definitions, each `_name` primitive extension right after
//! its `name`, recursively through datatypes, backbone elements and nested resources (`contained`,
//! `Bundle.entry.resource`, `Parameters.parameter.resource`). Properties the model does not know
//! go last, in their original order. Output goes straight into one buffer; leaf values are escaped
//! by `serde_json`.

use std::fmt;

use serde_json::{Map, Value};

use crate::model::{Model, TypeDef, TypeKind};

/// A document that is not well-formed JSON or XML, or not shaped like a FHIR resource at all.
///
/// Used by both [`crate::json`] and [`crate::xml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// What is wrong, with the line and column where the parser could tell.
    pub message: String,
}

impl FormatError {
    /// A format error with this message.
    pub fn new(message: impl Into<String>) -> FormatError {
        FormatError {
            message: message.into(),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FormatError {}

/// Parses a JSON resource.
///
/// The top level must be an object. Nesting deeper than 128 arrays/objects is refused (this is
/// `serde_json`'s recursion limit, kept on purpose). Numbers keep their lexical form.
pub fn parse(bytes: &[u8]) -> Result<Value, FormatError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| FormatError::new(format!("invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(FormatError::new(
            "invalid JSON resource: the top level must be an object",
        ));
    }
    Ok(value)
}

/// Writes a resource as compact JSON, properties in definition order.
pub fn to_string(resource: &Value) -> String {
    write(resource, None)
}

/// Writes a resource as indented JSON (two spaces), properties in definition order.
pub fn to_string_pretty(resource: &Value) -> String {
    write(resource, Some(0))
}

/// Writes a resource of type `resource_type` as compact JSON in definition order, with some of
/// its top-level properties replaced or added (`id`, `meta`), without copying the resource.
pub fn to_string_with(
    resource_type: &str,
    resource: &Map<String, Value>,
    replaced: &[(&str, &Value)],
) -> String {
    let mut writer = Writer {
        out: Vec::with_capacity(1024),
        indent: None,
        model: Model::r4(),
    };
    let type_def = writer.model.resource_type(resource_type);
    let replaced: Vec<(String, &Value)> = replaced
        .iter()
        .map(|&(key, value)| (key.to_owned(), value))
        .collect();
    let mut entries: Vec<((usize, usize, usize), &String, &Value)> = resource
        .iter()
        .enumerate()
        .filter(|(_, (key, _))| !replaced.iter().any(|(r, _)| r == *key))
        .map(|(position, (key, value))| {
            let rank = property_rank(writer.model, type_def, key, position);
            (rank, key, value)
        })
        .collect();
    for (offset, (key, value)) in replaced.iter().enumerate() {
        let position = resource
            .keys()
            .position(|k| k == key)
            .unwrap_or(resource.len() + offset);
        entries.push((
            property_rank(writer.model, type_def, key, position),
            key,
            value,
        ));
    }
    entries.sort_unstable_by_key(|entry| entry.0);
    let entries: Vec<(&String, &Value)> = entries.into_iter().map(|(_, k, v)| (k, v)).collect();
    writer.entries(entries, type_def);
    String::from_utf8(writer.out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn write(resource: &Value, indent: Option<usize>) -> String {
    let mut writer = Writer {
        out: Vec::with_capacity(1024),
        indent,
        model: Model::r4(),
    };
    writer.value(resource, Some("Resource"));
    // Everything written is UTF-8 (keys and leaves come from serde_json, the rest is ASCII).
    String::from_utf8(writer.out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The properties of an object in output order (shared by the JSON and XML writers).
pub(crate) fn ordered_entries<'v>(
    model: &Model,
    type_def: Option<&TypeDef>,
    map: &'v Map<String, Value>,
) -> Vec<(&'v String, &'v Value)> {
    let mut entries: Vec<((usize, usize, usize), &String, &Value)> = map
        .iter()
        .enumerate()
        .map(|(position, (key, value))| (property_rank(model, type_def, key, position), key, value))
        .collect();
    entries.sort_unstable_by_key(|entry| entry.0);
    entries
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect()
}

/// Where a property goes in the output: resourceType, then by element, `name` before `_name`,
/// unknown properties last in their original order.
fn property_rank(
    model: &Model,
    type_def: Option<&TypeDef>,
    key: &str,
    position: usize,
) -> (usize, usize, usize) {
    let Some(type_def) = type_def else {
        return (usize::MAX, 0, position);
    };
    if key == "resourceType" && type_def.kind == TypeKind::Resource {
        return (0, 0, 0);
    }
    let (base, underscore) = match key.strip_prefix('_') {
        Some(base) => (base, 1),
        None => (key, 0),
    };
    match model.element(&type_def.name, base) {
        Some(found) => (found.index + 1, underscore, position),
        None => (usize::MAX, 0, position),
    }
}

/// The type definition of a property value, given the type code the model names for it.
/// `Resource` resolves through the value's own `resourceType`.
pub(crate) fn resolve_type<'m>(model: &'m Model, code: &str, value: &Value) -> Option<&'m TypeDef> {
    if code == "Resource" || code == "DomainResource" {
        let name = value.get("resourceType")?.as_str()?;
        model.resource_type(name)
    } else {
        model.type_def(code)
    }
}

struct Writer {
    out: Vec<u8>,
    indent: Option<usize>,
    model: &'static Model,
}

impl Writer {
    /// Writes `value`, whose model type code is `code` (`None` when unknown).
    fn value(&mut self, value: &Value, code: Option<&str>) {
        match value {
            Value::Object(map) => {
                let type_def = code.and_then(|c| resolve_type(self.model, c, value));
                self.object(map, type_def);
            }
            Value::Array(items) => self.array(items, code),
            leaf => self.leaf(leaf),
        }
    }

    fn leaf(&mut self, leaf: &Value) {
        // Writing into a Vec cannot fail; serde_json escapes strings and keeps number lexemes.
        let _ = serde_json::to_writer(&mut self.out, leaf);
    }

    fn key(&mut self, key: &str) {
        let _ = serde_json::to_writer(&mut self.out, key);
        self.out
            .extend_from_slice(if self.indent.is_some() { b": " } else { b":" });
    }

    fn newline(&mut self) {
        if let Some(level) = self.indent {
            self.out.push(b'\n');
            self.out.resize(self.out.len() + level * 2, b' ');
        }
    }

    fn open(&mut self, bracket: u8) {
        self.out.push(bracket);
        if let Some(level) = self.indent.as_mut() {
            *level += 1;
        }
    }

    fn close(&mut self, bracket: u8) {
        if let Some(level) = self.indent.as_mut() {
            *level = level.saturating_sub(1);
        }
        self.newline();
        self.out.push(bracket);
    }

    fn array(&mut self, items: &[Value], code: Option<&str>) {
        if items.is_empty() {
            self.out.extend_from_slice(b"[]");
            return;
        }
        self.open(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.newline();
            self.value(item, code);
        }
        self.close(b']');
    }

    fn object(&mut self, map: &Map<String, Value>, type_def: Option<&'static TypeDef>) {
        if map.is_empty() {
            self.out.extend_from_slice(b"{}");
            return;
        }
        let entries = ordered_entries(self.model, type_def, map);
        self.entries(entries, type_def);
    }

    /// Writes an object of these properties, in this order.
    fn entries(&mut self, entries: Vec<(&String, &Value)>, type_def: Option<&'static TypeDef>) {
        if entries.is_empty() {
            self.out.extend_from_slice(b"{}");
            return;
        }
        self.open(b'{');
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.newline();
            self.key(key);
            let code = type_def.and_then(|t| child_code(self.model, t, key));
            self.value(value, code);
        }
        self.close(b'}');
    }
}

/// The type code of property `key` of `type_def`: for `_name`, the primitive type itself (whose
/// elements are `id` and `extension`).
fn child_code<'m>(model: &'m Model, type_def: &TypeDef, key: &str) -> Option<&'m str> {
    let base = key.strip_prefix('_').unwrap_or(key);
    model
        .element(&type_def.name, base)
        .map(|found| found.type_ref.code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_requires_an_object() {
        assert!(parse(b"[1, 2]").is_err());
        assert!(parse(b"\"x\"").is_err());
        assert!(parse(br#"{"resourceType": "Patient"}"#).is_ok());
    }

    #[test]
    fn parse_reports_line_and_column() {
        let error = parse(b"{\n  \"a\": 1x\n}").unwrap_err();
        assert!(error.message.contains("line 2"), "{}", error.message);
        assert!(error.message.contains("column"), "{}", error.message);
    }

    #[test]
    fn parse_refuses_deep_nesting_without_overflowing() {
        let mut text = String::from("{\"a\":");
        text.push_str(&"[".repeat(10_000));
        text.push_str(&"]".repeat(10_000));
        text.push('}');
        let error = parse(text.as_bytes()).unwrap_err();
        assert!(error.message.contains("recursion"), "{}", error.message);
        let mut objects = "{\"a\":".repeat(10_000);
        objects.push_str(&"}".repeat(10_000));
        assert!(parse(objects.as_bytes()).is_err());
    }

    #[test]
    fn decimals_keep_their_lexical_form() {
        let text = r#"{"resourceType":"Observation","valueQuantity":{"value":1.50,"unit":"mg"}}"#;
        let value = parse(text.as_bytes()).unwrap();
        assert_eq!(to_string(&value), text);
        let big = r#"{"resourceType":"Observation","extension":[{"url":"http://e","valueDecimal":123456789012345678901234567890.000000000000000000001}]}"#;
        assert_eq!(to_string(&parse(big.as_bytes()).unwrap()), big);
    }

    #[test]
    fn output_follows_definition_order() {
        let value = json!({
            "gender": "male",
            "zzz": 1,
            "_birthDate": {"extension": [{"valueString": "x", "url": "http://e"}]},
            "name": [{"given": ["a"], "family": "F", "_given": [{"id": "g"}]}],
            "birthDate": "1970",
            "resourceType": "Patient",
            "contained": [{"id": "o", "resourceType": "Organization", "name": "N"}],
            "id": "p",
            "aaa": 2
        });
        assert_eq!(
            to_string(&value),
            concat!(
                r#"{"resourceType":"Patient","id":"p","#,
                r#""contained":[{"resourceType":"Organization","id":"o","name":"N"}],"#,
                r#""name":[{"family":"F","given":["a"],"_given":[{"id":"g"}]}],"#,
                r#""gender":"male","birthDate":"1970","#,
                r#""_birthDate":{"extension":[{"url":"http://e","valueString":"x"}]},"#,
                r#""zzz":1,"aaa":2}"#
            )
        );
    }

    #[test]
    fn bundle_entries_are_ordered_by_their_resource_type() {
        let value = json!({
            "entry": [{"resource": {"status": "final", "resourceType": "Observation", "id": "o"},
                       "fullUrl": "urn:x"}],
            "type": "collection",
            "resourceType": "Bundle"
        });
        assert_eq!(
            to_string(&value),
            concat!(
                r#"{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:x","#,
                r#""resource":{"resourceType":"Observation","id":"o","status":"final"}}]}"#
            )
        );
    }

    #[test]
    fn pretty_output_matches_serde_json_layout() {
        let value = json!({
            "resourceType": "Patient",
            "id": "p",
            "name": [{"family": "F", "given": ["a", "b"]}],
            "extension": [],
            "meta": {}
        });
        let ordered = parse(to_string(&value).as_bytes()).unwrap();
        assert_eq!(
            to_string_pretty(&value),
            serde_json::to_string_pretty(&ordered).unwrap()
        );
    }
}

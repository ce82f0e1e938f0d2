//! The FHIR JSON form → FHIR XML, driven by the model.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Map, Value};

use super::{FHIR_NS, XHTML_NS};
use crate::json::{ordered_entries, resolve_type};
use crate::model::{Model, TypeDef, TypeKind};

/// Writes a resource as XML. See [`super::to_xml`].
pub(super) fn to_xml(resource: &Value, pretty: bool) -> String {
    let mut writer = Writer {
        out: String::with_capacity(1024),
        pretty,
        model: Model::r4(),
    };
    writer
        .out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    writer.resource(resource, 0, true);
    if pretty {
        writer.out.push('\n');
    }
    writer.out
}

struct Writer {
    out: String,
    pretty: bool,
    model: &'static Model,
}

fn items(value: Option<&Value>) -> &[Value] {
    match value {
        Some(Value::Array(items)) => items,
        Some(other) => std::slice::from_ref(other),
        None => &[],
    }
}

/// The text of a primitive value for the `value` attribute.
fn lexical(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

impl Writer {
    fn indent(&mut self, level: usize) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..level {
                self.out.push_str("  ");
            }
        }
    }

    fn resource(&mut self, value: &Value, level: usize, root: bool) {
        let Some(map) = value.as_object() else {
            return;
        };
        let type_def = resolve_type(self.model, "Resource", value);
        let name = match map.get("resourceType").and_then(Value::as_str) {
            Some(name) if is_xml_name(name) => name,
            _ => "Resource",
        };
        self.indent(level);
        self.out.push('<');
        self.out.push_str(name);
        if root {
            self.out.push_str(" xmlns=\"");
            self.out.push_str(FHIR_NS);
            self.out.push('"');
        }
        self.close_start(name, map, type_def, level, &[]);
    }

    /// Writes `>`, the children and the end tag, or `/>` when no child was written.
    fn close_start(
        &mut self,
        tag: &str,
        map: &Map<String, Value>,
        type_def: Option<&'static TypeDef>,
        level: usize,
        attributes: &[&str],
    ) {
        self.out.push('>');
        let mark = self.out.len();
        self.children(map, type_def, level + 1, attributes);
        if self.out.len() == mark {
            self.out.pop();
            self.out.push_str("/>");
        } else {
            self.indent(level);
            self.out.push_str("</");
            self.out.push_str(tag);
            self.out.push('>');
        }
    }

    /// Writes an element of type `type_def`: `id` (and `url` for Extension) as attributes, the
    /// primitive value as the `value` attribute, the rest as children.
    fn element(
        &mut self,
        tag: &str,
        value: Option<String>,
        map: Option<&Map<String, Value>>,
        type_def: Option<&'static TypeDef>,
        level: usize,
    ) {
        self.indent(level);
        self.out.push('<');
        self.out.push_str(tag);
        let mut attributes: Vec<&str> = Vec::new();
        let is_datatype = type_def.is_some_and(|t| t.kind != TypeKind::Resource);
        if let Some(map) = map
            && is_datatype
        {
            if let Some(Value::String(id)) = map.get("id") {
                self.attribute("id", id);
                attributes.push("id");
            }
            if type_def.is_some_and(|t| t.name == "Extension")
                && let Some(Value::String(url)) = map.get("url")
            {
                self.attribute("url", url);
                attributes.push("url");
            }
        }
        if let Some(value) = value {
            self.attribute("value", &value);
        }
        match map {
            Some(map) => self.close_start(tag, map, type_def, level, &attributes),
            None => self.out.push_str("/>"),
        }
    }

    fn attribute(&mut self, name: &str, value: &str) {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_attribute(&mut self.out, value);
        self.out.push('"');
    }

    fn children(
        &mut self,
        map: &Map<String, Value>,
        type_def: Option<&'static TypeDef>,
        level: usize,
        attributes: &[&str],
    ) {
        for (key, value) in ordered_entries(self.model, type_def, map) {
            if attributes.contains(&key.as_str()) {
                continue;
            }
            let Some(type_def) = type_def else {
                self.generic(key, value, level);
                continue;
            };
            if key == "resourceType" && type_def.kind == TypeKind::Resource {
                continue;
            }
            let (base, underscore) = match key.strip_prefix('_') {
                Some(base) => (base, true),
                None => (key.as_str(), false),
            };
            let Some(found) = self.model.element(&type_def.name, base) else {
                self.generic(key, value, level);
                continue;
            };
            let code = found.type_ref.code.as_str();
            if code == "Resource" {
                for item in items(Some(value)) {
                    self.indent(level);
                    self.out.push('<');
                    self.out.push_str(key);
                    self.out.push('>');
                    self.resource(item, level + 1, false);
                    self.indent(level);
                    self.out.push_str("</");
                    self.out.push_str(key);
                    self.out.push('>');
                }
            } else if code == "xhtml" {
                if let Value::String(div) = value {
                    self.indent(level);
                    write_div(&mut self.out, div);
                }
            } else if self.model.is_primitive(code) {
                if underscore && map.contains_key(base) {
                    continue; // written with its value
                }
                let values = items(map.get(base));
                let extras = items(map.get(&format!("_{base}")));
                let primitive = self.model.type_def(code);
                for i in 0..values.len().max(extras.len()) {
                    let value = values.get(i).and_then(lexical);
                    let extra = extras.get(i).and_then(Value::as_object);
                    if value.is_some() || extra.is_some() {
                        self.element(base, value, extra, primitive, level);
                    }
                }
            } else {
                let child_type = self.model.type_def(code);
                for item in items(Some(value)) {
                    if let Value::Object(child) = item {
                        self.element(key, None, Some(child), child_type, level);
                    }
                }
            }
        }
    }

    /// Writes a property the model does not know, so that reading it back reports it again:
    /// objects as elements, scalars as `value` attributes. Names that are not XML names are
    /// dropped.
    fn generic(&mut self, key: &str, value: &Value, level: usize) {
        if !is_xml_name(key) {
            return;
        }
        match value {
            Value::Array(items) => {
                for item in items {
                    self.generic(key, item, level);
                }
            }
            Value::Object(map) => {
                self.indent(level);
                self.out.push('<');
                self.out.push_str(key);
                self.close_start(key, map, None, level, &[]);
            }
            Value::Null => {}
            scalar => {
                if let Some(text) = lexical(scalar) {
                    self.indent(level);
                    self.out.push('<');
                    self.out.push_str(key);
                    self.attribute("value", &text);
                    self.out.push_str("/>");
                }
            }
        }
    }
}

/// Writes the narrative `div`: verbatim when the string is one well-formed element named `div`
/// (so that reading it back gives the same string), otherwise as escaped text inside a `div`.
fn write_div(out: &mut String, div: &str) {
    if is_single_div(div) {
        out.push_str(div);
    } else {
        out.push_str("<div xmlns=\"");
        out.push_str(XHTML_NS);
        out.push_str("\">");
        escape_text(out, div);
        out.push_str("</div>");
    }
}

/// `true` when `text` is exactly one well-formed element named `div` with no DOCTYPE and no
/// entity references beyond the predefined ones, starting at the first byte and ending at the
/// last.
fn is_single_div(text: &str) -> bool {
    if !text.starts_with("<div") || !text.ends_with('>') {
        return false;
    }
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut level = 0usize;
    let mut closed = false;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(_) => return false,
        };
        match event {
            Event::Eof => return closed,
            _ if closed => return false,
            Event::Start(ref e) if level == 0 && e.name().as_ref() != b"div" => return false,
            Event::Empty(ref e) if level == 0 => {
                if e.name().as_ref() != b"div" {
                    return false;
                }
                closed = true;
            }
            Event::Start(_) => level += 1,
            Event::End(_) => {
                level = level.saturating_sub(1);
                if level == 0 {
                    closed = true;
                }
            }
            Event::DocType(_) | Event::Decl(_) => return false,
            Event::GeneralRef(ref reference)
                if super::read::check_reference(reference).is_err() =>
            {
                return false;
            }
            Event::Text(_) | Event::CData(_) | Event::Comment(_) | Event::PI(_) if level == 0 => {
                return false;
            }
            _ => {}
        }
    }
}

/// An XML name as used for element names here: a letter or `_` first, then letters, digits,
/// `_`, `-`, `.` (no colon).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Escapes text content: `&`, `<`, `>`; characters XML cannot hold become U+FFFD.
pub(super) fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if super::read::is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// Escapes an attribute value: `&`, `<`, `>`, `"`, and tab, newline and carriage return as
/// character references so that they survive attribute-value normalisation; characters XML
/// cannot hold become U+FFFD.
pub(super) fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if super::read::is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_div_detection() {
        assert!(is_single_div(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>a &amp; b</p></div>"
        ));
        assert!(is_single_div(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"/>"
        ));
        assert!(!is_single_div("<div>a</div><div>b</div>"));
        assert!(!is_single_div("<div>&nbsp;</div>"));
        assert!(!is_single_div("<div><p></div>"));
        assert!(!is_single_div("plain text"));
        assert!(!is_single_div("<div>a</div> "));
    }
}

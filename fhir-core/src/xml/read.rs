//! FHIR XML → the FHIR JSON form, driven by the model.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use serde_json::{Map, Number, Value};

use super::{FHIR_NS, MAX_DEPTH, XHTML_NS};
use crate::json::FormatError;
use crate::model::{JsonPrimitive, Model, TypeDef, json_primitive};

/// Reads a FHIR XML resource into its JSON form. See [`super::from_xml`].
pub(super) fn from_xml(bytes: &[u8]) -> Result<Value, FormatError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let input = std::str::from_utf8(bytes).map_err(|e| {
        FormatError::new(format!(
            "invalid XML: the document is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut reader = NsReader::from_reader(input.as_bytes());
    let config = reader.config_mut();
    config.expand_empty_elements = false;
    config.check_end_names = true;
    config.trim_text(false);
    let mut parser = Parser {
        input,
        reader,
        model: Model::r4(),
    };
    parser.document()
}

/// The namespace an element name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ns {
    Fhir,
    Xhtml,
    None,
    Other(String),
}

impl Ns {
    fn of(result: &ResolveResult<'_>) -> Ns {
        match result {
            ResolveResult::Bound(Namespace(ns)) if *ns == FHIR_NS.as_bytes() => Ns::Fhir,
            ResolveResult::Bound(Namespace(ns)) if *ns == XHTML_NS.as_bytes() => Ns::Xhtml,
            ResolveResult::Bound(Namespace(ns)) => Ns::Other(String::from_utf8_lossy(ns).into()),
            ResolveResult::Unbound => Ns::None,
            ResolveResult::Unknown(prefix) => Ns::Other(String::from_utf8_lossy(prefix).into()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Ns::Fhir => FHIR_NS.to_string(),
            Ns::Xhtml => XHTML_NS.to_string(),
            Ns::None => "no namespace".to_string(),
            Ns::Other(ns) => ns.clone(),
        }
    }
}

/// One event with the offset where it starts and, for elements, the namespace.
struct Read<'i> {
    start: usize,
    ns: Ns,
    event: Event<'i>,
}

struct Parser<'i> {
    input: &'i str,
    reader: NsReader<&'i [u8]>,
    model: &'static Model,
}

/// How the values of one property were collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A primitive: `name` holds values, `_name` ids and extensions, aligned.
    Primitive,
    /// A complex value, a resource or an unknown element.
    Other,
}

/// The occurrences of one property of the element being read, in document order.
struct Prop {
    key: String,
    kind: Kind,
    many: bool,
    values: Vec<Value>,
    extras: Vec<Option<Map<String, Value>>>,
}

/// The properties of the element being read, in order of first occurrence.
#[derive(Default)]
struct Props {
    list: Vec<Prop>,
}

impl Props {
    fn prop(&mut self, key: &str, kind: Kind, many: bool) -> &mut Prop {
        let index = match self.list.iter().rposition(|p| p.key == key) {
            Some(index) => index,
            None => {
                self.list.push(Prop {
                    key: key.to_string(),
                    kind,
                    many,
                    values: Vec::new(),
                    extras: Vec::new(),
                });
                self.list.len() - 1
            }
        };
        &mut self.list[index]
    }

    fn push(&mut self, key: &str, many: bool, value: Value) {
        self.prop(key, Kind::Other, many).values.push(value);
    }

    fn push_primitive(
        &mut self,
        key: &str,
        many: bool,
        value: Option<Value>,
        extra: Option<Map<String, Value>>,
    ) {
        let prop = self.prop(key, Kind::Primitive, many);
        prop.values.push(value.unwrap_or(Value::Null));
        prop.extras.push(extra);
    }

    /// Writes the collected properties into `map`. A property that is not `many` but occurred
    /// more than once becomes an array, which the validator reports.
    fn finish(self, map: &mut Map<String, Value>) {
        for prop in self.list {
            let as_array = prop.many || prop.values.len() > 1;
            match prop.kind {
                Kind::Other => {
                    let mut values = prop.values;
                    let value = if as_array || values.len() != 1 {
                        Value::Array(values)
                    } else {
                        values.pop().unwrap_or(Value::Null)
                    };
                    map.insert(prop.key, value);
                }
                Kind::Primitive => {
                    let has_value = prop.values.iter().any(|v| !v.is_null());
                    let has_extra = prop.extras.iter().any(Option::is_some);
                    let extra_key = format!("_{}", prop.key);
                    if as_array {
                        if has_value {
                            map.insert(prop.key, Value::Array(prop.values));
                        }
                        if has_extra {
                            let extras = prop
                                .extras
                                .into_iter()
                                .map(|e| e.map_or(Value::Null, Value::Object))
                                .collect();
                            map.insert(extra_key, Value::Array(extras));
                        }
                    } else {
                        let mut values = prop.values;
                        let mut extras = prop.extras;
                        if has_value {
                            map.insert(prop.key, values.pop().unwrap_or(Value::Null));
                        }
                        if let Some(Some(extra)) = extras.pop() {
                            map.insert(extra_key, Value::Object(extra));
                        }
                    }
                }
            }
        }
    }
}

impl<'i> Parser<'i> {
    fn error_at(&self, offset: usize, message: impl std::fmt::Display) -> FormatError {
        let offset = offset.min(self.input.len());
        let before = self.input.as_bytes().get(..offset).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        FormatError::new(format!(
            "invalid XML: {message} at line {line} column {column}"
        ))
    }

    fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    fn next(&mut self) -> Result<Read<'i>, FormatError> {
        let start = self.position();
        match self.reader.read_resolved_event() {
            Ok((resolved, event)) => {
                let ns = match &event {
                    Event::Start(_) | Event::Empty(_) | Event::End(_) => Ns::of(&resolved),
                    _ => Ns::None,
                };
                if let Event::DocType(_) = event {
                    return Err(self.error_at(start, "DOCTYPE declarations are not allowed"));
                }
                if let Event::GeneralRef(reference) = &event {
                    check_reference(reference).map_err(|m| self.error_at(start, m))?;
                }
                Ok(Read { start, ns, event })
            }
            Err(e) => {
                let offset = usize::try_from(self.reader.error_position()).unwrap_or(start);
                Err(self.error_at(offset, e))
            }
        }
    }

    fn document(&mut self) -> Result<Value, FormatError> {
        let root = loop {
            let read = self.next()?;
            match read.event {
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Text(ref text) if is_blank(text) => {}
                Event::Start(ref e) | Event::Empty(ref e) => {
                    if read.ns != Ns::Fhir {
                        return Err(self.error_at(
                            read.start,
                            format!(
                                "the root element must be in the namespace {FHIR_NS} (found {})",
                                read.ns.describe()
                            ),
                        ));
                    }
                    let empty = matches!(read.event, Event::Empty(_));
                    break self.resource(e, empty, read.start, 1)?;
                }
                Event::Eof => return Err(self.error_at(read.start, "no root element")),
                _ => return Err(self.error_at(read.start, "unexpected content before the root")),
            }
        };
        loop {
            let read = self.next()?;
            match read.event {
                Event::PI(_) | Event::Comment(_) => {}
                Event::Text(ref text) if is_blank(text) => {}
                Event::Eof => return Ok(root),
                _ => return Err(self.error_at(read.start, "unexpected content after the root")),
            }
        }
    }

    /// Reads a resource element (`<Patient>`), whose start tag was just read.
    fn resource(
        &mut self,
        start: &BytesStart<'i>,
        empty: bool,
        offset: usize,
        depth: usize,
    ) -> Result<Value, FormatError> {
        self.check_depth(depth, offset)?;
        let name = local_name(start);
        let type_def = self.model.resource_type(&name);
        let mut map = Map::new();
        map.insert("resourceType".to_string(), Value::String(name));
        let mut props = Props::default();
        for (key, value) in self.attributes(start, offset)? {
            props.push(&format!("@{key}"), false, Value::String(value));
        }
        if !empty {
            self.content(type_def, &mut props, depth)?;
        }
        if props.list.iter().any(|p| p.key == "resourceType") {
            return Err(self.error_at(
                offset,
                "resourceType is not an element: the element name gives the resource type",
            ));
        }
        props.finish(&mut map);
        Ok(Value::Object(map))
    }

    fn check_depth(&self, depth: usize, offset: usize) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            Err(self.error_at(
                offset,
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            ))
        } else {
            Ok(())
        }
    }

    /// The unprefixed attributes of a start tag (namespace declarations and prefixed
    /// attributes such as `xsi:schemaLocation` are skipped), unescaped and normalised.
    fn attributes(
        &self,
        start: &BytesStart<'i>,
        offset: usize,
    ) -> Result<Vec<(String, String)>, FormatError> {
        let mut out = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| self.error_at(offset, e))?;
            let key = attribute.key;
            if key.prefix().is_some() || key.as_ref() == b"xmlns" {
                continue;
            }
            let name = String::from_utf8_lossy(key.as_ref()).into_owned();
            let raw = std::str::from_utf8(&attribute.value)
                .map_err(|_| self.error_at(offset, "attribute value is not UTF-8"))?;
            let value = unescape_attribute(raw).map_err(|m| self.error_at(offset, m))?;
            out.push((name, value));
        }
        Ok(out)
    }

    /// Reads the children of an element of type `type_def` up to its end tag.
    fn content(
        &mut self,
        type_def: Option<&'static TypeDef>,
        props: &mut Props,
        depth: usize,
    ) -> Result<(), FormatError> {
        loop {
            let read = self.next()?;
            match read.event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(read.event, Event::Empty(_));
                    self.child(e, empty, read.start, &read.ns, type_def, props, depth)?;
                }
                Event::End(_) => return Ok(()),
                Event::Text(ref text) if is_blank(text) => {}
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    if type_def.is_some() {
                        return Err(self.error_at(
                            read.start,
                            "text is not allowed in FHIR elements (values go in the value attribute)",
                        ));
                    }
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
                Event::DocType(_) => {
                    return Err(self.error_at(read.start, "DOCTYPE declarations are not allowed"));
                }
                Event::Eof => return Err(self.error_at(read.start, "unexpected end of document")),
            }
        }
    }

    /// Reads one child element of an element of type `parent`.
    #[allow(clippy::too_many_arguments)]
    fn child(
        &mut self,
        start: &BytesStart<'i>,
        empty: bool,
        offset: usize,
        ns: &Ns,
        parent: Option<&'static TypeDef>,
        props: &mut Props,
        depth: usize,
    ) -> Result<(), FormatError> {
        let name = local_name(start);
        let found = match (parent, ns) {
            (Some(parent), Ns::Fhir | Ns::Xhtml) => self.model.element(&parent.name, &name),
            _ => None,
        };
        let Some(found) = found else {
            let key = match ns {
                Ns::Fhir | Ns::None => name,
                other => format!("{{{}}}{name}", other.describe()),
            };
            let value = self.unknown(start, empty, offset, depth + 2)?;
            props.push(&key, false, value);
            return Ok(());
        };
        let many = found.element.many;
        let depth = depth + 1 + usize::from(many);
        self.check_depth(depth, offset)?;
        let code = found.type_ref.code.as_str();
        if code == "xhtml" {
            let div = self.div(start, empty, offset, ns)?;
            props.push_primitive(&name, many, Some(Value::String(div)), None);
        } else if code == "Resource" {
            let resource = self.wrapped_resource(empty, offset, depth)?;
            props.push(&name, many, resource);
        } else if ns != &Ns::Fhir {
            let value = self.unknown(start, empty, offset, depth)?;
            props.push(&format!("{{{}}}{name}", ns.describe()), false, value);
        } else if self.model.is_primitive(code) {
            let mut value = None;
            let mut extra = Map::new();
            let mut extra_props = Props::default();
            for (key, text) in self.attributes(start, offset)? {
                match key.as_str() {
                    "value" => value = Some(primitive_value(code, text)),
                    "id" => {
                        extra_props.push_primitive("id", false, Some(Value::String(text)), None)
                    }
                    _ => extra_props.push(&format!("@{key}"), false, Value::String(text)),
                }
            }
            if !empty {
                self.content(self.model.type_def(code), &mut extra_props, depth)?;
            }
            extra_props.finish(&mut extra);
            let extra = if extra.is_empty() && value.is_some() {
                None
            } else {
                Some(extra)
            };
            props.push_primitive(&name, many, value, extra);
        } else {
            let type_def = self.model.type_def(code);
            let mut map = Map::new();
            let mut own = Props::default();
            for (key, text) in self.attributes(start, offset)? {
                let is_attribute = key == "id" || (key == "url" && code == "Extension");
                if is_attribute {
                    own.push_primitive(&key, false, Some(Value::String(text)), None);
                } else {
                    own.push(&format!("@{key}"), false, Value::String(text));
                }
            }
            if !empty {
                self.content(type_def, &mut own, depth)?;
            }
            own.finish(&mut map);
            props.push(&name, many, Value::Object(map));
        }
        Ok(())
    }

    /// Reads `<contained>`, `<resource>`: exactly one resource element inside.
    fn wrapped_resource(
        &mut self,
        empty: bool,
        offset: usize,
        depth: usize,
    ) -> Result<Value, FormatError> {
        let mut resource = None;
        if !empty {
            loop {
                let read = self.next()?;
                match read.event {
                    Event::Start(ref e) | Event::Empty(ref e) => {
                        if resource.is_some() {
                            return Err(self.error_at(
                                read.start,
                                "only one resource is allowed inside this element",
                            ));
                        }
                        if read.ns != Ns::Fhir {
                            return Err(self.error_at(
                                read.start,
                                format!("a resource must be in the namespace {FHIR_NS}"),
                            ));
                        }
                        let inner_empty = matches!(read.event, Event::Empty(_));
                        resource = Some(self.resource(e, inner_empty, read.start, depth)?);
                    }
                    Event::End(_) => break,
                    Event::Text(ref text) if is_blank(text) => {}
                    Event::Comment(_) | Event::PI(_) => {}
                    Event::Eof => {
                        return Err(self.error_at(read.start, "unexpected end of document"));
                    }
                    _ => {
                        return Err(
                            self.error_at(read.start, "only a resource element is allowed here")
                        );
                    }
                }
            }
        }
        resource.ok_or_else(|| self.error_at(offset, "a resource element is expected inside"))
    }

    /// Reads an element the model does not know: attributes and children become properties
    /// (an element with only a `value` attribute becomes that string), text is dropped. The
    /// validator reports the unknown property.
    fn unknown(
        &mut self,
        start: &BytesStart<'i>,
        empty: bool,
        offset: usize,
        depth: usize,
    ) -> Result<Value, FormatError> {
        self.check_depth(depth, offset)?;
        let mut props = Props::default();
        for (key, value) in self.attributes(start, offset)? {
            props.push(&key, false, Value::String(value));
        }
        if !empty {
            loop {
                let read = self.next()?;
                match read.event {
                    Event::Start(ref e) | Event::Empty(ref e) => {
                        let inner_empty = matches!(read.event, Event::Empty(_));
                        let key = local_name(e);
                        let value = self.unknown(e, inner_empty, read.start, depth + 2)?;
                        props.push(&key, false, value);
                    }
                    Event::End(_) => break,
                    Event::Eof => {
                        return Err(self.error_at(read.start, "unexpected end of document"));
                    }
                    _ => {}
                }
            }
        }
        let mut map = Map::new();
        props.finish(&mut map);
        if map.len() == 1
            && let Some(Value::String(value)) = map.get("value")
        {
            return Ok(Value::String(value.clone()));
        }
        Ok(Value::Object(map))
    }

    /// Reads the XHTML `div` into the string the JSON form holds. When the `div` declares the
    /// XHTML namespace itself (as every FHIR example does), the string is the element exactly as
    /// written in the document; otherwise (a prefix, or a namespace declared on an ancestor) it is
    /// re-serialised with unprefixed XHTML names and the declaration on the `div`.
    fn div(
        &mut self,
        start: &BytesStart<'i>,
        empty: bool,
        offset: usize,
        ns: &Ns,
    ) -> Result<String, FormatError> {
        let declares_itself = start
            .attributes()
            .flatten()
            .any(|a| a.key.as_ref() == b"xmlns" && a.value.as_ref() == XHTML_NS.as_bytes());
        let verbatim = declares_itself || ns != &Ns::Xhtml;
        let mut rewritten = String::new();
        if !verbatim {
            self.write_start(&mut rewritten, start, ns, true, offset)?;
            if empty {
                rewritten.push_str("/>");
            } else {
                rewritten.push('>');
            }
        }
        if !empty {
            let mut level = 0usize;
            loop {
                let read = self.next()?;
                if verbatim {
                    match read.event {
                        Event::Start(_) => level += 1,
                        Event::End(_) if level == 0 => break,
                        Event::End(_) => level -= 1,
                        Event::Eof => {
                            return Err(self.error_at(read.start, "unexpected end of document"));
                        }
                        _ => {}
                    }
                    continue;
                }
                let raw = self
                    .input
                    .get(read.start..self.position())
                    .unwrap_or_default();
                match read.event {
                    Event::Start(ref e) | Event::Empty(ref e) => {
                        let empty_child = matches!(read.event, Event::Empty(_));
                        self.write_start(&mut rewritten, e, &read.ns, false, read.start)?;
                        rewritten.push_str(if empty_child { "/>" } else { ">" });
                        if !empty_child {
                            level += 1;
                        }
                    }
                    Event::End(ref e) => {
                        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                        let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                        let shown = if read.ns == Ns::Xhtml { local } else { name };
                        rewritten.push_str("</");
                        rewritten.push_str(&shown);
                        rewritten.push('>');
                        if level == 0 {
                            break;
                        }
                        level -= 1;
                    }
                    Event::CData(ref data) => {
                        let text = String::from_utf8_lossy(data.as_ref()).into_owned();
                        super::write::escape_text(&mut rewritten, &text);
                    }
                    Event::Text(_) | Event::GeneralRef(_) | Event::Comment(_) => {
                        rewritten.push_str(raw);
                    }
                    Event::Eof => {
                        return Err(self.error_at(read.start, "unexpected end of document"));
                    }
                    _ => {}
                }
            }
        }
        if verbatim {
            let end = self.position();
            return self
                .input
                .get(offset..end)
                .map(str::to_string)
                .ok_or_else(|| self.error_at(offset, "invalid div"));
        }
        Ok(rewritten)
    }

    /// Writes `<name attr="…"` of an XHTML element for the re-serialised `div`.
    fn write_start(
        &self,
        out: &mut String,
        start: &BytesStart<'i>,
        ns: &Ns,
        root: bool,
        offset: usize,
    ) -> Result<(), FormatError> {
        out.push('<');
        if ns == &Ns::Xhtml {
            out.push_str(&String::from_utf8_lossy(start.local_name().as_ref()));
        } else {
            out.push_str(&String::from_utf8_lossy(start.name().as_ref()));
        }
        if root {
            out.push_str(" xmlns=\"");
            out.push_str(XHTML_NS);
            out.push('"');
        }
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| self.error_at(offset, e))?;
            let key = attribute.key;
            if key.as_ref() == b"xmlns" || key.prefix().is_some_and(|p| p.as_ref() == b"xmlns") {
                continue;
            }
            let raw = std::str::from_utf8(&attribute.value)
                .map_err(|_| self.error_at(offset, "attribute value is not UTF-8"))?;
            let value = unescape_attribute(raw).map_err(|m| self.error_at(offset, m))?;
            out.push(' ');
            out.push_str(&String::from_utf8_lossy(key.as_ref()));
            out.push_str("=\"");
            super::write::escape_attribute(out, &value);
            out.push('"');
        }
        Ok(())
    }
}

fn local_name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

fn is_blank(text: &[u8]) -> bool {
    text.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The JSON value of a primitive's `value` attribute. Booleans and numbers that do not have the
/// JSON lexical form are kept as JSON strings, which the validator rejects with a precise message.
fn primitive_value(code: &str, text: String) -> Value {
    match json_primitive(code) {
        JsonPrimitive::Boolean => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text),
        },
        JsonPrimitive::Number => {
            if is_json_number(&text)
                && let Ok(number) = serde_json::from_str::<Number>(&text)
            {
                return Value::Number(number);
            }
            Value::String(text)
        }
        JsonPrimitive::String => Value::String(text),
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if bytes.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    let int_len = digits(&mut i);
    if int_len == 0 || (int_len > 1 && bytes[int_start] == b'0') {
        return false;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

/// Checks a reference in text: character references to XML characters and the five predefined
/// entities only.
pub(super) fn check_reference(reference: &[u8]) -> Result<(), String> {
    let name = String::from_utf8_lossy(reference);
    resolve_reference(&name).map(|_| ())
}

fn resolve_reference(name: &str) -> Result<char, String> {
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => {
            let code = if let Some(hex) =
                name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
            {
                u32::from_str_radix(hex, 16).ok()
            } else if let Some(decimal) = name.strip_prefix('#') {
                decimal.parse::<u32>().ok()
            } else {
                return Err(format!(
                    "entity reference &{name}; is not allowed (only the five predefined entities \
                     and character references)"
                ));
            };
            code.and_then(char::from_u32)
                .filter(|&c| is_xml_char(c))
                .ok_or_else(|| format!("invalid character reference &{name};"))
        }
    }
}

/// A character XML 1.0 allows in a document.
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Unescapes an attribute value and applies XML attribute-value normalisation: a literal tab,
/// newline or carriage return (or CR LF) becomes one space; character references keep theirs.
fn unescape_attribute(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find(['&', '\t', '\n', '\r', '<']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("\r\n") {
            out.push(' ');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('&') {
            let end = after
                .find(';')
                .ok_or_else(|| "unterminated reference in attribute value".to_string())?;
            out.push(resolve_reference(&after[..end])?);
            rest = &after[end + 1..];
        } else if tail.starts_with('<') {
            return Err("'<' is not allowed in attribute values".to_string());
        } else {
            out.push(' ');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "1.50", "1e5", "1E+5", "-12.5e-3", "100"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "+1", "1e", " 1", "1 ", "0x10", "NaN",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn attribute_values_are_unescaped_and_normalised() {
        assert_eq!(
            unescape_attribute("a&amp;b&lt;&#10;c\nd\r\ne&#x41;").unwrap(),
            "a&b<\nc d eA"
        );
        assert!(unescape_attribute("&foo;").is_err());
        assert!(unescape_attribute("&#0;").is_err());
        assert!(unescape_attribute("a&b").is_err());
    }
}

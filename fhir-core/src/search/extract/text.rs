//! The texts of `_text` (the narrative) and `_content` (the whole resource).

use serde_json::Value;

use crate::model::{Model, TypeKind};

/// The text of the narrative (`text.div`): tags stripped, entities decoded, whitespace runs
/// collapsed to one space. Empty without a narrative.
pub fn narrative_text(resource: &Value) -> String {
    resource["text"]["div"]
        .as_str()
        .map(strip_xhtml)
        .unwrap_or_default()
}

/// Every text of the resource, for `_content`: its string, markdown and code values and its
/// narratives (of contained resources too), separated by single spaces, in document order.
pub fn content_text(resource: &Value) -> String {
    let mut out = String::new();
    if let Some(ty) = resource["resourceType"].as_str() {
        collect(resource, ty, &mut out);
    }
    out
}

fn push(out: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(text);
}

fn collect(value: &Value, ty: &str, out: &mut String) {
    let model = Model::r4();
    let Some(object) = value.as_object() else {
        return;
    };
    for (key, child) in object {
        if key.starts_with('_') || key == "resourceType" {
            continue;
        }
        let Some(element) = model.element(ty, key) else {
            continue;
        };
        let code = element.type_ref.code.as_str();
        let items: &[Value] = match child {
            Value::Array(items) => items,
            single => std::slice::from_ref(single),
        };
        for item in items {
            match code {
                "string" | "markdown" | "code" => {
                    if let Some(text) = item.as_str() {
                        push(out, text);
                    }
                }
                "xhtml" => {
                    if let Some(text) = item.as_str() {
                        push(out, &strip_xhtml(text));
                    }
                }
                "Resource" => {
                    if let Some(inner) = item["resourceType"].as_str() {
                        collect(item, inner, out);
                    }
                }
                _ => {
                    let complex = model
                        .type_def(code)
                        .is_some_and(|t| t.kind != TypeKind::PrimitiveType);
                    if complex {
                        collect(item, code, out);
                    }
                }
            }
        }
    }
}

/// The text of an XHTML fragment: tags removed (a space where a tag was), entities decoded,
/// whitespace collapsed.
fn strip_xhtml(xhtml: &str) -> String {
    let mut raw = String::with_capacity(xhtml.len());
    let mut rest = xhtml;
    while let Some(open) = rest.find('<') {
        raw.push_str(&rest[..open]);
        raw.push(' ');
        match rest[open..].find('>') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    raw.push_str(rest);
    let decoded = decode_entities(&raw);
    let mut out = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Decodes the XML entities and the common HTML ones; unknown entities stay as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &after[..end];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                        u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
                    } else if let Some(decimal) = name.strip_prefix('#') {
                        decimal.parse().ok().and_then(char::from_u32)
                    } else {
                        None
                    }
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn narrative_is_stripped_and_decoded() {
        let resource = json!({
            "resourceType": "Patient",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Peter &amp; James<br/>Chalmers&#160;&lt;x&gt; &#x41;</p>\n  <b>bold</b></div>"}
        });
        assert_eq!(
            narrative_text(&resource),
            "Peter & James Chalmers <x> A bold"
        );
        assert_eq!(narrative_text(&json!({"resourceType": "Patient"})), "");
    }

    #[test]
    fn content_collects_strings_codes_and_narratives() {
        let resource = json!({
            "resourceType": "Patient",
            "id": "x",
            "text": {"status": "generated", "div": "<div>Narrative</div>"},
            "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
            "gender": "male",
            "birthDate": "1974-12-25",
            "contained": [{"resourceType": "Organization", "name": "Acme"}]
        });
        assert_eq!(
            content_text(&resource),
            "generated Narrative Chalmers Peter James male Acme"
        );
    }
}

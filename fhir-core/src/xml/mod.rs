//! XML in and out, driven by the model metadata.
//!
//! [`from_xml`] reads FHIR XML into the FHIR JSON form ([`serde_json::Value`]), and [`to_xml`]
//! writes the JSON form as FHIR XML. Both walk the R4 [`Model`](crate::model::Model): element
//! order, which elements repeat (JSON arrays), choice types (`valueQuantity`), primitives (the
//! `value` attribute; `id` and extensions go to the JSON `_name` property), nested resources
//! (`contained`, `Bundle.entry.resource`, `Parameters.parameter.resource`), and the attributes of
//! complex elements (`id`, `Extension.url`).
//!
//! Decisions:
//! - The narrative `div` is kept as the exact text of the element in the document when it declares
//!   the XHTML namespace itself (every FHIR example does), so JSON → XML → JSON gives the same
//!   string. A `div` whose namespace comes from a prefix or an ancestor is re-serialised with the
//!   declaration on the `div`. When writing, a `div` string that is not one well-formed `div`
//!   element is written as escaped text inside a `div`, so the output is always well-formed.
//! - Booleans and numbers whose `value` attribute does not have the JSON lexical form (`yes`,
//!   `+1`, `.5`) are kept as JSON strings, which the structural validator rejects; numbers keep
//!   their lexical form (`1.50`).
//! - Elements the model does not know are not an error: they become a property of that name (an
//!   element with only a `value` attribute becomes a string, otherwise an object of its attributes
//!   and children; elements in a foreign namespace are named `{namespace}name`), and unknown
//!   attributes become `@name` properties, so the validator reports them. Prefixed attributes
//!   (`xsi:schemaLocation`) are ignored.
//! - A DOCTYPE, any entity reference other than the five predefined ones and character
//!   references, text inside FHIR elements, and nesting deeper than [`MAX_DEPTH`] JSON levels are
//!   errors. The document must be UTF-8.

mod read;
mod write;

use serde_json::Value;

use crate::json::FormatError;

/// The FHIR namespace, required on the root element.
pub const FHIR_NS: &str = "http://hl7.org/fhir";

/// The XHTML namespace of the narrative `div`.
pub const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// The deepest JSON nesting (objects and arrays) a document may produce: the same limit as
/// [`crate::json::parse`], so whatever [`from_xml`] accepts can be written and parsed as JSON.
pub const MAX_DEPTH: usize = 127;

/// Reads a FHIR XML resource into its JSON form.
///
/// The root element names the resource type and must be in the namespace [`FHIR_NS`].
pub fn from_xml(bytes: &[u8]) -> Result<Value, FormatError> {
    read::from_xml(bytes)
}

/// Writes a resource (JSON form) as FHIR XML, elements in definition order, with an XML
/// declaration; `pretty` indents by two spaces.
pub fn to_xml(resource: &Value, pretty: bool) -> String {
    write::to_xml(resource, pretty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Result<Value, FormatError> {
        from_xml(text.as_bytes())
    }

    #[test]
    fn doctype_is_refused() {
        let error = read(concat!(
            "<?xml version=\"1.0\"?>\n",
            "<!DOCTYPE Patient [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n",
            "<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"&x;\"/></Patient>"
        ))
        .unwrap_err();
        assert!(error.message.contains("DOCTYPE"), "{}", error.message);
    }

    #[test]
    fn entity_references_other_than_predefined_are_refused() {
        let in_attribute =
            read(r#"<Patient xmlns="http://hl7.org/fhir"><id value="a&x;"/></Patient>"#)
                .unwrap_err();
        assert!(
            in_attribute.message.contains("&x;"),
            "{}",
            in_attribute.message
        );
        let in_div = read(concat!(
            r#"<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>"#,
            r#"<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div></text></Patient>"#
        ))
        .unwrap_err();
        assert!(in_div.message.contains("&nbsp;"), "{}", in_div.message);
        let fine = read(concat!(
            r#"<Patient xmlns="http://hl7.org/fhir"><id value="a&amp;&lt;&#65;&#x42;"/>"#,
            r#"<text><status value="generated"/>"#,
            r#"<div xmlns="http://www.w3.org/1999/xhtml">&lt;&#160;</div></text></Patient>"#
        ))
        .unwrap();
        assert_eq!(fine["id"], "a&<AB");
        assert_eq!(
            fine["text"]["div"],
            r#"<div xmlns="http://www.w3.org/1999/xhtml">&lt;&#160;</div>"#
        );
    }

    fn nested_items(depth: usize) -> String {
        let mut text = String::from(r#"<Questionnaire xmlns="http://hl7.org/fhir">"#);
        for _ in 0..depth {
            text.push_str(r#"<item><linkId value="a"/>"#);
        }
        for _ in 0..depth {
            text.push_str("</item>");
        }
        text.push_str("</Questionnaire>");
        text
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let error = read(&nested_items(10_000)).unwrap_err();
        assert!(error.message.contains("deeper"), "{}", error.message);
        let unknown = format!(
            r#"<Patient xmlns="http://hl7.org/fhir">{}{}</Patient>"#,
            "<x>".repeat(10_000),
            "</x>".repeat(10_000)
        );
        assert!(read(&unknown).is_err());
        // Whatever is accepted can be written and parsed back as JSON.
        for depth in [10, 60, 62, 63, 64, 100] {
            if let Ok(value) = read(&nested_items(depth)) {
                let text = crate::json::to_string(&value);
                assert!(crate::json::parse(text.as_bytes()).is_ok(), "depth {depth}");
            }
        }
        assert!(read(&nested_items(60)).is_ok());
    }

    #[test]
    fn primitive_ids_and_extensions_round_trip() {
        let text = concat!(
            r#"<Patient xmlns="http://hl7.org/fhir"><name><given value="Peter"/>"#,
            r#"<given id="g2"><extension url="http://e"><valueCode value="VV"/></extension></given>"#,
            r#"<given value="James"/></name>"#,
            r#"<birthDate id="b" value="1974-12-25"><extension url="http://t">"#,
            r#"<valueDateTime value="1974-12-25T14:35:45-05:00"/></extension></birthDate>"#,
            r#"</Patient>"#
        );
        let value = read(text).unwrap();
        assert_eq!(
            value,
            json!({
                "resourceType": "Patient",
                "name": [{
                    "given": ["Peter", null, "James"],
                    "_given": [null, {"id": "g2", "extension": [{"url": "http://e", "valueCode": "VV"}]}, null]
                }],
                "birthDate": "1974-12-25",
                "_birthDate": {"id": "b", "extension": [{"url": "http://t", "valueDateTime": "1974-12-25T14:35:45-05:00"}]}
            })
        );
        for pretty in [false, true] {
            assert_eq!(read(&to_xml(&value, pretty)).unwrap(), value);
        }
        let compact = to_xml(&value, false);
        assert!(
            compact.contains(r#"<given id="g2"><extension url="http://e">"#),
            "{compact}"
        );
        assert!(
            compact.contains(r#"<birthDate id="b" value="1974-12-25">"#),
            "{compact}"
        );
    }

    #[test]
    fn decimals_keep_their_precision() {
        let value = read(concat!(
            r#"<Observation xmlns="http://hl7.org/fhir"><valueQuantity>"#,
            r#"<value value="1.50"/></valueQuantity>"#,
            r#"<component><valueInteger value="007"/></component>"#,
            r#"<component><valueBoolean value="yes"/></component></Observation>"#
        ))
        .unwrap();
        assert_eq!(
            crate::json::to_string(&value["valueQuantity"]),
            r#"{"value":1.50}"#
        );
        // Not JSON lexical forms: kept as strings for the validator to reject.
        assert_eq!(value["component"][0]["valueInteger"], "007");
        assert_eq!(value["component"][1]["valueBoolean"], "yes");
        let precise = crate::json::parse(
            br#"{"resourceType":"Observation","extension":[{"url":"http://e","valueDecimal":3.14159265358979323846264338327950288}]}"#,
        )
        .unwrap();
        let xml_text = to_xml(&precise, false);
        assert!(
            xml_text.contains(r#"<valueDecimal value="3.14159265358979323846264338327950288"/>"#)
        );
        assert_eq!(read(&xml_text).unwrap(), precise);
    }

    #[test]
    fn output_follows_definition_order() {
        let value = json!({
            "gender": "male",
            "name": [{"given": ["a"], "family": "F"}],
            "contained": [{"name": "N", "resourceType": "Organization", "id": "o"}],
            "extension": [{"valueString": "x", "url": "http://e"}],
            "id": "p",
            "resourceType": "Patient"
        });
        assert_eq!(
            to_xml(&value, false),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Patient xmlns="http://hl7.org/fhir">"#,
                r#"<id value="p"/><contained><Organization><id value="o"/><name value="N"/>"#,
                r#"</Organization></contained><extension url="http://e">"#,
                r#"<valueString value="x"/></extension><name><family value="F"/>"#,
                r#"<given value="a"/></name><gender value="male"/></Patient>"#
            )
        );
    }

    #[test]
    fn nested_resources_and_choices_are_read() {
        let value = read(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->\n",
            r#"<Bundle xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
            r#"xsi:schemaLocation="http://hl7.org/fhir bundle.xsd"><type value="collection"/>"#,
            r#"<entry><fullUrl value="urn:x"/><resource><Parameters><parameter><name value="p"/>"#,
            r#"<resource><Patient><active value="true"/></Patient></resource></parameter>"#,
            r#"<parameter><name value="q"/><valueQuantity id="v"><value value="2"/></valueQuantity>"#,
            r#"</parameter></Parameters></resource></entry></Bundle>"#
        ))
        .unwrap();
        assert_eq!(
            value,
            json!({
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{
                    "fullUrl": "urn:x",
                    "resource": {
                        "resourceType": "Parameters",
                        "parameter": [
                            {"name": "p", "resource": {"resourceType": "Patient", "active": true}},
                            {"name": "q", "valueQuantity": {"id": "v", "value": 2}}
                        ]
                    }
                }]
            })
        );
    }

    #[test]
    fn unknown_elements_and_attributes_become_properties() {
        let value = read(concat!(
            r#"<Patient xmlns="http://hl7.org/fhir" foo="bar"><favouriteColour value="blue"/>"#,
            r#"<name><nickname><text value="J"/></nickname></name></Patient>"#
        ))
        .unwrap();
        assert_eq!(value["@foo"], "bar");
        assert_eq!(value["favouriteColour"], "blue");
        assert_eq!(value["name"][0]["nickname"], json!({"text": "J"}));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for text in [
            "",
            "not xml",
            r#"<Patient><id value="x"/></Patient>"#,
            r#"<Patient xmlns="http://example.org"/>"#,
            r#"<Patient xmlns="http://hl7.org/fhir"><id value="x"></Patient>"#,
            r#"<Patient xmlns="http://hl7.org/fhir"><id value="x"/>"#,
            r#"<Patient xmlns="http://hl7.org/fhir"><active>true</active></Patient>"#,
            r#"<Patient xmlns="http://hl7.org/fhir"/><Patient xmlns="http://hl7.org/fhir"/>"#,
            r#"<Patient xmlns="http://hl7.org/fhir"><contained/></Patient>"#,
            r#"<Patient xmlns="http://hl7.org/fhir"><resourceType value="Observation"/></Patient>"#,
        ] {
            assert!(read(text).is_err(), "{text}");
        }
        assert!(
            from_xml(b"<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"\xff\"/></Patient>")
                .is_err()
        );
        assert_eq!(
            read(r#"<Patient xmlns="http://hl7.org/fhir"/>"#).unwrap(),
            json!({"resourceType": "Patient"})
        );
    }

    #[test]
    fn narrative_div_is_kept_or_reserialised() {
        let div = r#"<div xmlns="http://www.w3.org/1999/xhtml"><p class='x'>a &amp; "b"<br/></p><!-- c --></div>"#;
        let value = read(&format!(
            r#"<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>{div}</text></Patient>"#
        ))
        .unwrap();
        assert_eq!(value["text"]["div"], div);
        assert_eq!(read(&to_xml(&value, true)).unwrap(), value);
        let prefixed = read(concat!(
            r#"<Patient xmlns="http://hl7.org/fhir" xmlns:h="http://www.w3.org/1999/xhtml">"#,
            r#"<text><status value="generated"/><h:div><h:p title="a&quot;b">x &lt; y</h:p></h:div></text></Patient>"#
        ))
        .unwrap();
        assert_eq!(
            prefixed["text"]["div"],
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><p title="a&quot;b">x &lt; y</p></div>"#
        );
        // A div string that is not well-formed XHTML is written as text, never as markup.
        let broken = json!({"resourceType": "Patient",
                            "text": {"status": "generated", "div": "<div><script>"}});
        let written = to_xml(&broken, false);
        assert!(written.contains("&lt;div&gt;&lt;script&gt;"), "{written}");
        assert!(read(&written).is_ok());
    }

    #[test]
    fn attribute_values_escape_and_survive_whitespace() {
        let value = json!({"resourceType": "Patient", "id": "p",
                           "name": [{"text": "a\"b<c>&d\te\nf\r\ng"}]});
        let written = to_xml(&value, false);
        assert!(written.contains(r#"value="a&quot;b&lt;c&gt;&amp;d&#9;e&#10;f&#13;&#10;g""#));
        assert_eq!(read(&written).unwrap(), value);
    }
}

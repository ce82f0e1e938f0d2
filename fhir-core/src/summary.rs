//! Subsets of a resource: `_summary` and `_elements` (FHIR R4 search.html#summary and
//! search.html#elements).
//!
//! Decisions, where the specification leaves room:
//!
//! - `_summary=true` keeps, at the top level and recursively inside backbone elements, the
//!   elements marked `isSummary`, the mandatory ones (`min` ≥ 1) and the modifiers (a summary
//!   without a modifier could be misread); and always `resourceType`, `id` and `meta`. Inside a
//!   kept datatype everything is kept except `Attachment.data` (ElementDefinition.isSummary:
//!   "other than Attachment.data, all data type properties are included in the summary").
//!   A kept nested resource (`Bundle.entry.resource`, `Parameters.parameter.resource`) is kept
//!   whole. A backbone element left empty is dropped.
//! - `_summary=text` keeps `resourceType`, `id`, `meta`, `text` and the top-level mandatory
//!   elements; `_summary=data` removes `text`; `_summary=false` changes nothing.
//! - `_summary=count` is a search mode (the server returns no resources); given a resource it
//!   behaves like `true`.
//! - A `_name` primitive extension goes with its element (`birthDate` keeps `_birthDate`).
//! - Properties the model does not know are dropped by the subsetting modes.
//! - The `SUBSETTED` tag is added to `meta.tag` (creating `meta` right after `id` if needed)
//!   when something was actually removed, and only once. A resource without a known
//!   `resourceType` is returned unchanged.

use serde_json::{Map, Value, json};

use crate::model::{ElementDef, Model, TypeDef, TypeKind};

/// The system of the `SUBSETTED` tag.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

/// The code of the tag marking a resource some content was removed from.
pub const SUBSETTED_CODE: &str = "SUBSETTED";

/// The `_summary` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryMode {
    /// `true`: the elements marked as summary.
    True,
    /// `text`: `text`, `id`, `meta` and the top-level mandatory elements.
    Text,
    /// `data`: everything but `text`.
    Data,
    /// `count`: only the count of matches (a search mode; see [`summarize`]).
    Count,
    /// `false`: everything.
    False,
}

impl SummaryMode {
    /// Parses the value of `_summary` (`true`, `text`, `data`, `count`, `false`).
    pub fn parse(value: &str) -> Option<SummaryMode> {
        match value {
            "true" => Some(SummaryMode::True),
            "text" => Some(SummaryMode::Text),
            "data" => Some(SummaryMode::Data),
            "count" => Some(SummaryMode::Count),
            "false" => Some(SummaryMode::False),
            _ => None,
        }
    }

    /// The parameter value of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryMode::True => "true",
            SummaryMode::Text => "text",
            SummaryMode::Data => "data",
            SummaryMode::Count => "count",
            SummaryMode::False => "false",
        }
    }
}

/// The subset of a resource for `_summary=mode` (see the module documentation for the rules).
pub fn summarize(resource: &Value, mode: SummaryMode) -> Value {
    let Some((type_def, object)) = resource_parts(resource) else {
        return resource.clone();
    };
    let mut removed = false;
    let mut out = Map::with_capacity(object.len());
    match mode {
        SummaryMode::False => return resource.clone(),
        SummaryMode::Data => {
            for (key, value) in object {
                if key == "text" {
                    removed = true;
                } else {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        SummaryMode::Text => {
            for (key, value) in object {
                let keep = is_always_kept(key)
                    || key == "text"
                    || element_of(type_def, key).is_some_and(|e| e.min > 0);
                if keep {
                    out.insert(key.clone(), value.clone());
                } else {
                    removed = true;
                }
            }
        }
        SummaryMode::True | SummaryMode::Count => {
            for (key, value) in object {
                if is_always_kept(key) {
                    out.insert(key.clone(), value.clone());
                    continue;
                }
                match summary_element(Model::r4(), type_def, key, value, &mut removed) {
                    Some(kept) => {
                        out.insert(key.clone(), kept);
                    }
                    None => removed = true,
                }
            }
        }
    }
    if removed {
        add_subsetted(&mut out);
    }
    Value::Object(out)
}

/// The subset of a resource for `_elements=names`: the named top-level elements (a choice by its
/// name, `value` for `valueQuantity`; a name may be prefixed with the resource type:
/// `Patient.name`), with `resourceType`, `id`, `meta` and the mandatory top-level elements.
/// Unknown names are ignored. `SUBSETTED` is added when something was removed.
pub fn select_elements(resource: &Value, elements: &[&str]) -> Value {
    let Some((type_def, object)) = resource_parts(resource) else {
        return resource.clone();
    };
    let requested = |element: &ElementDef, key: &str| {
        elements.iter().any(|&name| {
            let name = name
                .strip_prefix(type_def.name.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(name)
                .trim();
            name == element.name || name == key.strip_prefix('_').unwrap_or(key)
        })
    };
    let mut removed = false;
    let mut out = Map::with_capacity(object.len());
    for (key, value) in object {
        let keep = is_always_kept(key)
            || element_of(type_def, key).is_some_and(|e| e.min > 0 || requested(e, key));
        if keep {
            out.insert(key.clone(), value.clone());
        } else {
            removed = true;
        }
    }
    if removed {
        add_subsetted(&mut out);
    }
    Value::Object(out)
}

/// Adds the `SUBSETTED` tag to `meta.tag` of a resource object, once.
pub fn add_subsetted(resource: &mut Map<String, Value>) {
    let tag = json!({"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE});
    match resource.get_mut("meta") {
        Some(Value::Object(meta)) => match meta.get_mut("tag") {
            Some(Value::Array(tags)) => {
                let present = tags.iter().any(|t| {
                    t.get("system").and_then(Value::as_str) == Some(SUBSETTED_SYSTEM)
                        && t.get("code").and_then(Value::as_str) == Some(SUBSETTED_CODE)
                });
                if !present {
                    tags.push(tag);
                }
            }
            // A malformed tag is left alone; a missing one is created.
            Some(_) => {}
            None => {
                meta.insert("tag".to_owned(), Value::Array(vec![tag]));
            }
        },
        Some(_) => {}
        None => {
            let index = resource
                .keys()
                .position(|k| !matches!(k.as_str(), "resourceType" | "id" | "_id"))
                .unwrap_or(resource.len());
            resource.shift_insert(index, "meta".to_owned(), json!({"tag": [tag]}));
        }
    }
}

/// `true` when the resource carries the `SUBSETTED` tag.
pub fn is_subsetted(resource: &Value) -> bool {
    resource
        .pointer("/meta/tag")
        .and_then(Value::as_array)
        .is_some_and(|tags| {
            tags.iter().any(|t| {
                t.get("system").and_then(Value::as_str) == Some(SUBSETTED_SYSTEM)
                    && t.get("code").and_then(Value::as_str) == Some(SUBSETTED_CODE)
            })
        })
}

fn resource_parts(resource: &Value) -> Option<(&'static TypeDef, &Map<String, Value>)> {
    let object = resource.as_object()?;
    let name = object.get("resourceType")?.as_str()?;
    Some((Model::r4().resource_type(name)?, object))
}

fn is_always_kept(key: &str) -> bool {
    matches!(key, "resourceType" | "id" | "_id" | "meta")
}

/// The element a property (`birthDate`, `_birthDate`, `valueQuantity`) belongs to.
fn element_of(type_def: &TypeDef, key: &str) -> Option<&'static ElementDef> {
    let name = key.strip_prefix('_').unwrap_or(key);
    Model::r4()
        .element(&type_def.name, name)
        .map(|found| found.element)
}

/// `_summary=true` for one property of a resource or backbone element: `None` when it goes.
fn summary_element(
    model: &'static Model,
    type_def: &TypeDef,
    key: &str,
    value: &Value,
    removed: &mut bool,
) -> Option<Value> {
    let name = key.strip_prefix('_').unwrap_or(key);
    let found = model.element(&type_def.name, name)?;
    let element = found.element;
    if !(element.summary || element.min > 0 || element.modifier) {
        return None;
    }
    let Some(child) = model.type_def(&found.type_ref.code) else {
        return Some(value.clone());
    };
    match child.kind {
        TypeKind::PrimitiveType => Some(value.clone()),
        TypeKind::Backbone => {
            map_items(value, |item| summary_backbone(model, child, item, removed))
        }
        TypeKind::ComplexType => map_items(value, |item| {
            Some(datatype_without_data(model, child, item, removed))
        }),
        // `Resource`: a nested resource is kept whole.
        TypeKind::Resource => Some(value.clone()),
    }
}

/// Applies `f` to a value or to each item of an array; drops what `f` drops, and the array when
/// nothing is left.
fn map_items(value: &Value, mut f: impl FnMut(&Value) -> Option<Value>) -> Option<Value> {
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(f).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => f(other),
    }
}

fn summary_backbone(
    model: &'static Model,
    type_def: &TypeDef,
    value: &Value,
    removed: &mut bool,
) -> Option<Value> {
    let Value::Object(object) = value else {
        return Some(value.clone());
    };
    let mut out = Map::with_capacity(object.len());
    for (key, item) in object {
        match summary_element(model, type_def, key, item, removed) {
            Some(kept) => {
                out.insert(key.clone(), kept);
            }
            None => *removed = true,
        }
    }
    if out.is_empty() {
        *removed = true;
        None
    } else {
        Some(Value::Object(out))
    }
}

/// A datatype, whole but for `Attachment.data` at any depth.
fn datatype_without_data(
    model: &'static Model,
    type_def: &TypeDef,
    value: &Value,
    removed: &mut bool,
) -> Value {
    let Value::Object(object) = value else {
        return value.clone();
    };
    let attachment = type_def.name == "Attachment";
    let mut out = Map::with_capacity(object.len());
    for (key, item) in object {
        if attachment && (key == "data" || key == "_data") {
            *removed = true;
            continue;
        }
        let name = key.strip_prefix('_').unwrap_or(key);
        let child = model
            .element(&type_def.name, name)
            .and_then(|found| model.type_def(&found.type_ref.code))
            .filter(|child| child.kind == TypeKind::ComplexType);
        let kept = match child {
            Some(child) if !key.starts_with('_') => match item {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|i| datatype_without_data(model, child, i, removed))
                        .collect(),
                ),
                other => datatype_without_data(model, child, other, removed),
            },
            _ => item.clone(),
        };
        out.insert(key.clone(), kept);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p1",
            "meta": {"versionId": "2"},
            "text": {"status": "generated", "div": "<div>Peter</div>"},
            "extension": [{"url": "http://e.org", "valueString": "x"}],
            "active": true,
            "name": [{"family": "Chalmers", "given": ["Peter"],
                      "extension": [{"url": "http://e.org/n", "valueString": "y"}]}],
            "birthDate": "1974-12-25",
            "_birthDate": {"id": "b"},
            "deceasedBoolean": false,
            "maritalStatus": {"text": "married"},
            "photo": [{"contentType": "image/png", "data": "aGVsbG8="}],
            "contact": [{"name": {"family": "du Marché"}}],
            "link": [{"other": {"reference": "Patient/2"}, "type": "seealso", "id": "l1"}]
        })
    }

    fn subsetted_tag() -> Value {
        json!({"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE})
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn modes_parse() {
        for mode in [
            SummaryMode::True,
            SummaryMode::Text,
            SummaryMode::Data,
            SummaryMode::Count,
            SummaryMode::False,
        ] {
            assert_eq!(SummaryMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(SummaryMode::parse("TRUE"), None);
        assert_eq!(SummaryMode::parse(""), None);
    }

    #[test]
    fn summary_true_keeps_summary_elements() {
        let summary = summarize(&patient(), SummaryMode::True);
        assert_eq!(
            keys(&summary),
            [
                "resourceType",
                "id",
                "meta",
                "active",
                "name",
                "birthDate",
                "_birthDate",
                "deceasedBoolean",
                "link"
            ]
        );
        // Datatypes are kept whole, with their extensions.
        assert_eq!(summary["name"], patient()["name"]);
        // Backbones keep their summary elements only (Element.id is not one).
        assert_eq!(
            summary["link"],
            json!([{"other": {"reference": "Patient/2"}, "type": "seealso"}])
        );
        assert_eq!(
            summary["meta"],
            json!({"versionId": "2", "tag": [subsetted_tag()]})
        );
        assert_eq!(summarize(&patient(), SummaryMode::Count), summary);
    }

    #[test]
    fn summary_true_drops_attachment_data_and_empty_backbones() {
        let document = json!({
            "resourceType": "DocumentReference",
            "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8=",
                                        "_data": {"id": "d"}}}]
        });
        assert_eq!(
            summarize(&document, SummaryMode::True),
            json!({
                "resourceType": "DocumentReference",
                "meta": {"tag": [subsetted_tag()]},
                "status": "current",
                "content": [{"attachment": {"contentType": "text/plain"}}]
            })
        );
        let observation = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueString": "v",
            "component": [{"code": {"text": "c"}, "interpretation": [{"text": "i"}]}],
            "referenceRange": [{"text": "r"}]
        });
        assert_eq!(
            summarize(&observation, SummaryMode::True),
            json!({
                "resourceType": "Observation",
                "meta": {"tag": [subsetted_tag()]},
                "status": "final",
                "code": {"text": "x"},
                "valueString": "v",
                "component": [{"code": {"text": "c"}}]
            })
        );
        let care_plan = json!({
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/1"},
            "activity": [{"progress": [{"text": "p"}]}]
        });
        // activity is not a summary element.
        assert_eq!(
            keys(&summarize(&care_plan, SummaryMode::True)),
            ["resourceType", "meta", "status", "intent", "subject"]
        );
        let questionnaire_response = json!({
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "item": [{"linkId": "1", "text": "q"}]
        });
        // item is not a summary element; status is.
        assert_eq!(
            keys(&summarize(&questionnaire_response, SummaryMode::True)),
            ["resourceType", "meta", "status"]
        );
    }

    #[test]
    fn summary_text_keeps_text_and_mandatory_elements() {
        let summary = summarize(&patient(), SummaryMode::Text);
        assert_eq!(keys(&summary), ["resourceType", "id", "meta", "text"]);
        let observation = json!({"resourceType": "Observation", "id": "o",
            "text": {"status": "generated", "div": "<div>x</div>"},
            "status": "final", "code": {"text": "x"}, "valueString": "v"});
        assert_eq!(
            keys(&summarize(&observation, SummaryMode::Text)),
            ["resourceType", "id", "meta", "text", "status", "code"]
        );
    }

    #[test]
    fn summary_data_removes_text_only() {
        let data = summarize(&patient(), SummaryMode::Data);
        let mut expected = patient();
        let object = expected.as_object_mut().unwrap();
        object.shift_remove("text");
        add_subsetted(object);
        assert_eq!(data, expected);
        assert!(is_subsetted(&data));
        // Nothing to remove: unchanged, no tag.
        let bare = json!({"resourceType": "Patient", "id": "x"});
        assert_eq!(summarize(&bare, SummaryMode::Data), bare);
        assert_eq!(summarize(&patient(), SummaryMode::False), patient());
    }

    #[test]
    fn the_tag_is_added_once_and_meta_goes_after_id() {
        let tagged = summarize(&summarize(&patient(), SummaryMode::Data), SummaryMode::Text);
        assert_eq!(tagged["meta"]["tag"], json!([subsetted_tag()]));
        let no_meta = json!({"resourceType": "Patient", "id": "x", "gender": "male", "text":
            {"status": "generated", "div": "<div>x</div>"}});
        let data = summarize(&no_meta, SummaryMode::Data);
        assert_eq!(keys(&data), ["resourceType", "id", "meta", "gender"]);
        let with_tags = json!({"resourceType": "Patient",
            "meta": {"tag": [{"system": "s", "code": "c"}]}, "gender": "male"});
        let text = summarize(&with_tags, SummaryMode::Text);
        assert_eq!(
            text["meta"]["tag"],
            json!([{"system": "s", "code": "c"}, subsetted_tag()])
        );
    }

    #[test]
    fn unknown_resources_are_returned_unchanged() {
        let unknown = json!({"resourceType": "Nope", "text": 1});
        assert_eq!(summarize(&unknown, SummaryMode::Data), unknown);
        assert_eq!(select_elements(&unknown, &["id"]), unknown);
        assert_eq!(summarize(&json!([1]), SummaryMode::True), json!([1]));
    }

    #[test]
    fn elements_keep_named_mandatory_and_identity_elements() {
        let selected = select_elements(
            &patient(),
            &["birthDate", "deceased", "Patient.maritalStatus"],
        );
        assert_eq!(
            keys(&selected),
            [
                "resourceType",
                "id",
                "meta",
                "birthDate",
                "_birthDate",
                "deceasedBoolean",
                "maritalStatus"
            ]
        );
        assert!(is_subsetted(&selected));
        let observation = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "valueQuantity": {"value": 1}, "note": [{"text": "n"}]});
        let selected = select_elements(&observation, &["value"]);
        assert_eq!(
            keys(&selected),
            ["resourceType", "meta", "status", "code", "valueQuantity"]
        );
        let selected = select_elements(&observation, &["valueQuantity", "note"]);
        assert_eq!(selected, observation);
        // Everything requested: nothing removed, no tag.
        let bare = json!({"resourceType": "Patient", "id": "x", "gender": "male"});
        assert_eq!(select_elements(&bare, &["gender"]), bare);
        // Unknown names are ignored.
        assert_eq!(
            keys(&select_elements(&bare, &["nope", ""])),
            ["resourceType", "id", "meta"]
        );
    }
}

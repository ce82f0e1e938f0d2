//! Unit tests of the structural validation: one small bad resource per check, with the exact
//! location reported.

use serde_json::{Value, json};

use super::*;

/// The (code, expression) pairs of the issues of a resource.
fn issues(resource: Value) -> Vec<(&'static str, String)> {
    validate_resource(&resource)
        .into_iter()
        .map(|issue| (issue.code, issue.expression.unwrap_or_default()))
        .collect()
}

fn one(resource: Value, code: &'static str, expression: &str) {
    assert_eq!(
        issues(resource),
        vec![(code, expression.to_owned())],
        "expected exactly one {code} issue at {expression}"
    );
}

fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_valid_patient_has_no_issues() {
    let patient = json!({
        "resourceType": "Patient",
        "id": "example",
        "meta": {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z"},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter</div>"},
        "extension": [{"url": "http://example.org/a", "valueString": "x"}],
        "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
        "active": true,
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"],
                  "_given": [null, {"extension": [{"url": "http://example.org/b", "valueCode": "x"}]}]}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                      "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "deceasedBoolean": false,
        "multipleBirthInteger": 2,
        "contact": [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
                     "name": {"family": "du Marché"}}],
        "link": [{"other": {"reference": "Patient/other"}, "type": "seealso"}]
    });
    assert_eq!(validate_resource(&patient), vec![]);
}

#[test]
fn the_top_level_must_be_a_resource() {
    one(json!([]), "structure", "Resource");
    one(json!({"id": "x"}), "required", "Resource");
    one(json!({"resourceType": 1}), "structure", "Resource");
    one(json!({"resourceType": "Nope"}), "invalid", "Resource");
    one(
        json!({"resourceType": "DomainResource"}),
        "invalid",
        "Resource",
    );
    one(json!({"resourceType": "HumanName"}), "invalid", "Resource");
}

#[test]
fn unknown_elements_are_reported() {
    one(
        json!({"resourceType": "Patient", "nickname": "Pete"}),
        "structure",
        "Patient.nickname",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"first": "Pete"}]}),
        "structure",
        "Patient.name[0].first",
    );
    one(
        json!({"resourceType": "Patient", "_name": [{"id": "x"}]}),
        "structure",
        "Patient._name",
    );
    one(
        json!({"resourceType": "Patient", "gender": "male", "_gender": {"value": "male"}}),
        "structure",
        "Patient.gender.value",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"resourceType": "HumanName"}]}),
        "structure",
        "Patient.name[0].resourceType",
    );
}

#[test]
fn choice_elements_need_a_valid_suffix_and_only_one_type() {
    let found = validate_resource(&json!({"resourceType": "Patient", "deceased": true}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].expression.as_deref(), Some("Patient.deceased"));
    assert!(found[0].diagnostics.contains("deceasedBoolean"));
    one(
        json!({"resourceType": "Patient", "deceasedString": "yes"}),
        "structure",
        "Patient.deceasedString",
    );
    one(
        json!({"resourceType": "Patient", "deceasedBoolean": true, "deceasedDateTime": "2020"}),
        "structure",
        "Patient.deceasedDateTime",
    );
    // A value with its extension is one type.
    assert_eq!(
        issues(json!({"resourceType": "Patient", "deceasedBoolean": true,
                      "_deceasedBoolean": {"id": "a"}})),
        vec![]
    );
}

#[test]
fn json_shapes_match_the_elements() {
    one(
        json!({"resourceType": "Patient", "name": {"family": "x"}}),
        "structure",
        "Patient.name",
    );
    one(
        json!({"resourceType": "Patient", "gender": ["male"]}),
        "structure",
        "Patient.gender",
    );
    one(
        json!({"resourceType": "Patient", "name": ["Peter"]}),
        "structure",
        "Patient.name[0]",
    );
    one(
        json!({"resourceType": "Patient", "active": "true"}),
        "structure",
        "Patient.active",
    );
    one(
        json!({"resourceType": "Patient", "multipleBirthInteger": "2"}),
        "structure",
        "Patient.multipleBirthInteger",
    );
    one(
        json!({"resourceType": "Patient", "birthDate": 1974}),
        "structure",
        "Patient.birthDate",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"given": "Peter"}]}),
        "structure",
        "Patient.name[0].given",
    );
    one(
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
               "valueQuantity": {"value": "1"}}),
        "structure",
        "Observation.valueQuantity.value",
    );
}

#[test]
fn primitive_values_are_checked() {
    one(
        json!({"resourceType": "Patient", "name": [{"given": ["Peter", ""]}]}),
        "value",
        "Patient.name[0].given[1]",
    );
    one(
        json!({"resourceType": "Patient", "birthDate": "1974-02-30"}),
        "value",
        "Patient.birthDate",
    );
    one(
        json!({"resourceType": "Patient", "id": "a_b"}),
        "value",
        "Patient.id",
    );
    one(
        json!({"resourceType": "Patient", "gender": " male"}),
        "value",
        "Patient.gender",
    );
    one(
        json!({"resourceType": "Patient", "multipleBirthInteger": number("2147483648")}),
        "value",
        "Patient.multipleBirthInteger",
    );
    one(
        json!({"resourceType": "Patient", "photo": [{"data": "abc"}]}),
        "value",
        "Patient.photo[0].data",
    );
    one(
        json!({"resourceType": "Patient", "implicitRules": "http://a b"}),
        "value",
        "Patient.implicitRules",
    );
    one(
        json!({"resourceType": "Patient", "text": {"status": "generated",
               "div": "<div><script>alert(1)</script></div>"}}),
        "value",
        "Patient.text.div",
    );
    one(
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
               "valueQuantity": {"value": number("1.5"), "code": "mm[Hg] "}}),
        "value",
        "Observation.valueQuantity.code",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"text": "   "}]}),
        "value",
        "Patient.name[0].text",
    );
}

#[test]
fn nulls_are_only_allowed_against_primitive_extensions() {
    one(
        json!({"resourceType": "Patient", "birthDate": null}),
        "structure",
        "Patient.birthDate",
    );
    one(
        json!({"resourceType": "Patient", "name": [null]}),
        "structure",
        "Patient.name[0]",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"given": ["Peter", null]}]}),
        "structure",
        "Patient.name[0].given[1]",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"given": ["Peter", null],
               "_given": [null, null]}]}),
        "structure",
        "Patient.name[0].given[1]",
    );
    // An extension only, with the value array absent, and the other way round.
    assert_eq!(
        issues(json!({"resourceType": "Patient", "name": [{"_given": [{"id": "a"}]}]})),
        vec![]
    );
    assert_eq!(
        issues(
            json!({"resourceType": "Patient", "name": [{"given": ["a", "b"],
                      "_given": [{"id": "a"}, null]}]})
        ),
        vec![]
    );
    one(
        json!({"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [{"id": "a"}]}]}),
        "structure",
        "Patient.name[0].given",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"given": ["a"], "_given": {"id": "a"}}]}),
        "structure",
        "Patient.name[0].given",
    );
}

#[test]
fn primitive_extensions_hold_only_id_and_extension() {
    one(
        json!({"resourceType": "Patient", "birthDate": "1974", "_birthDate": "x"}),
        "structure",
        "Patient.birthDate",
    );
    one(
        json!({"resourceType": "Patient", "_birthDate": {"id": 1}}),
        "structure",
        "Patient.birthDate.id",
    );
    one(
        json!({"resourceType": "Patient", "_birthDate": {"extension": [{"valueString": "x"}]}}),
        "required",
        "Patient.birthDate.extension[0].url",
    );
    one(
        json!({"resourceType": "Patient", "_birthDate": [{"id": "a"}]}),
        "structure",
        "Patient.birthDate",
    );
}

#[test]
fn empty_objects_arrays_and_strings_are_reported() {
    one(
        json!({"resourceType": "Patient", "name": []}),
        "structure",
        "Patient.name",
    );
    one(
        json!({"resourceType": "Patient", "name": [{}]}),
        "structure",
        "Patient.name[0]",
    );
    one(
        json!({"resourceType": "Patient", "maritalStatus": {}}),
        "structure",
        "Patient.maritalStatus",
    );
    one(
        json!({"resourceType": "Patient", "gender": ""}),
        "value",
        "Patient.gender",
    );
    one(
        json!({"resourceType": "Patient", "_birthDate": {}}),
        "structure",
        "Patient.birthDate",
    );
}

#[test]
fn required_elements_are_reported_at_every_level() {
    assert_eq!(
        issues(json!({"resourceType": "Observation", "valueString": "x"})),
        vec![
            ("required", "Observation.status".to_owned()),
            ("required", "Observation.code".to_owned()),
        ]
    );
    one(
        json!({"resourceType": "Patient", "link": [{"type": "seealso"}]}),
        "required",
        "Patient.link[0].other",
    );
    one(
        json!({"resourceType": "Patient", "text": {"div": "<div>x</div>"}}),
        "required",
        "Patient.text.status",
    );
    // A required primitive present only through its extension is present.
    assert_eq!(
        issues(
            json!({"resourceType": "Patient", "link": [{"other": {"display": "x"},
                      "_type": {"extension": [{"url": "http://example.org", "valueCode": "x"}]}}]})
        ),
        vec![]
    );
    one(
        json!({"resourceType": "Parameters", "parameter": [{"valueString": "x"}]}),
        "required",
        "Parameters.parameter[0].name",
    );
}

#[test]
fn extensions_need_a_url_and_a_value_or_extensions() {
    one(
        json!({"resourceType": "Patient", "extension": [{"valueString": "x"}]}),
        "required",
        "Patient.extension[0].url",
    );
    one(
        json!({"resourceType": "Patient", "extension": [{"url": "http://e.org"}]}),
        "invalid",
        "Patient.extension[0]",
    );
    one(
        json!({"resourceType": "Patient", "extension": [{"url": "http://e.org", "valueString": "x",
               "extension": [{"url": "a", "valueString": "y"}]}]}),
        "invalid",
        "Patient.extension[0]",
    );
    one(
        json!({"resourceType": "Patient", "name": [{"extension": [{"url": "http://e.org",
               "extension": [{"url": "a", "valueInteger": number("1.5")}]}]}]}),
        "value",
        "Patient.name[0].extension[0].extension[0].valueInteger",
    );
    assert_eq!(
        issues(
            json!({"resourceType": "Patient", "modifierExtension": [{"url": "http://e.org",
               "valueFoo": "x"}]})
        ),
        vec![
            (
                "structure",
                "Patient.modifierExtension[0].valueFoo".to_owned()
            ),
            ("invalid", "Patient.modifierExtension[0]".to_owned()),
        ]
    );
}

#[test]
fn nested_resources_are_validated_with_their_own_type() {
    one(
        json!({"resourceType": "Patient", "contained": [{"resourceType": "Practitioner",
               "name": [{"family": 1}]}]}),
        "structure",
        "Patient.contained[0].ofType(Practitioner).name[0].family",
    );
    one(
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient"}},
            {"fullUrl": "urn:uuid:x"},
            {"resource": {"resourceType": "Patient", "birthDate": "1974-13"}}]}),
        "value",
        "Bundle.entry[2].resource.ofType(Patient).birthDate",
    );
    one(
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"id": "x"}}]}),
        "required",
        "Bundle.entry[0].resource",
    );
    one(
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Resource"}}]}),
        "invalid",
        "Bundle.entry[0].resource",
    );
    one(
        json!({"resourceType": "Parameters", "parameter": [{"name": "p",
               "resource": {"resourceType": "Patient", "active": 1}}]}),
        "structure",
        "Parameters.parameter[0].resource.ofType(Patient).active",
    );
    one(
        json!({"resourceType": "Patient", "contained": [{"resourceType": "Patient", "contained": [
            {"resourceType": "Organization", "name": "x"}]}]}),
        "invalid",
        "Patient.contained[0].ofType(Patient).contained",
    );
    one(
        json!({"resourceType": "Patient", "contained": {"resourceType": "Organization"}}),
        "structure",
        "Patient.contained",
    );
    one(
        json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": "Patient/1"}]}),
        "structure",
        "Bundle.entry[0].resource",
    );
}

#[test]
fn deep_nesting_is_cut_without_overflowing_the_stack() {
    let mut extension = json!({"url": "http://e.org", "valueString": "leaf"});
    for _ in 0..300 {
        extension = json!({"url": "http://e.org", "extension": [extension]});
    }
    let found = validate_resource(&json!({"resourceType": "Patient", "extension": [extension]}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, "structure");
    assert!(found[0].diagnostics.contains("nested deeper"));

    let mut bundle = json!({"resourceType": "Patient"});
    for _ in 0..200 {
        bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bundle}]});
    }
    let found = validate_resource(&bundle);
    assert_eq!(found.len(), 1);
    assert!(found[0].diagnostics.contains("nested deeper"));
}

#[test]
fn issues_are_capped() {
    let names: Vec<Value> = (0..3000).map(|_| json!({"x": 1})).collect();
    let found = validate_resource(&json!({"resourceType": "Patient", "name": names}));
    assert_eq!(found.len(), MAX_ISSUES + 1);
    assert_eq!(found[MAX_ISSUES].code, "too-costly");
}

#[test]
fn all_issues_are_collected() {
    let found = issues(json!({
        "resourceType": "Patient",
        "id": "bad id",
        "active": "yes",
        "name": [{"given": [""]}],
        "foo": 1,
        "link": [{}]
    }));
    assert_eq!(
        found,
        vec![
            ("value", "Patient.id".to_owned()),
            ("structure", "Patient.active".to_owned()),
            ("value", "Patient.name[0].given[0]".to_owned()),
            ("structure", "Patient.foo".to_owned()),
            ("structure", "Patient.link[0]".to_owned()),
        ]
    );
}

#[test]
fn a_patient_validates_in_microseconds() {
    let patient = json!({
        "resourceType": "Patient", "id": "example",
        "identifier": [{"use": "usual", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
        "active": true,
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
        "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"}],
        "gender": "male", "birthDate": "1974-12-25",
        "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}]
    });
    assert!(validate_resource(&patient).is_empty());
    let runs = 2000;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(validate_resource(std::hint::black_box(&patient)));
    }
    let each = start.elapsed() / runs;
    eprintln!("a Patient validates in {each:?}");
    // Generous bound for unoptimised builds on a loaded machine.
    assert!(each < std::time::Duration::from_millis(1), "{each:?}");
}

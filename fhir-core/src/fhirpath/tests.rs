//! Unit tests of the engine: limits, resolve(), thread sharing and a sanity run.

use serde_json::{Value, json};

use super::*;

#[test]
fn rejects_long_expressions() {
    let long = "1 + ".repeat(2000) + "1";
    assert!(matches!(
        Expression::parse(&long),
        Err(FhirPathError::Limit(_))
    ));
    let limits = Limits {
        max_length: 10,
        max_depth: 64,
    };
    assert!(matches!(
        Expression::parse_with("Patient.name.given", &limits),
        Err(FhirPathError::Limit(_))
    ));
}

#[test]
fn rejects_deep_nesting_without_overflowing_the_stack() {
    let deep = "(".repeat(100_000) + "1" + &")".repeat(100_000);
    let generous = Limits {
        max_length: usize::MAX,
        max_depth: 64,
    };
    assert!(matches!(
        Expression::parse_with(&deep, &generous),
        Err(FhirPathError::Limit(_))
    ));
    // Left-nested chains are deep trees too.
    let chain = "1".to_string() + &" + 1".repeat(100);
    assert!(matches!(
        Expression::parse(&chain),
        Err(FhirPathError::Limit(_))
    ));
    let unary = "-".repeat(100_000) + "1";
    assert!(matches!(
        Expression::parse_with(&unary, &generous),
        Err(FhirPathError::Limit(_))
    ));
    assert!(Expression::parse(&("(".repeat(30) + "1" + &")".repeat(30))).is_ok());
}

#[test]
fn syntax_errors_are_parse_errors() {
    assert!(matches!(
        Expression::parse("2 + "),
        Err(FhirPathError::Parse(_))
    ));
    assert!(matches!(
        Expression::parse("'open"),
        Err(FhirPathError::Parse(_))
    ));
}

fn bundle() -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "http://example.org/fhir/Patient/p1",
             "resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}},
            {"fullUrl": "urn:uuid:0b8d5e0c-0000-0000-0000-000000000001",
             "resource": {"resourceType": "Observation", "id": "o1",
                          "subject": {"reference": "Patient/p1"},
                          "performer": [{"reference": "http://example.org/fhir/Patient/p1"}]}}
        ]
    })
}

#[test]
fn resolve_in_a_bundle_and_contained() {
    let bundle = bundle();
    let env = Environment::new();
    let by_type_id =
        Expression::parse("Bundle.entry.resource.ofType(Observation).subject.resolve().gender")
            .unwrap();
    let genders: Vec<Value> = by_type_id
        .evaluate(&bundle, &env)
        .unwrap()
        .iter()
        .map(Item::to_json)
        .collect();
    assert_eq!(genders, vec![json!("female")]);
    let by_full_url =
        Expression::parse("Bundle.entry.resource.ofType(Observation).performer.resolve().id")
            .unwrap();
    assert_eq!(
        by_full_url.evaluate_json(&bundle).unwrap(),
        vec![json!("p1")]
    );

    let with_contained = json!({
        "resourceType": "Observation",
        "contained": [{"resourceType": "Patient", "id": "c", "gender": "male"}],
        "subject": {"reference": "#c"}
    });
    let expression = Expression::parse("Observation.subject.resolve().gender").unwrap();
    assert_eq!(
        expression.evaluate_json(&with_contained).unwrap(),
        vec![json!("male")]
    );
}

struct Store;

impl Resolver for Store {
    fn resolve(&self, reference: &str) -> Option<Value> {
        (reference == "Patient/stored")
            .then(|| json!({"resourceType": "Patient", "id": "stored", "active": true}))
    }
}

#[test]
fn resolve_through_a_resolver_keeps_results_borrowable() {
    let observation = json!({
        "resourceType": "Observation",
        "subject": {"reference": "Patient/stored"},
        "performer": [{"reference": "Patient/stored"}, {"reference": "Patient/missing"}]
    });
    let store = Store;
    let env = Environment::new().with_resolver(&store);
    let expression = Expression::parse("(subject | performer).resolve().where(active).id").unwrap();
    let items = expression.evaluate(&observation, &env).unwrap();
    let ids: Vec<&Value> = items.iter().filter_map(Item::as_json).collect();
    // The union keeps one of the two equal references; the missing one resolves to nothing.
    assert_eq!(ids, vec![&json!("stored")]);
    assert_eq!(items[0].type_name(), "id");
}

#[test]
fn expressions_are_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Expression>();
    let expression = std::sync::Arc::new(Expression::parse("name.given.count()").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let expression = expression.clone();
            std::thread::spawn(move || {
                let patient = json!({"resourceType": "Patient",
                    "name": [{"given": vec!["x"; i + 1]}]});
                expression.evaluate_json(&patient).unwrap()
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), vec![json!(i + 1)]);
    }
}

#[test]
fn sanity_types_choices_and_primitive_extensions() {
    let patient = json!({
        "resourceType": "Patient",
        "id": "x",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://e/t", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "_gender": {"extension": [{"url": "http://e/absent", "valueCode": "unknown"}]},
        "deceasedBoolean": false,
        "text": {"status": "generated", "div": "<div/>"}
    });
    let check = |src: &str, expected: Value| {
        let expression = Expression::parse(src).unwrap();
        assert_eq!(
            expression.evaluate_json(&patient).unwrap(),
            vec![expected],
            "{src}"
        );
    };
    check(
        "Patient.birthDate.extension('http://e/t').exists()",
        json!(true),
    );
    check(
        "Patient.gender.extension('http://e/absent').value",
        json!("unknown"),
    );
    check("Patient.gender.hasValue()", json!(false));
    check("Patient.deceased is boolean", json!(true));
    check("Resource.id", json!("x"));
    check("DomainResource.text.status", json!("generated"));
    check("Patient.birthDate < @2000-01-01", json!(true));
    check("(1 'cm' = 10 'mm') and (7 days = 1 'wk')", json!(true));
    check("Patient.descendants().count() > 5", json!(true));
    check("%resource.id & %context.id", json!("xx"));
}

#[test]
fn unsupported_terminology_is_reported() {
    let expression = Expression::parse("'a'.memberOf('http://vs')").unwrap();
    assert!(matches!(
        expression.evaluate_json(&json!({})),
        Err(FhirPathError::Unsupported(_))
    ));
}

#[test]
fn unknown_functions_are_parse_errors() {
    assert!(matches!(
        Expression::parse("name.frist()"),
        Err(FhirPathError::Parse(_))
    ));
}

#[test]
fn environment_variables_and_boolean_evaluation() {
    let bundle = bundle();
    let patient = &bundle["entry"][0]["resource"];
    let env = Environment::new()
        .with_root_resource(&bundle)
        .with_variable("minimum", vec![Item::Integer(2)]);
    let expression =
        Expression::parse("%rootResource.entry.count() >= %minimum and gender = 'female'").unwrap();
    assert_eq!(
        expression.evaluate_boolean(patient, &env).unwrap(),
        Some(true)
    );
    let empty = Expression::parse("birthDate > @2000").unwrap();
    assert_eq!(empty.evaluate_boolean(patient, &env).unwrap(), None);
    let unknown = Expression::parse("%missing").unwrap();
    assert!(matches!(
        unknown.evaluate(patient, &env),
        Err(FhirPathError::Evaluation(_))
    ));
}

#[test]
fn repeat_and_descendants_follow_deep_data_without_recursion() {
    // Parsed JSON is at most 128 levels deep (serde_json's limit; deeper `Value`s would overflow
    // the stack when dropped, whatever the engine does), so this is as deep as real data gets.
    let mut item = json!({"linkId": "leaf"});
    for depth in 0..60 {
        item = json!({"linkId": depth.to_string(), "item": [item]});
    }
    let questionnaire = json!({"resourceType": "Questionnaire", "status": "draft", "item": [item]});
    let repeat = Expression::parse("Questionnaire.repeat(item).count()").unwrap();
    assert_eq!(
        repeat.evaluate_json(&questionnaire).unwrap(),
        vec![json!(61)]
    );
    let descendants = Expression::parse("descendants().linkId.count()").unwrap();
    assert_eq!(
        descendants.evaluate_json(&questionnaire).unwrap(),
        vec![json!(61)]
    );
}

#[test]
fn hostile_values_give_empty_or_errors_not_panics() {
    for src in [
        "-(-9223372036854775807 - 1)",
        "(-9223372036854775807 - 1).abs()",
        "9223372036854775807 + 1",
        "9223372036854775807 * 2",
        "@2020-01-01 + 9223372036854775807 days",
        "@2020-01-01 + 9223372036854775807 years",
        "@2020 + 9223372036854775807 'ms'",
        "1 'm999999999' = 1 'm'",
        "1e999999999",
        "'abc'.substring(-5, 9223372036854775807)",
        "1.0 / 0",
        "1 div 0",
        "'x'.matches('(')",
    ] {
        let result = Expression::parse(src).and_then(|e| e.evaluate_json(&json!({})));
        if let Ok(items) = result {
            assert!(items.len() <= 1, "{src}: {items:?}");
        }
    }
}

#[test]
fn as_operator_filters_collections_for_search_parameters() {
    let observation = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "bp"},
        "component": [
            {"code": {"text": "sys"}, "valueQuantity": {"value": 120, "unit": "mmHg"}},
            {"code": {"text": "note"}, "valueString": "high"},
            {"code": {"text": "dia"}, "valueQuantity": {"value": 80, "unit": "mmHg"}}
        ]
    });
    let expression = Expression::parse("(Observation.component.value as Quantity).value").unwrap();
    assert_eq!(
        expression.evaluate_json(&observation).unwrap(),
        vec![json!(120), json!(80)]
    );
    let function = Expression::parse("Observation.component.value.as(Quantity).value").unwrap();
    assert_eq!(
        function.evaluate_json(&observation).unwrap(),
        vec![json!(120), json!(80)]
    );
    let is = Expression::parse("Observation.component.value is Quantity").unwrap();
    assert!(is.evaluate_json(&observation).is_err());
}

#[test]
fn evaluate_on_an_element_with_the_resource_in_the_environment() {
    let patient = json!({
        "resourceType": "Patient",
        "id": "p",
        "contact": [{"name": {"family": "Doe"}}, {"gender": "male"}]
    });
    let env = Environment::new().with_resource(&patient);
    let contacts = Expression::parse("Patient.contact").unwrap();
    let contacts = contacts.evaluate(&patient, &env).unwrap();
    assert_eq!(contacts[0].type_name(), "Patient.contact");
    // pat-1 of R4, on each contact.
    let pat_1 = Expression::parse(
        "name.exists() or telecom.exists() or address.exists() or organization.exists()",
    )
    .unwrap();
    let context_env = Environment::new().with_resource(&patient);
    let results: Vec<Vec<Value>> = contacts
        .iter()
        .map(|contact| {
            pat_1
                .evaluate_item(contact.clone(), &context_env)
                .unwrap()
                .iter()
                .map(Item::to_json)
                .collect()
        })
        .collect();
    assert_eq!(results, vec![vec![json!(true)], vec![json!(false)]]);
    let resource = Expression::parse("%resource.id").unwrap();
    assert_eq!(
        resource
            .evaluate_item(contacts[1].clone(), &context_env)
            .unwrap()[0]
            .to_json(),
        json!("p")
    );
}
